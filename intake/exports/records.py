"""What an export reads: the organisation's exportable reports, streamed, as records of one shape.

A record is a dict of publishable values with the tier's policy already applied (policy.py); every
writer (formats.py) renders the same records. Reports are read `yield_per` rows at a time (a
server-side cursor on PostgreSQL) with their rows loaded per batch, and incidents are grouped from
one ordered stream of their reports, so an export of any size holds one batch in memory.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ..anonymization import export_cell
from ..enums import (
    AgeBand,
    CivilianStatus,
    DatePrecision,
    DeliveryPlatform,
    Grade,
    Harm,
    HarmGroup,
    ReportState,
    Risk,
    SourceReliability,
)
from ..models import Incident, IncidentLink, Report
from . import policy
from .policy import Of, Suppression, Tier

BATCH = 500


def _value(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "value") and not isinstance(value, (int, float)):
        return value.value
    return value


def _conditions(organisation_id: int, tier: Tier, state: ReportState) -> list[Any]:
    consent = policy.PUBLIC_CONSENT if tier == Tier.PUBLIC else policy.PARTNER_CONSENT
    return [Report.organisation_id == organisation_id, Report.state == state, Report.consent.in_(consent),
            Report.risk_to_source != Risk.HIGH]


def _loads(tier: Tier) -> list[Any]:
    loads = [selectinload(Report.components), selectinload(Report.objects_damaged), selectinload(Report.victims)]
    if tier == Tier.PARTNER:
        loads.append(selectinload(Report.attachments))
    return loads


def _cell(report: Report, tier: Tier, resolution: int) -> str | None:
    if tier == Tier.PUBLIC:
        resolution = min(resolution, policy.PUBLIC_CELL_RESOLUTION)
    return export_cell(report.location_cell, resolution)


def _place(report: Report, tier: Tier, resolution: int, stats: Suppression) -> dict[str, Any]:
    cell = _cell(report, tier, resolution)
    latitude = longitude = None
    if cell:
        import h3

        # The centre of the coarse cell, never the reported point.
        latitude, longitude = (round(c, 5) for c in h3.cell_to_latlng(cell))
    if tier == Tier.PUBLIC:
        stats.places_generalised += 1
    return {
        "country": report.country, "admin1": report.admin1, "admin2": report.admin2,
        "locality": report.locality if tier == Tier.PARTNER else None,
        "location_precision": report.location_precision.value, "cell": cell,
        "latitude": latitude, "longitude": longitude,
        "geo_precision": policy.geo_precision(report.location_precision, cell is not None, bool(report.admin2), tier),
    }


def _combatants(report: Report, harm: Harm) -> int:
    return sum(1 for v in report.victims if v.harm == harm and v.civilian_status == CivilianStatus.COMBATANT)


def _harm_fields(counts: dict[Harm, dict[str, int]], combatants: dict[Harm, int], tier: Tier,
                 stats: Suppression) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for harm in Harm:
        cells = counts[harm]
        total = sum(cells.values())
        civilians = max(0, total - combatants.get(harm, 0))
        if tier == Tier.PUBLIC:
            shown, total_shown = policy.suppress_counts(cells, stats)
            civilians_shown = policy.suppress_part(total, civilians, total_shown)
        else:
            shown, total_shown, civilians_shown = dict(cells), total, civilians
        for group in policy.GROUPS:
            out[f"{harm.value}_{group}"] = shown[group]
        out[f"{harm.value}_total"] = total_shown
        if harm != Harm.MISSING:
            out[f"civilians_{harm.value}"] = civilians_shown
    return out


def _date(occurred_on: dt.date, precision: DatePrecision, people: int, tier: Tier,
          stats: Suppression) -> dict[str, Any]:
    if tier == Tier.PUBLIC:
        shown, precision = policy.public_date(occurred_on, precision, people, stats)
    else:
        shown = occurred_on.isoformat()
    return {"occurred_on": shown, "year": occurred_on.year, "date_precision": precision.value,
            "time_precision": policy.time_precision(precision)}


def _components(reports: Iterable[Report]) -> tuple[str, str]:
    described: list[str] = []
    countries: list[str] = []
    for report in reports:
        for c in report.components:
            text = " / ".join(p for p in (c.kind.value, c.model, c.manufacturer, c.country_of_manufacture) if p)
            if text not in described:
                described.append(text)
            code = (c.country_of_manufacture or "").upper()
            if code and code not in countries:
                countries.append(code)
    return "; ".join(described), ";".join(countries)


def _victims(report: Report) -> str:
    # People as harm, sex, age band and civilian status only: an exact age helps identify someone.
    return "; ".join(
        ":".join((v.harm.value, v.sex.value,
                  (AgeBand.for_age(v.age) if v.age is not None else v.age_band or AgeBand.UNKNOWN).value,
                  v.civilian_status.value))
        for v in report.victims
    )


def _weapons(report: Report) -> dict[str, Any]:
    return {
        "delivery_platform": report.delivery_platform.value, "platform_model": report.platform_model,
        "munition_type": report.munition_type, "munition_model": report.munition_model,
        "remnants_found": report.remnants_found.value, "markings": report.markings,
        "identification_basis": _value(report.identification_basis),
        "identification_confidence": _value(report.identification_confidence),
    }


def report_record(report: Report, incident_id: str | None, tier: Tier, resolution: int,
                  stats: Suppression) -> dict[str, Any]:
    """One report as a record of the tier."""
    counts = {h: {g.value: report.count(h, g) for g in HarmGroup} for h in Harm}
    people = sum(report.total(h) for h in Harm)
    components, countries = _components([report])
    record: dict[str, Any] = {
        "id": report.public_id, "incident_id": incident_id, "reports": 1, "state": report.state.value,
        "received_on": report.received_at.date().isoformat() if tier == Tier.PARTNER else None,
        **_date(report.occurred_on, report.date_precision, people, tier, stats),
        # The hour only, even for partners (design/anonymization.md).
        "occurred_time": (report.occurred_time.replace(minute=0, second=0).isoformat()
                          if tier == Tier.PARTNER and report.occurred_time else None),
        **_place(report, tier, resolution, stats),
        "incident_type": report.incident_type.value,
        **_harm_fields(counts, {h: _combatants(report, h) for h in Harm}, tier, stats),
        "displaced": report.displaced if tier == Tier.PARTNER else policy.suppress_one(report.displaced),
        "objects_damaged": "; ".join(f"{o.kind.value}:{o.extent.value}" for o in report.objects_damaged),
        **_weapons(report), "components": components, "component_countries": countries,
        "source_type": report.source_type.value, "consent": report.consent.value,
        "grade": _value(report.grade), "source_reliability": _value(report.source_reliability),
        "victims": _victims(report) if tier == Tier.PARTNER else None,
        "attachments_sha256": " ".join(a.sha256 for a in report.attachments) if tier == Tier.PARTNER else None,
        "updated_at": report.state_changed_at,
    }
    for harm in Harm:
        record[f"{harm.value}_reconciled"] = None
    return record


def report_records(session: Session, organisation_id: int, tier: Tier, resolution: int, stats: Suppression,
                   state: ReportState = ReportState.VERIFIED) -> Iterator[dict[str, Any]]:
    """The organisation's exportable reports, oldest first, each with the incident it belongs to."""
    query = (
        select(Report, Incident.public_id)
        .outerjoin(IncidentLink, IncidentLink.report_id == Report.id)
        .outerjoin(Incident, Incident.id == IncidentLink.incident_id)
        .where(*_conditions(organisation_id, tier, state))
        .order_by(Report.received_at, Report.id)
        .options(*_loads(tier))
        .execution_options(yield_per=BATCH)
    )
    for report, incident_id in session.execute(query):
        stats.rows += 1
        yield report_record(report, incident_id, tier, resolution, stats)
        session.expunge(report)  # the identity map keeps nothing of the batches already written


