"""Query-string parameters parsed for the views: a value a view cannot take is a 400, never a 500.

Numbers are decimal digits only (no sign, no spaces, no Unicode digits) and fit the database's
64-bit integers; dates are ISO dates (YYYY-MM-DD) that the calendar has.
"""

from __future__ import annotations

import datetime as dt
import re

from flask import Flask, abort, request

# The largest value of a PostgreSQL bigint (and of a SQLite integer).
MAX_BIGINT = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")


def in_bigint_range(value: int) -> bool:
    return -MAX_BIGINT - 1 <= value <= MAX_BIGINT


def int_arg(name: str, *, minimum: int = 0, maximum: int = MAX_BIGINT) -> int | None:
    """The integer in `?name=`, or None when absent or empty; 400 for anything else or out of range."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not _DIGITS.fullmatch(raw):
        abort(400)
    value = int(raw)
    if not minimum <= value <= maximum:
        abort(400)
    return value


def date_arg(name: str) -> dt.date | None:
    """The ISO date in `?name=`, or None when absent or empty; 400 for anything that is not one."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        abort(400)
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        abort(400)


def day_start(day: dt.date) -> dt.datetime:
    """Midnight UTC at the start of `day`."""
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def day_end(day: dt.date) -> dt.datetime | None:
    """Midnight UTC after `day` — an exclusive upper bound — or None after the calendar's last day
    (nothing is later: no bound)."""
    if day >= dt.date.max:
        return None
    return day_start(day + dt.timedelta(days=1))


# A public id as the app makes them (a UUID) — in a form's hidden field, anything else is no id of
# ours, refused before any lookup (PostgreSQL refuses a NUL in text with an error).
PUBLIC_ID = r"\A[0-9A-Za-z-]{1,64}\Z"


def register(app: Flask) -> None:
    @app.before_request
    def _refuse_nul() -> None:
        """A NUL character is in no id, name or date of ours, and PostgreSQL refuses it in text: a path
        with one names nothing (404), a query string with one is a bad request (400). Form fields are
        the views' own to answer (a field error keeps what was typed)."""
        if any("\x00" in str(value) for value in (request.view_args or {}).values()):
            abort(404)
        if any("\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)):
            abort(400)
