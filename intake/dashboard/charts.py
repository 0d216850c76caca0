"""Bar charts drawn as SVG on the server, to be inlined in a page under `style-src 'self'`.

No `style` attribute and no <style> element anywhere: colours and type come from classes that
intake.css styles (`.chart .killed` …), positions are plain attributes. Each chart is an image to
assistive technology (`role="img"`, its <title> and <desc>); the page puts a table of the same
figures beside it. Right to left, the whole drawing is mirrored (categories on the right, bars
growing leftwards) and the text runs right to left, so `text-anchor` keeps its logical meaning.

Every text is given already translated and every number already formatted: this module knows no
language.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

WIDTH = 640
LEGEND = 30  # the legend's band at the top


@dataclass(frozen=True)
class Series:
    css: str  # the class intake.css colours it by: "killed", "injured", "incidents"
    label: str


def nice_ticks(top: int, count: int = 4) -> list[int]:
    """Round tick values from 0 to at least `top` (0, 5, 10, 15 …)."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    step = max(1, int(math.ceil(step)))
    return list(range(0, int(math.ceil(top / step)) * step + 1, step))


class _Canvas:
    def __init__(self, height: int, rtl: bool) -> None:
        self.height, self.rtl, self.parts = height, rtl, []  # type: ignore[var-annotated]

    def x(self, x: float) -> float:
        return WIDTH - x if self.rtl else x

    def rect(self, x: float, y: float, w: float, h: float, css: str) -> None:
        left = self.x(x + w) if self.rtl else x
        self.parts.append(Markup('<rect class="{}" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}"/>').format(
            css, left, y, max(w, 0), h))

    def line(self, x1: float, y1: float, x2: float, y2: float, css: str) -> None:
        self.parts.append(Markup('<line class="{}" x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>').format(
            css, self.x(x1), y1, self.x(x2), y2))

    def text(self, x: float, y: float, text: str, anchor: str = "start", css: str = "label",
             rotate: bool = False) -> None:
        transform = Markup(' transform="rotate(-90 {:.1f} {:.1f})"').format(self.x(x), y) if rotate else ""
        self.parts.append(Markup('<text class="{}" x="{:.1f}" y="{:.1f}" text-anchor="{}"{}>{}</text>').format(
            css, self.x(x), y, anchor, transform, text))

    def legend(self, series: Sequence[Series], start: float) -> None:
        x = start
        for one in series:
            self.rect(x, 8, 12, 12, one.css)
            self.text(x + 16, 18, one.label)
            x += 26 + 8 * len(one.label)

    def svg(self, chart_id: str, title: str, description: str) -> Markup:
        direction = "rtl" if self.rtl else "ltr"
        head = Markup('<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{0}" role="img" '
                      'aria-labelledby="{0}-title {0}-desc" viewBox="0 0 {1} {2}" direction="{3}">'
                      '<title id="{0}-title">{4}</title><desc id="{0}-desc">{5}</desc>').format(
            chart_id, WIDTH, self.height, direction, title, description)
        return head + Markup("").join(self.parts) + Markup("</svg>")


def horizontal_bars(chart_id: str, title: str, description: str, categories: Sequence[str],
                    series: Sequence[Series], values: Sequence[Sequence[int]], value_label: str,
                    number: Callable[[int], str], rtl: bool = False) -> Markup:
    """One group of bars per category (a row each), one bar per series; values[i][j] is category
    i's value for series j."""
    label_width, bar, gap, axis = 190, 14, 12, 46
    plot_left, plot_right = label_width + 8, WIDTH - 40
    group = bar * len(series) + gap
    height = LEGEND + 10 + group * max(len(categories), 1) + axis
    canvas = _Canvas(height, rtl)
    canvas.legend(series, plot_left)
    top = max((v for row in values for v in row), default=0)
    ticks = nice_ticks(top)
    scale = (plot_right - plot_left) / ticks[-1]
    bottom = height - axis
    for tick in ticks:
        x = plot_left + tick * scale
        canvas.line(x, LEGEND + 6, x, bottom, "grid")
        canvas.text(x, bottom + 16, number(tick), "middle", "tick")
    canvas.text((plot_left + plot_right) / 2, height - 6, value_label, "middle", "axis")
    for i, (category, row) in enumerate(zip(categories, values, strict=True)):
        y = LEGEND + 10 + i * group
        shown = category if len(category) <= 28 else category[:27] + "…"
        canvas.text(label_width, y + bar * len(series) / 2 + 4, shown, "end")
        for j, (one, value) in enumerate(zip(series, row, strict=True)):
            canvas.rect(plot_left, y + j * bar, value * scale, bar - 2, one.css)
            canvas.text(plot_left + value * scale + 4, y + j * bar + bar - 4, number(value), "start", "value")
    canvas.line(plot_left, LEGEND + 6, plot_left, bottom, "axis")
    return canvas.svg(chart_id, title, description)


def vertical_bars(chart_id: str, title: str, description: str, categories: Sequence[str],
                  series: Sequence[Series], values: Sequence[Sequence[int]], value_label: str,
                  category_label: str, number: Callable[[int], str], rtl: bool = False) -> Markup:
    """One group of columns per category (months, left to right in time), one column per series."""
    height, left, right, bottom_band = 300, 64, 16, 62
    plot_top, plot_bottom = LEGEND + 10, height - bottom_band
    canvas = _Canvas(height, rtl)
    canvas.legend(series, left)
    top = max((v for row in values for v in row), default=0)
    ticks = nice_ticks(top)
    scale = (plot_bottom - plot_top) / ticks[-1]
    for tick in ticks:
        y = plot_bottom - tick * scale
        canvas.line(left, y, WIDTH - right, y, "grid")
        canvas.text(left - 6, y + 4, number(tick), "end", "tick")
    canvas.text(16, (plot_top + plot_bottom) / 2, value_label, "middle", "axis", rotate=True)
    canvas.text((left + WIDTH - right) / 2, height - 6, category_label, "middle", "axis")
    count = max(len(categories), 1)
    slot = (WIDTH - right - left) / count
    width = max(min((slot - 4) / len(series), 24), 1)
    every = max(1, math.ceil(count / 8))  # at most eight labels along the axis
    for i, (category, row) in enumerate(zip(categories, values, strict=True)):
        x = left + i * slot + (slot - width * len(series)) / 2
        for j, (one, value) in enumerate(zip(series, row, strict=True)):
            canvas.rect(x + j * width, plot_bottom - value * scale, width - 1, value * scale, one.css)
        if i % every == 0:
            canvas.text(left + i * slot + slot / 2, plot_bottom + 18, category, "middle", "tick")
    canvas.line(left, plot_bottom, WIDTH - right, plot_bottom, "axis")
    return canvas.svg(chart_id, title, description)