def _best_reliability(reports: list[Report]) -> SourceReliability | None:
    found = [r.source_reliability for r in reports if r.source_reliability is not None]
    return min(found, key=lambda s: s.value) if found else None


def _best_grade(reports: list[Report]) -> Grade | None:
    grades = [r.grade for r in reports if r.grade is not None and not r.sign_off_pending]
    return max(grades, key=lambda g: g.rank) if grades else None


def incident_record(incident: Incident, linked: int, reports: list[Report], tier: Tier, resolution: int,
                    stats: Suppression) -> dict[str, Any]:
    """One incident as a record of the tier, from its exportable reports (earliest event first).

    Each harm's counts by group are those of the report that counts the most for that harm (one
    account, so that the groups add up to the total); the verifiers' reconciled figures go beside
    them, and only when every report of the incident is exportable (else they could count people
    from a report left out).
    """
    first = min(reports, key=lambda r: (r.occurred_on, r.received_at, r.id))
    placed = next((r for r in reports if r.location_cell), first)
    counts: dict[Harm, dict[str, int]] = {}
    combatants: dict[Harm, int] = {}
    for harm in Harm:
        source = max(reports, key=lambda r, h=harm: (r.total(h), -r.id))  # type: ignore[misc]
        counts[harm] = {g.value: source.count(harm, g) for g in HarmGroup}
        combatants[harm] = _combatants(source, harm)
    people = sum(sum(c.values()) for c in counts.values())
    kinds = Counter(r.incident_type for r in reports)
    named = next((r for r in reports if r.delivery_platform != DeliveryPlatform.UNKNOWN or r.munition_model), first)
    components, countries = _components(reports)
    displaced = max((r.displaced or 0 for r in reports), default=0) or None
    record: dict[str, Any] = {
        "id": incident.public_id, "incident_id": incident.public_id, "reports": len(reports),
        "state": ReportState.VERIFIED.value if all(r.state == ReportState.VERIFIED for r in reports) else None,
        "received_on": None, "occurred_time": None,
        **_date(first.occurred_on, first.date_precision, people, tier, stats),
        **_place(placed, tier, resolution, stats),
        "incident_type": kinds.most_common(1)[0][0].value,
        **_harm_fields(counts, combatants, tier, stats),
        "displaced": displaced if tier == Tier.PARTNER else policy.suppress_one(displaced),
        "objects_damaged": "; ".join(sorted({f"{o.kind.value}:{o.extent.value}" for r in reports
                                             for o in r.objects_damaged})),
        **_weapons(named), "components": components, "component_countries": countries,
        "source_type": ";".join(sorted({r.source_type.value for r in reports})),
        "consent": None,
        "grade": _value(_best_grade(reports)), "source_reliability": _value(_best_reliability(reports)),
        "victims": "; ".join(v for v in (_victims(r) for r in reports) if v) if tier == Tier.PARTNER else None,
        "attachments_sha256": (" ".join(a.sha256 for r in reports for a in r.attachments)
                               if tier == Tier.PARTNER else None),
        "updated_at": incident.updated_at,
    }
    complete = incident.reconciled and linked == len(reports)
    for harm, figure in ((Harm.KILLED, incident.killed), (Harm.INJURED, incident.injured),
                         (Harm.MISSING, incident.missing)):
        value = figure if complete else None
        record[f"{harm.value}_reconciled"] = value if tier == Tier.PARTNER else policy.suppress_one(value)
    return record


