"""The one policy every export follows (design/evidence.md, Small counts; security.md, invariant 8).

Two tiers. **partner**: item-level detail for named partners (per-victim rows as harm, sex, age band
and civilian status; the locality; the day and the hour; a cell of `EXPORT_CELL_RESOLUTION`).
**public**: generalised first, then suppressed, then checked:

- no per-victim rows, no locality, no time of day, no date of receipt, no file hashes;
- the place is the second administrative level and an H3 cell of resolution 6 (about 36 km²;
  resolution 5 is about 253 km²), never a point of the report's own;
- the date is the month where a row counts 1–4 people harmed, in all or in one harm;
- every count of people keyed on place × period × sex × age group that is 1–4 reads "<5"; the cells
  beside it are suppressed too (zeros read "<5", larger counts read "x") until what a reader can
  work out from the total is 0 or at least 5 (complementary suppression);
- `check_public` then re-reads each released row as a reader would and blocks the export unless
  every class of people a reader can pin down holds 0 or at least K people (k-anonymity, k = 5).

Plain functions over plain values: the sources (records.py) call them, the writers never decide.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..enums import Consent, DatePrecision, Harm, HarmGroup, LocationPrecision

K = 5
BELOW = "<5"  # a hidden count between 0 and 4
WITHHELD = "x"  # a hidden count of 5 or more, hidden so that the small one beside it cannot be worked out
PUBLIC_CELL_RESOLUTION = 6  # H3: about 36.1 km² on average (resolution 5: about 252.9 km²)
PUBLIC_CONSENT = (Consent.ANONYMIZED, Consent.PUBLIC)
PARTNER_CONSENT = (Consent.ANONYMIZED, Consent.PARTNERS, Consent.PUBLIC)
GROUPS = [g.value for g in HarmGroup]
HARMS = [h.value for h in Harm]
# Fields a public row never carries (checked by `check_public`, not only left out by the sources).
PARTNER_ONLY = ("victims", "locality", "occurred_time", "received_on", "attachments_sha256", "updated_at",
                "item_details")


class Tier(str, enum.Enum):
    PUBLIC = "public"
    PARTNER = "partner"


class Of(str, enum.Enum):
    REPORTS = "reports"
    INCIDENTS = "incidents"


class ExportBlocked(Exception):
    """The k-anonymity check failed: nothing is released. The message names rows and rules, never values."""


@dataclass
class Suppression:
    """What the policy did, counted (never which values): the notes of the export."""

    rows: int = 0
    cells_below_5: int = 0
    cells_complementary: int = 0
    totals_below_5: int = 0
    dates_to_month: int = 0
    places_generalised: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"rows": self.rows, "cells_below_5": self.cells_below_5,
                "cells_complementary": self.cells_complementary, "totals_below_5": self.totals_below_5,
                "dates_to_month": self.dates_to_month, "places_generalised": self.places_generalised}


def suppress_counts(cells: Mapping[str, int], stats: Suppression | None = None) -> tuple[dict[str, Any], Any]:
    """One harm's counts by group, and their total, as a public row shows them.

    When any group holds 1–4 people, every group under K is hidden (a zero shown beside a hidden
    cell would tell which group the few are in), then the smallest shown groups join them until
    the hidden part — what a reader gets from the total minus the shown groups — is at least K.
    """
    total = sum(cells.values())
    hidden: set[str] = set()
    if any(0 < v < K for v in cells.values()):
        hidden = {g for g, v in cells.items() if v < K}
        while sum(cells[g] for g in hidden) < K and len(hidden) < len(cells):
            hidden.add(min((g for g in cells if g not in hidden), key=lambda g: (cells[g], g)))
    shown: dict[str, Any] = {}
    for group, value in cells.items():
        if group not in hidden:
            shown[group] = value
        elif 0 < value < K:
            shown[group] = BELOW
            if stats:
                stats.cells_below_5 += 1
        else:
            shown[group] = BELOW if value < K else WITHHELD
            if stats:
                stats.cells_complementary += 1
    if 0 < total < K:
        if stats:
            stats.totals_below_5 += 1
        return shown, BELOW
    return shown, total


def suppress_part(total: int, part: int, total_shown: Any) -> Any:
    """A part of a total (civilians among the killed) as a public row shows it: hidden when it, or
    what the shown total leaves beside it, is 1–4."""
    if total_shown in (BELOW, WITHHELD):
        return BELOW if part < K else WITHHELD
    if 0 < part < K or 0 < total - part < K:
        return BELOW if part < K else WITHHELD
    return part


def suppress_one(value: int | None) -> Any:
    """A lone count of people (displaced, a reconciled figure): "<5" when 1–4."""
    if value is None:
        return None
    return BELOW if 0 < value < K else value


def few_people(totals: list[int]) -> bool:
    """Whether a row counts 1–4 people harmed, in all or in one harm (killed, injured, missing)."""
    return 0 < sum(totals) < K or any(0 < t < K for t in totals)


def public_date(occurred_on: dt.date, precision: DatePrecision, few: bool,
                stats: Suppression | None = None) -> tuple[str, DatePrecision]:
    """The date a public row shows: the month where it counts 1–4 people harmed (`few_people`)."""
    if few or precision == DatePrecision.MONTH:
        if stats and precision != DatePrecision.MONTH:
            stats.dates_to_month += 1
        return occurred_on.strftime("%Y-%m"), DatePrecision.MONTH
    return occurred_on.isoformat(), precision


def time_precision(precision: DatePrecision) -> int:
    """ACLED's time_precision: 1 the day, 2 the week or a similar period, 3 the month."""
    return {DatePrecision.EXACT: 1, DatePrecision.WEEK: 2, DatePrecision.MONTH: 3}[precision]


