"""Numbers shown in pages, written as the reader's language writes them (Babel, CLDR): counts in the
queue's tabs, casualty figures, file sizes. "12 345" in Russian (a no-break space groups), "12.345" in
Azerbaijani, "2,5 МБ" in Ukrainian; Latin digits in every language served (CLDR's default numbering system
for plain `ar` is `latn`, see web/times.py).

Template filters `number` and `filesize`, and `megabytes` for the limits put into messages ("larger than
%(limit)s MB"). Outside a request (a worker, the command line) the English form is written.
"""

from __future__ import annotations

from babel import Locale
from babel.numbers import format_decimal
from babel.units import format_unit
from flask_babel import get_locale

from ..media import megabytes as plain_megabytes

MIB = 1024 * 1024


def _locale() -> Locale:
    return get_locale() or Locale.parse("en")


def number(value: int | float | None) -> str:
    """A count or figure as the reader's language writes it; nothing for no value."""
    if value is None:
        return ""
    return format_decimal(value, locale=_locale())


def megabytes(size: int) -> str:
    """A byte limit in megabytes as the reader's language writes it: 25, 0,5 (see media.megabytes)."""
    return format_decimal(float(plain_megabytes(size)), locale=_locale())


def filesize(size: int | None) -> str:
    """A file's size with its unit, both in the reader's language: "2,5 МБ", "340 kB", "12 بايت"."""
    if size is None:
        return ""
    if size >= MIB:
        value, unit = round(size / MIB, 1), "digital-megabyte"
    elif size >= 1024:
        value, unit = round(size / 1024), "digital-kilobyte"
    else:
        value, unit = size, "digital-byte"
    return format_unit(value, unit, length="short", locale=_locale())
