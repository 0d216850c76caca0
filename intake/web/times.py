"""Moments shown to people: always with their time zone named.

The server knows no reader's zone, so it writes UTC and says so: `<time datetime="…Z">2026-12-02
03:10 UTC</time>`. Where JavaScript runs, static/times.js rewrites each such element into the
browser's own zone, named as the browser names it ("2026-12-02 07:10 GMT+4"), with the UTC moment
kept in `datetime` and in the title. Without JavaScript, UTC named is still correct.

One filter, `localtime`, used by every template that shows a moment (My reports, the queue, the
review page, incidents, the audit log).
"""

from __future__ import annotations

import datetime as dt

from markupsafe import Markup


def utc_moment(value: dt.datetime) -> dt.datetime:
    """`value` in UTC; a naive value is taken as UTC already (how every timestamp is stored)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def localtime(value: dt.datetime | None, seconds: bool = False) -> Markup:
    """A `<time>` element for `value`: machine-readable UTC, shown as UTC with the zone named."""
    if value is None:
        return Markup("")
    moment = utc_moment(value)
    shown = moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    # Constant templates; Markup.format escapes every value put into them.
    if seconds:
        return Markup('<time class="moment" datetime="{stamp}" data-seconds="1">{shown} UTC</time>').format(
            stamp=stamp, shown=shown)
    return Markup('<time class="moment" datetime="{stamp}">{shown} UTC</time>').format(stamp=stamp, shown=shown)
