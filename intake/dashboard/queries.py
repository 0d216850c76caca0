"""The organisation's incidents as the dashboard shows them, and its filters.

Each open incident (merged ones are closed and point at the survivor) becomes an `IncidentSummary`
of publishable facts only: its title, earliest date, a coarse cell's centre in place of any point
(never a reported coordinate: those are sealed and not read here), its best grade, the civilians it
harmed and the items its reports name. Rejected reports do not count.

Civilians harmed: the verifiers' reconciled figure where there is one, else the largest any report
gives (each report's figure being the larger of its table and its list, as the queue reckons it),
less the people listed as combatants.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..anonymization import export_cell
from ..enums import CivilianStatus, Grade, Harm, ReportState
from ..incidents import best_grade
from ..models import Incident, IncidentLink, Report
from .items import Item, canonical, incident_items, name_key

UNGRADED = "ungraded"


@dataclass(frozen=True)
class IncidentSummary:
    public_id: str
    title: str
    occurred_on: dt.date
    country: str
    admin1: str | None
    admin2: str | None
    cell: str | None
    latitude: float | None  # the coarse cell's centre
    longitude: float | None
    grade: Grade | None  # the best grade its verified, signed-off reports support
    killed: int  # civilians
    injured: int
    reports: int
    items: tuple[Item, ...]

    @property
    def verified(self) -> bool:
        return self.grade is not None

    @property
    def month(self) -> dt.date:
        return self.occurred_on.replace(day=1)

    def weapon_systems(self) -> list[str]:
        """What delivered the harm: the platforms named, else the munitions, else nothing."""
        for kind in ("platform", "munition"):
            found = [i.designation for i in self.items if i.kind == kind]
            if found:
                return found
        return []

    def countries(self) -> set[str]:
        return {c for i in self.items for c in i.countries}

    def items_from(self, country: str) -> list[Item]:
        return [i for i in self.items if country in i.countries]


@dataclass(frozen=True)
class Filters:
    """What the dashboard's form narrows the incidents to (every part optional)."""

    weapon: str = ""
    manufacturer: str = ""
    country: str = ""
    grade: str = ""  # a Grade value, UNGRADED, or "" for any
    start: dt.date | None = None
    end: dt.date | None = None
    verified_only: bool = field(default=False)

    def query_args(self) -> dict[str, str]:
        """The filters as the form's query arguments (for links that keep them)."""
        args = {"weapon": self.weapon, "manufacturer": self.manufacturer, "country": self.country,
                "grade": self.grade, "from": self.start.isoformat() if self.start else "",
                "to": self.end.isoformat() if self.end else ""}
        return {k: v for k, v in args.items() if v}

    def admits(self, incident: IncidentSummary) -> bool:
        if self.verified_only and not incident.verified:
            return False
        if self.start and incident.occurred_on < self.start:
            return False
        if self.end and incident.occurred_on > self.end:
            return False
        if self.grade == UNGRADED and incident.grade is not None:
            return False
        if self.grade and self.grade != UNGRADED and (incident.grade is None or incident.grade.value != self.grade):
            return False
        if self.country and self.country.upper() not in incident.countries():
            return False
        if self.weapon:
            wanted = name_key(canonical(self.weapon))
            if not any(name_key(i.designation) == wanted for i in incident.items):
                return False
        if self.manufacturer:
            wanted = name_key(self.manufacturer)
            if not any(wanted and wanted in name_key(i.manufacturer) for i in incident.items):
                return False
        return True


def _civilians(reports: list[Report], incident: Incident, harm: Harm) -> int:
    combatants = max((sum(1 for v in r.victims if v.harm == harm and v.civilian_status == CivilianStatus.COMBATANT)
                      for r in reports), default=0)
    figure = getattr(incident, harm.value) if incident.reconciled else max((r.reckoned(harm) for r in reports),
                                                                            default=0)
    return max(int(figure or 0) - combatants, 0)


def _centre(cell: str | None, resolution: int) -> tuple[str | None, float | None, float | None]:
    coarse = export_cell(cell, resolution)
    if not coarse:
        return None, None, None
    import h3

    latitude, longitude = h3.cell_to_latlng(coarse)
    return coarse, round(latitude, 5), round(longitude, 5)


def summarise(incident: Incident, reports: list[Report], resolution: int) -> IncidentSummary:
    """One incident as the dashboard shows it, from its reports (earliest event first)."""
    first = reports[0]
    placed = next((r for r in reports if r.location_cell), first)
    cell, latitude, longitude = _centre(placed.location_cell, resolution)
    return IncidentSummary(
        public_id=incident.public_id, title=incident.title, occurred_on=first.occurred_on,
        country=placed.country, admin1=placed.admin1, admin2=placed.admin2,
        cell=cell, latitude=latitude, longitude=longitude, grade=best_grade(reports),
        killed=_civilians(reports, incident, Harm.KILLED), injured=_civilians(reports, incident, Harm.INJURED),
        reports=len(reports), items=tuple(incident_items(reports)),
    )


def incident_summaries(session: Session, organisation_id: int, resolution: int) -> list[IncidentSummary]:
    """Every open incident of the organisation with a report that counts, most recent event first.

    Two queries (the incidents, then their reports with components and people listed), scoped to
    the organisation in both."""
    incidents = {i.id: i for i in session.scalars(
        select(Incident).where(Incident.organisation_id == organisation_id, Incident.closed_at.is_(None),
                               Incident.merged_into_id.is_(None)))}
    if not incidents:
        return []
    by_incident: dict[int, list[Report]] = defaultdict(list)
    rows = session.execute(
        select(IncidentLink.incident_id, Report)
        .join(Report, Report.id == IncidentLink.report_id)
        .join(Incident, Incident.id == IncidentLink.incident_id)
        .options(selectinload(Report.components), selectinload(Report.victims), selectinload(Report.item_assessments))
        .where(Incident.organisation_id == organisation_id, Report.organisation_id == organisation_id,
               Incident.closed_at.is_(None), Report.state != ReportState.REJECTED)
        .order_by(Report.occurred_on, Report.received_at, Report.id)
    )
    for incident_id, report in rows:
        by_incident[incident_id].append(report)
    summaries = [summarise(incidents[i], reports, resolution) for i, reports in by_incident.items()]
    return sorted(summaries, key=lambda s: (s.occurred_on, s.public_id), reverse=True)


def filtered(summaries: Iterable[IncidentSummary], filters: Filters) -> list[IncidentSummary]:
    return [s for s in summaries if filters.admits(s)]


def choices(summaries: Iterable[IncidentSummary]) -> dict[str, list[Any]]:
    """What the form offers: the weapon systems, manufacturers and countries that occur."""
    weapons: dict[str, str] = {}
    makers: dict[str, str] = {}
    countries: set[str] = set()
    for summary in summaries:
        for item in summary.items:
            if item.kind in ("platform", "munition"):
                weapons.setdefault(name_key(item.designation), item.designation)
            if item.manufacturer:
                makers.setdefault(name_key(item.manufacturer), item.manufacturer)
            countries.update(item.countries)
    return {"weapons": sorted(weapons.values(), key=str.casefold),
            "manufacturers": sorted(makers.values(), key=str.casefold), "countries": sorted(countries)}