def incident_records(session: Session, organisation_id: int, tier: Tier, resolution: int, stats: Suppression,
                     state: ReportState = ReportState.VERIFIED) -> Iterator[dict[str, Any]]:
    """The organisation's open incidents that hold an exportable report, from one ordered stream."""
    linked = (select(func.count()).select_from(IncidentLink).where(IncidentLink.incident_id == Incident.id)
              .correlate(Incident).scalar_subquery())
    query = (
        select(Report, Incident, linked)
        .join(IncidentLink, IncidentLink.report_id == Report.id)
        .join(Incident, Incident.id == IncidentLink.incident_id)
        .where(*_conditions(organisation_id, tier, state), Incident.organisation_id == organisation_id,
               Incident.merged_into_id.is_(None))
        .order_by(Incident.created_at, Incident.id, Report.id)
        .options(*_loads(tier))
        .execution_options(yield_per=BATCH)
    )
    for _id, rows in groupby(session.execute(query), key=lambda row: row[1].id):
        batch = list(rows)
        incident, count = batch[0][1], batch[0][2]
        reports = [row[0] for row in batch]
        stats.rows += 1
        yield incident_record(incident, int(count), reports, tier, resolution, stats)
        for report in reports:
            session.expunge(report)
        session.expunge(incident)


def records(session: Session, organisation_id: int, of: Of, tier: Tier, resolution: int, stats: Suppression,
            state: ReportState = ReportState.VERIFIED) -> Iterator[dict[str, Any]]:
    source = report_records if of == Of.REPORTS else incident_records
    return source(session, organisation_id, tier, resolution, stats, state)