def geo_precision(precision: LocationPrecision, has_cell: bool, has_admin2: bool, tier: Tier) -> int:
    """ACLED's geo_precision: 1 the town with coordinates, 2 part of a region or near a town, 3 a
    larger region. A public row's place is a district or a 36 km² cell: never better than 2."""
    if has_cell and precision != LocationPrecision.DISTRICT:
        code = 1
    elif has_cell or has_admin2:
        code = 2
    else:
        code = 3
    return max(code, 2) if tier == Tier.PUBLIC else code


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_public(row: Mapping[str, Any], index: int) -> list[str]:
    """The k-anonymity check of one released row, read as a reader would read it (k = K).

    Key variables: place × period × harm × group. A reader learns a class's size from a shown count,
    or from a shown total minus the shown counts beside it; both must be 0 or at least K. A row
    whose people may number 1–4 must give the month only; no field of the partner tier may appear.
    Answers the problems (row number and rule, no values)."""
    problems = [f"row {index}: {name} is not released in the public tier" for name in PARTNER_ONLY
                if row.get(name) not in (None, "")]
    few = False
    for harm in HARMS:
        cells = [row.get(f"{harm}_{g}") for g in GROUPS]
        total = row.get(f"{harm}_total")
        for group, value in zip(GROUPS, cells, strict=True):
            n = _number(value)
            if n is not None and 0 < n < K:
                problems.append(f"row {index}: {harm} {group} shows a count under {K}")
        if (t := _number(total)) is not None:
            rest = t - sum(_number(v) or 0 for v in cells)
            if any(_number(v) is None for v in cells) and 0 < rest < K:
                problems.append(f"row {index}: {harm} total minus the shown groups gives a count under {K}")
            if 0 < t < K:
                problems.append(f"row {index}: {harm} total is under {K}")
            few = few or 0 < t < K
        else:
            few = True
        part = _number(row.get(f"civilians_{harm}"))
        if part is not None and ((0 < part < K) or ((t := _number(total)) is not None and 0 < t - part < K)):
            problems.append(f"row {index}: civilians {harm} gives a count under {K}")
    people = [_number(row.get(f"{h}_total")) for h in HARMS]
    if all(p is not None for p in people) and 0 < sum(p or 0 for p in people) < K:
        few = True
    if few and len(str(row.get("occurred_on") or "")) != 7:
        problems.append(f"row {index}: few people harmed, but the date is finer than the month")
    cell = row.get("cell")
    if cell:
        import h3

        if h3.get_resolution(cell) > PUBLIC_CELL_RESOLUTION:
            problems.append(f"row {index}: the cell is finer than resolution {PUBLIC_CELL_RESOLUTION}")
    for name in ("displaced", *(f"{h}_reconciled" for h in HARMS)):
        n = _number(row.get(name))
        if n is not None and 0 < n < K:
            problems.append(f"row {index}: {name} shows a count under {K}")
    return problems


RULES = [
    "Only verified reports; reports whose source is at high risk, recorded for internal use only, or (public tier) "
    "shared with named partners only are left out.",
    "Public tier: no per-victim rows, no locality, no time of day, no date of receipt, no file hashes.",
    f"Public tier: place as the second administrative level and an H3 cell of resolution {PUBLIC_CELL_RESOLUTION} "
    "(about 36 km²), given as the cell's outline and its centre; never the reported point.",
    "Public tier: the date as the month (time_precision 3) where a row counts 1-4 people harmed, in all or in "
    "one of killed, injured and missing.",
    "Public tier: counts of people by place, period, sex and age group of 1-4 read \"<5\"; the counts beside them "
    "are hidden too (\"<5\" for 0-4, \"x\" for 5 or more) until what the total leaves is 0 or at least 5.",
    f"Public tier: a k-anonymity check (k = {K}) over place, period, harm, sex and age group blocks the export when "
    "any class of people a reader can work out holds 1-4 people.",
    "Groups: men and women are adults (18 and over), boys and girls are children (0-17).",
    "Every text cell that a spreadsheet would run as a formula starts with an apostrophe.",
]
