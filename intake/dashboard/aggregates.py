"""The charts' figures, from the incidents the filters let through.

An incident counts once under each weapon system and each country of manufacture its items name
(a drone made in one country carrying a sensor made in another counts under both countries), so
the rows of one chart may add up to more than the incidents shown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from .items import name_key
from .queries import IncidentSummary

# Months drawn at most: a chart of decades is unreadable; the table below it holds them all.
MAX_MONTHS = 60


@dataclass(frozen=True)
class Row:
    key: str  # the weapon system's name, the month (YYYY-MM) or the country code
    incidents: int
    verified: int
    killed: int
    injured: int


def _rows(groups: dict[str, list[IncidentSummary]]) -> list[Row]:
    return [Row(key, len(found), sum(1 for s in found if s.verified), sum(s.killed for s in found),
                sum(s.injured for s in found)) for key, found in groups.items()]


def by_weapon_system(summaries: Iterable[IncidentSummary], unidentified: str) -> list[Row]:
    """Civilians killed and injured by weapon system, most harm first; `unidentified` names the rest."""
    groups: dict[str, list[IncidentSummary]] = {}
    names: dict[str, str] = {}
    for summary in summaries:
        systems = {name_key(s): s for s in summary.weapon_systems()} or {"": unidentified}
        for key, name in systems.items():
            names.setdefault(key, name)
            groups.setdefault(names[key], []).append(summary)
    return sorted(_rows(groups), key=lambda r: (-(r.killed + r.injured), -r.incidents, r.key.casefold()))


def by_month(summaries: Iterable[IncidentSummary]) -> list[Row]:
    """Civilians killed and injured by month of the event, every month from the first to the last."""
    groups: dict[dt.date, list[IncidentSummary]] = {}
    for summary in summaries:
        groups.setdefault(summary.month, []).append(summary)
    if not groups:
        return []
    months, month = [], min(groups)
    while month <= max(groups):
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return _rows({m.strftime("%Y-%m"): groups.get(m, []) for m in months})


def by_country(summaries: Iterable[IncidentSummary]) -> list[Row]:
    """Incidents by country of manufacture of the items found in them, most incidents first."""
    groups: dict[str, list[IncidentSummary]] = {}
    for summary in summaries:
        for country in summary.countries():
            groups.setdefault(country, []).append(summary)
    return sorted(_rows(groups), key=lambda r: (-r.incidents, r.key))


def month_of(key: str) -> dt.date:
    return dt.date(int(key[:4]), int(key[5:7]), 1)
