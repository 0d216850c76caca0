"""Moments shown to people: always with their time zone named, written as the reader's language writes
dates and times.

The server knows no reader's zone, so it writes UTC and says so: `<time datetime="2026-12-02T03:10:42Z">`
holding "Dec 2, 2026, 3:10 AM UTC" in English, "2 дек. 2026 г., 03:10 UTC" in Russian, "02‏/12‏/2026، 3:10 ص
UTC" in Arabic — CLDR's medium date and short time (medium, with seconds, for the audit log) joined as the
language joins them, through Babel. Where JavaScript runs, static/times.js rewrites each such element into
the browser's own zone with `Intl.DateTimeFormat` in the page's language, named as the browser names it
("Dec 2, 2026, 7:10 AM GMT+4"), with the UTC moment kept in `datetime` and in the title. Without
JavaScript, UTC named is still correct.

The calendar is the Gregorian one in every language (Babel formats no other; times.js asks for it), as
evidence dates must read the same to everyone. Digits are CLDR's default for the language: Latin digits
for `ar` too, since CLDR's default numbering system for plain `ar` is `latn` (the Arabic-Indic digits are
the default only for some regional variants, such as ar_EG and ar_SA, which this installation does not
serve).

One filter, `localtime`, used by every template that shows a moment (My reports, the queue, the
review page, incidents, the audit log). Dates without a time use Flask-Babel's `dateformat` filter.
"""

from __future__ import annotations

import datetime as dt

from babel import Locale
from babel.dates import format_datetime
from flask_babel import get_locale
from markupsafe import Markup


def utc_moment(value: dt.datetime) -> dt.datetime:
    """`value` in UTC; a naive value is taken as UTC already (how every timestamp is stored)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def moment_pattern(locale: Locale, seconds: bool = False) -> str:
    """The language's medium date and short (or medium) time, joined as it joins them, the zone after the
    time: "MMM d, y, h:mm a z" in English, "d MMM y 'г'., HH:mm z" in Russian."""
    date = locale.date_formats["medium"].pattern
    time = locale.time_formats["medium" if seconds else "short"].pattern
    joined = str(locale.datetime_formats.get("medium", "{1} {0}"))
    return joined.replace("{1}", date).replace("{0}", f"{time} z")


def moment_text(value: dt.datetime, seconds: bool = False, locale: Locale | str | None = None) -> str:
    """`value` as the language writes it, in UTC with the zone named ("UTC" in every language's data)."""
    chosen = Locale.parse(locale) if locale else (get_locale() or Locale.parse("en"))
    return format_datetime(utc_moment(value), moment_pattern(chosen, seconds), tzinfo=dt.UTC, locale=chosen)


def localtime(value: dt.datetime | None, seconds: bool = False) -> Markup:
    """A `<time>` element for `value`: machine-readable UTC, shown as UTC with the zone named."""
    if value is None:
        return Markup("")
    moment = utc_moment(value)
    shown = moment_text(moment, seconds)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    # Constant templates; Markup.format escapes every value put into them.
    if seconds:
        return Markup('<time class="moment" datetime="{stamp}" data-seconds="1">{shown}</time>').format(
            stamp=stamp, shown=shown)
    return Markup('<time class="moment" datetime="{stamp}">{shown}</time>').format(stamp=stamp, shown=shown)
