"""The pack's PDF dossier, drawn with ReportLab (pure Python), sections in the design's order
(design/evidence.md, The pack): claim; method and definitions; item identification; manufacture and
transfers; incidents, with a map; corroboration; chain of custody; trace requests and replies; open
questions and contrary evidence; annex index.

The dossier is written in English, the language of the authorities and the sources it is made for,
whatever the interface language of whoever asked for it. It is built with `invariant=1` (no
creation time, a fixed document id) and holds no build time, so the same pack gives the same PDF.
The map's outlines are Natural Earth's at 1:110m, from the vendored npm package world-atlas (its
TopoJSON decoded here); the points are the pack's own — cells' centres, or in the restricted tier
the reported points.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..enums import Grade, Harm

if TYPE_CHECKING:
    from .build import Included, Pack

WORLD_ATLAS = ("static", "vendor", "world-atlas", "countries-110m.json")
CUSTODY_ROWS = 80


# ---- Natural Earth outlines from TopoJSON ------------------------------------------------------


@functools.cache
def world_outlines() -> tuple[tuple[tuple[float, float], ...], ...]:
    """Every country's rings as (longitude, latitude) points, decoded from the TopoJSON topology
    (quantized, delta-encoded arcs; a negative arc index ~i is arc i reversed)."""
    topology = json.loads(resources.files("intake").joinpath(*WORLD_ATLAS).read_text(encoding="utf-8"))
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)

    def ring(indexes: list[int]) -> tuple[tuple[float, float], ...]:
        points: list[tuple[float, float]] = []
        for index in indexes:
            part = arcs[index] if index >= 0 else list(reversed(arcs[~index]))
            points.extend(part[1:] if points else part)
        return tuple(points)

    rings: list[tuple[tuple[float, float], ...]] = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        if geometry.get("type") == "Polygon":
            polygons = [geometry["arcs"]]
        elif geometry.get("type") == "MultiPolygon":
            polygons = geometry["arcs"]
        else:
            continue
        for polygon in polygons:
            rings.extend(ring(r) for r in polygon)
    return tuple(rings)


def incident_map(points: list[tuple[float, float, str]], width: float, height: float) -> Any:
    """A drawing of the outlines around the points (equirectangular), each point numbered."""
    from reportlab.graphics.shapes import Circle, Drawing, Polygon, Rect, String
    from reportlab.lib import colors

    drawing = Drawing(width, height)
    drawing.add(Rect(0, 0, width, height, fillColor=colors.HexColor("#eef4f8"), strokeColor=colors.grey))
    if points:
        lons, lats = [p[0] for p in points], [p[1] for p in points]
        span = max(8.0, max(lons) - min(lons), (max(lats) - min(lats)) * width / height) * 1.4
        cx, cy = (max(lons) + min(lons)) / 2, (max(lats) + min(lats)) / 2
    else:
        span, cx, cy = 360.0, 0.0, 0.0
    west, east = cx - span / 2, cx + span / 2
    vspan = span * height / width
    south, north = cy - vspan / 2, cy + vspan / 2

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return (lon - west) / (east - west) * width, (lat - south) / (north - south) * height

    for outline in world_outlines():
        xs, ys = [p[0] for p in outline], [p[1] for p in outline]
        if max(xs) < west or min(xs) > east or max(ys) < south or min(ys) > north:
            continue
        flat: list[float] = []
        for lon, lat in outline:
            x, y = xy(lon, lat)
            flat += [round(min(max(x, -2), width + 2), 2), round(min(max(y, -2), height + 2), 2)]
        drawing.add(Polygon(flat, fillColor=colors.HexColor("#f7f3e8"), strokeColor=colors.HexColor("#8c8c8c"),
                            strokeWidth=0.4))
    merged: dict[tuple[float, float], list[str]] = {}
    for lon, lat, label in points:  # incidents in one cell (or at one point) share a dot
        merged.setdefault((round(lon, 3), round(lat, 3)), []).append(label)
    for (lon, lat), labels in sorted(merged.items()):
        label = ", ".join(labels)
        x, y = xy(lon, lat)
        drawing.add(Circle(x, y, 4, fillColor=colors.HexColor("#b2182b"), strokeColor=colors.white, strokeWidth=0.8))
        drawing.add(String(x + 6, y + 3, label, fontName="Helvetica-Bold", fontSize=7))
    drawing.add(Rect(0, 0, width, height, fillColor=None, strokeColor=colors.grey))
    drawing.add(String(4, 4, "Outlines: Natural Earth 1:110m (world-atlas 2.0.2). Equirectangular.",
                       fontName="Helvetica", fontSize=6, fillColor=colors.grey))
    return drawing


# ---- the document --------------------------------------------------------------------------------


def _styles() -> dict[str, Any]:
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    sheet = getSampleStyleSheet()
    return {"title": sheet["Title"], "h1": sheet["Heading1"], "h2": sheet["Heading2"], "body": sheet["BodyText"],
            "small": ParagraphStyle("small", parent=sheet["BodyText"], fontSize=7.5, leading=9.5),
            "cell": ParagraphStyle("cell", parent=sheet["BodyText"], fontSize=7, leading=8.5)}


def _esc(value: Any) -> str:
    from xml.sax.saxutils import escape

    return escape("" if value is None else str(value))


def _table(rows: list[list[Any]], widths: list[float], style: Any) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    body = [[Paragraph(_esc(c), style) for c in row] for row in rows]
    table = Table(body, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6e6e6")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def _range(values: Iterable[int]) -> str:
    found = list(values)
    if not found:
        return "—"
    low, high = min(found), max(found)
    return str(low) if low == high else f"{low}–{high}"


def _people(item: Included, record: dict[str, Any], public: bool, harm: Harm) -> str:
    """Children / women / men for one harm: the public record's (suppressed) figures, else the
    lowest and highest the reports give."""
    if public:
        def value(*groups: str) -> str:
            shown = [record.get(f"{harm.value}_{g}") for g in groups]
            if all(isinstance(v, int) for v in shown):
                return str(sum(shown))  # type: ignore[arg-type]
            return "<5" if all(v in ("<5", 0) for v in shown) else "x"
        return (f"children {value('boys', 'girls')}, women {value('women')}, men {value('men')}; "
                f"total {record.get(f'{harm.value}_total')}")
    reports = item.reports

    def span(*names: str) -> str:
        return _range(sum(getattr(r, f"{harm.value}_{n}") or 0 for n in names) for r in reports)
    return (f"children {span('boys', 'girls')}, women {span('women')}, men {span('men')}; "
            f"total {_range(r.total(harm) for r in reports)}")


def _claim(pack: Pack) -> str:
    countries = sorted({it.country for i in pack.incidents for it in i.matched if it.country})
    killed = [r.get("killed_total") for r in pack.records]
    known = [k for k in killed if isinstance(k, int)]
    total = f"at least {sum(known)}" if known and len(known) == len(killed) else "a number (partly suppressed) of"
    return (f"{pack.organisation} documented {len(pack.incidents)} verified incident(s) of civilian harm in which an "
            f"item matching the selector <b>{_esc(pack.spec.selector.label)}</b> "
            f"({_esc(pack.spec.selector.kind.value)}) "
            f"was identified, with {total} people killed according to the reports. Countries of manufacture of the "
            f"matching items: {_esc(', '.join(countries) or 'not known')}. Every incident's grade was given by one "
            f"person and signed off by another; the roles are named below.")


def write_dossier(pack: Pack, target: Path, data: Path) -> None:
    """Write the dossier PDF of `pack` to `target` (`data`: the pack's payload folder, for photos)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import Image, KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer

    from .build import PackTier, generator

    s = _styles()
    public = pack.spec.tier == PackTier.PUBLIC
    width = A4[0] - 36 * mm
    story: list[Any] = []
    P = Paragraph  # noqa: N806

    def heading(text: str) -> None:
        story.append(P(_esc(text), s["h1"]))

    story.append(P(f"Evidence pack: {_esc(pack.spec.selector.label)}", s["title"]))
    story.append(P(f"{_esc(pack.organisation)} · tier: <b>{pack.spec.tier.value}</b> · "
                   f"{_esc(pack.spec.selector.describe())} · data as of {pack.data_as_of} · {_esc(generator())}",
                   s["small"]))
    story.append(Spacer(1, 4 * mm))

    heading("1. Claim")
    story.append(P(_claim(pack), s["body"]))

    heading("2. Method and definitions")
    story.append(P("Grades (after the scale used by casualty monitors): <b>confirmed</b> — harm and "
                   "attribution established by two or more independent credible sources, or an admission by the "
                   "party responsible; <b>fair</b> — two or more credible sources, at least one independent; "
                   "<b>weak</b> — a single source, or sources that disagree on key facts; <b>contested</b> — "
                   "credible reports disputed by other credible sources; <b>discounted</b> — found not credible, "
                   "or the harm was not to civilians. Source reliability A (reliable) to F (cannot be judged).",
                   s["body"]))
    story.append(P("Sign-off: only incidents whose grade was given by one person and signed off by a second, "
                   "different person are in this pack. Date precision: exact (the day), week, month. Location "
                   "precision: as reported; places are released as the district and an H3 cell, in the restricted "
                   "tier also as the reported point.", s["body"]))
    story.append(P("Suppression and what this pack leaves out:", s["body"]))
    for line in pack.suppressed:
        story.append(P("• " + _esc(line), s["small"]))
    for rule in (pack_rules(pack)):
        story.append(P("• " + _esc(rule), s["small"]))

    heading("3. Item identification")
    rows = [["Item", "Role", "As reported", "As assessed", "Basis", "Confidence"]]
    for it in pack.items:
        reported = " / ".join(p for p in (it.designation_as_reported, it.manufacturer_as_reported,
                                          it.country_as_reported) if p)
        assessed = " / ".join(p for p in (it.designation_as_assessed, it.manufacturer_as_assessed,
                                          it.country_as_assessed) if p)
        if assessed and it.assessed_by:
            assessed += f" ({'by a verifier' if it.assessed_by == 'verifier' else 'catalogue'})"
        rows.append([it.item_id.split(":", 1)[1] + " of " + it.report_id[:8], it.role + (f" ({it.kind})" if it.kind
                                                                                        else ""),
                     reported or "—", assessed or "—", it.identification_basis or "—",
                     it.identification_confidence or "—"])
    story.append(_table(rows, [w * width for w in (0.16, 0.16, 0.22, 0.22, 0.14, 0.1)], s["cell"]))
    story.append(Spacer(1, 3 * mm))
    story.append(P("Markings, verbatim:", s["body"]))
    if not pack.markings:
        story.append(P("No markings were transcribed.", s["small"]))
    for mark in pack.markings:
        codes = "; ".join(f"{name} {value}" for name, value in (
            ("part", mark.part_number), ("serial", mark.serial_number), ("lot", mark.lot_number),
            ("CAGE", mark.cage_code), ("made", mark.date_of_manufacture)) if value)
        story.append(P(f"<font face='Courier'>{_esc(mark.markings_verbatim or '—')}</font> — "
                       f"{_esc(mark.item_id.split(':', 1)[-1])} of report {_esc(mark.report_id[:8])}"
                       + (f" ({_esc(codes)})" if codes else ""), s["small"]))
        for sha in mark.photos_sha256.split()[:2]:
            found = sorted((data / "media" / "working").glob(f"{sha}.*"))
            if found:
                try:
                    # From its bytes, not its path: ReportLab names an image after its path.
                    picture = Image(io.BytesIO(found[0].read_bytes()))
                    ratio = picture.imageHeight / max(1, picture.imageWidth)
                    picture.drawWidth, picture.drawHeight = 60 * mm, 60 * mm * ratio
                    story.append(KeepTogether([picture, P(f"Working copy {sha[:16]}… (media/working)",
                                                          s["small"])]))
                except Exception:  # noqa: BLE001  (a picture ReportLab cannot read is named, not drawn)
                    story.append(P(f"Working copy {sha[:16]}… (not drawn)", s["small"]))

    heading("4. Manufacture and transfers")
    makers = sorted({(it.manufacturer, it.country, it.country_basis) for it in pack.items if it.manufacturer})
    rows = [["Manufacturer", "Country of manufacture", "Basis"]] + [[m, c or "—", b or "—"] for m, c, b in makers]
    story.append(_table(rows, [0.45 * width, 0.3 * width, 0.25 * width], s["cell"]))
    story.append(Spacer(1, 2 * mm))
    if pack.transfers:
        rows = [["Item", "From → to", "End user", "Qty", "Date", "Source"]] + [
            [t.values["item"], f"{t.values['exporting_state']} → {t.values['importing_state']}",
             t.values["authorised_end_user"], t.values["quantity"] or "—", t.values["date"], t.values["source"]]
            for t in pack.transfers]
        story.append(_table(rows, [0.16 * width, 0.14 * width, 0.16 * width, 0.07 * width, 0.1 * width,
                                   0.37 * width], s["cell"]))
        story.append(Spacer(1, 2 * mm))
        reasons = [t.values["reasoning"] for t in pack.transfers if t.values.get("diversion_indicator") == "yes"]
        if reasons:
            story.append(P("<b>Diversion indicators</b>", s["body"]))
            for reason in reasons:
                for line in reason.split(" | "):
                    story.append(P("• " + _esc(line), s["body"]))
        else:
            story.append(P("No item's user in the conflict differs from the importing state or the end user's "
                           "state of a matching transfer: no diversion indicator.", s["body"]))
    else:
        story.append(P("No public transfer record (permit list, arms-sale notice, ATT/UNROCA/EU report line) is "
                       "recorded for these items, so no diversion indicator can be shown. transfers.csv has the "
                       "columns such records fill.", s["body"]))

    heading("5. Incidents")
    points = []
    for n, (item, record) in enumerate(zip(pack.incidents, pack.records, strict=True), 1):
        exact = [p for p in pack.exact_places if p["incident_id"] == item.incident.public_id
                 and p["latitude"] is not None and p["longitude"] is not None]
        if exact:
            points.append((float(exact[0]["longitude"]), float(exact[0]["latitude"]), str(n)))
        elif record.get("latitude") is not None and record.get("longitude") is not None:
            points.append((float(record["longitude"]), float(record["latitude"]), str(n)))
    story.append(incident_map(points, width - 12, (width - 12) * 0.55))
    story.append(P("Points: " + ("the reported points (restricted tier)." if pack.exact_places else
                                 "the centre of each incident's coarse cell, never a reported point."), s["small"]))
    for n, (item, record) in enumerate(zip(pack.incidents, pack.records, strict=True), 1):
        place = ", ".join(str(p) for p in (record.get("locality"), record.get("admin2"), record.get("admin1"),
                                           record.get("country")) if p)
        signed = "; ".join(f"report {sg.report.public_id[:8]}: graded {sg.assessment.grade.value} by a "
                           f"{sg.graded_by}, signed off by a {sg.signed_off_by}" for sg in item.signed)
        first = item.reports[0]
        checks = [name for name, done in (("location verified", first.location_verified),
                                          ("time verified", first.time_verified),
                                          ("media authentic", first.media_authentic),
                                          ("weapon identification checked", first.weapon_checked)) if done]
        matching = "; ".join(sorted({m.designation_as_assessed or m.designation_as_reported for m in item.matched}))
        grade = record.get("grade") or ""
        label = str(Grade(grade).value) if grade else "—"
        block = [P(f"Incident {n} — {_esc(item.incident.public_id)}", s["h2"]),
                 P(f"<b>Date</b> {_esc(record.get('occurred_on'))} (precision {_esc(record.get('date_precision'))}); "
                   f"<b>place</b> {_esc(place)} (cell {_esc(record.get('cell') or '—')}, geo precision "
                   f"{_esc(record.get('geo_precision'))}); <b>type</b> {_esc(record.get('incident_type'))}; "
                   f"<b>attribution</b>: not recorded in this system.", s["body"]),
                 P(f"<b>Killed</b>: {_esc(_people(item, record, public, Harm.KILLED))}. <b>Injured</b>: "
                   f"{_esc(_people(item, record, public, Harm.INJURED))}. <b>Damage</b>: "
                   f"{_esc(record.get('objects_damaged') or 'none recorded')}.", s["body"]),
                 P(f"<b>Grade</b> {_esc(label)}, source reliability {_esc(record.get('source_reliability') or '—')}; "
                   f"rationale: {_esc(', '.join(checks) or 'checklist not completed')}, "
                   f"{first.independent_sources} independent source(s). <b>Sign-offs</b>: {_esc(signed)}.", s["body"]),
                 P(f"<b>Items matching the selector</b>: {_esc(matching)}. Reports: {len(item.reports)}.",
                   s["body"])]
        story.append(KeepTogether(block))

    heading("6. Corroboration")
    rows = [["Incident", "Report", "Source", "Reliability", "Independent", "Checks", "Files"]]
    for n, item in enumerate(pack.incidents, 1):
        for r in item.reports:
            done = sum((r.location_verified, r.time_verified, r.media_authentic, r.weapon_checked))
            rows.append([str(n), r.public_id[:8], r.source_type.value,
                         r.source_reliability.value if r.source_reliability else "—", str(r.independent_sources),
                         f"{done}/4", str(len([m for m in pack.media if m["report_id"] == r.public_id]))])
    story.append(_table(rows, [w * width for w in (0.1, 0.16, 0.2, 0.14, 0.14, 0.12, 0.14)], s["cell"]))

    heading("7. Chain of custody")
    story.append(P("Every event of every item, from the audit log and the records: what happened, to what, by "
                   "which role, when, with which tool and SHA-256. The full, hash-chained log is custody.jsonl; its "
                   "last line is this pack's own export. <font face='Courier'>intake pack verify</font> checks it.",
                   s["body"]))
    from .custody import Event

    ordered = sorted(pack.custody_events, key=Event.order)
    rows = [["Event", "Object", "Role", "Time", "SHA-256 (after)", "Tool"]]
    for event in ordered[:CUSTODY_ROWS]:
        when = event.time.strftime("%Y-%m") if public else event.time.strftime("%Y-%m-%d %H:%M")
        rows.append([event.event, event.object[:22], event.actor_role or "—", when,
                     (event.sha256_after or "—")[:16], event.tool or "—"])
    story.append(_table(rows, [w * width for w in (0.12, 0.22, 0.12, 0.14, 0.18, 0.22)], s["cell"]))
    if len(ordered) > CUSTODY_ROWS:
        story.append(P(f"… and {len(ordered) - CUSTODY_ROWS} more events in custody.jsonl.", s["small"]))

    heading("8. Trace requests and replies")
    story.append(P("No trace request to a manufacturer is recorded in this system. Practice (Conflict Armament "
                   "Research): send the manufacturer every marking, photo and context; 28 days to answer; then a "
                   "summary to correct, 28 days more.", s["body"]))

    heading("9. Open questions and contrary evidence")
    questions = []
    contested = [r for r in pack.records if r.get("grade") in ("contested", "weak")]
    if contested:
        questions.append(f"{len(contested)} incident(s) graded weak or contested: their sources disagree on key facts.")
    unconfirmed = [it for it in pack.items if it.identification_confidence in ("possible", "")]
    if unconfirmed:
        questions.append(f"{len(unconfirmed)} item(s) identified with 'possible' confidence or none recorded.")
    if not pack.transfers:
        questions.append("No transfer record: who authorised the export of the items, and to which end user?")
    if pack.left_out.get("without_two_sign_offs"):
        questions.append(f"{pack.left_out['without_two_sign_offs']} matching incident(s) are not in this pack: their "
                         "grade awaits a second sign-off.")
    for q in questions or ["None recorded."]:
        story.append(P("• " + _esc(q), s["body"]))

    story.append(PageBreak())
    heading("10. Annex index")
    annexes = [
        ("dossier.pdf", "this document"), ("items.csv", "every item, as reported and as assessed"),
        ("markings.csv", "markings verbatim, with the photos that show them"),
        ("incidents.csv", "the incidents, the exports' columns"), ("incidents.hxl.csv", "the same, HXL-tagged"),
        ("incidents.geojson", "the incidents' cells (RFC 7946)"),
        ("casualties_aggregate.csv", "killed and injured by month and country"),
        ("sources.csv", "sources and checks per report"), ("grading.csv", "every grading and sign-off, by role"),
        ("transfers.csv", "public transfer records"), ("custody.jsonl", "the chain of custody, hash-chained"),
        ("media/index.csv", "working copies, named by their SHA-256, with their originals' hashes"),
        ("media/working/", f"{len([m for m in pack.media if m['working_file']])} working copies"),
    ]
    if pack.spec.tier == PackTier.RESTRICTED:
        annexes += [("media/originals/", "the originals (restricted tier)"),
                    ("places_exact.csv", "the reported points (restricted tier)")]
    story.append(_table([["File (under data/)", "What it holds"], *[[a, b] for a, b in annexes]],
                        [0.35 * width, 0.65 * width], s["cell"]))

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(18 * mm, 10 * mm, f"{pack.organisation} · {pack.spec.selector.label} · "
                                           f"{pack.spec.tier.value} tier")
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, f"page {doc.page}")
        canvas.restoreState()

    document = SimpleDocTemplate(str(target), pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm,
                                 topMargin=16 * mm, bottomMargin=16 * mm, invariant=1,
                                 title=f"Evidence pack: {pack.spec.selector.label}", author=pack.organisation,
                                 creator=generator(), producer="ReportLab", subject=pack.spec.selector.describe())
    document.build(story, onFirstPage=footer, onLaterPages=footer)


def pack_rules(pack: Pack) -> list[str]:
    """The exports' rules that apply to the pack's tier."""
    from ..exports.policy import RULES
    from .build import PackTier

    if pack.spec.tier == PackTier.PUBLIC:
        return RULES
    return [RULES[0], RULES[-2], RULES[-1]]
