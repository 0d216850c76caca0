"""What an export reads: the organisation's exportable reports, streamed, as records of one shape.

A record is a dict of publishable values with the tier's policy already applied (policy.py); every
writer (formats.py) renders the same records. Reports are read as plain rows of their publishable
columns (no ORM objects, no identity map), `yield_per` rows at a time (a server-side cursor on
PostgreSQL); their victims, components and damaged objects are read per batch of report ids; and
incidents are grouped from one ordered stream of their reports. An export of any size holds one
batch in memory.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

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
from ..items import ASSESSED, Item, report_items
from ..models import (
    Attachment,
    Component,
    DamagedObject,
    Incident,
    IncidentLink,
    ItemAssessment,
    Report,
    Victim,
    count_column_names,
)
from ..transfers.use import user_in_conflict
from . import policy
from .policy import Of, Suppression, Tier

BATCH = 500
HARMS = list(Harm)
# (harm, [(group value, count column name)]): computed once, not per row.
COUNT_COLUMNS = [(h, [(g.value, f"{h.value}_{g.value}") for g in HarmGroup]) for h in Harm]


def _counts(report: Any) -> dict[Harm, dict[str, int]]:
    return {h: {g: int(getattr(report, name) or 0) for g, name in names} for h, names in COUNT_COLUMNS}


def _value(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "value") and not isinstance(value, (int, float)):
        return value.value
    return value


def exportable(organisation_id: int, tier: Tier, state: ReportState = ReportState.VERIFIED) -> list[Any]:
    """The conditions a report meets to be exported in `tier` (what an evidence pack reads, too)."""
    return _conditions(organisation_id, tier, state)


def _conditions(organisation_id: int, tier: Tier, state: ReportState) -> list[Any]:
    consent = policy.PUBLIC_CONSENT if tier == Tier.PUBLIC else policy.PARTNER_CONSENT
    return [Report.organisation_id == organisation_id, Report.state == state, Report.consent.in_(consent),
            Report.risk_to_source != Risk.HIGH]


# The publishable columns an export reads (never a sealed one: nothing here can open a seal).
REPORT_COLUMNS = [
    "id", "public_id", "state", "received_at", "state_changed_at", "occurred_on", "occurred_time", "date_precision",
    "country", "admin1", "admin2", "locality", "location_precision", "location_cell", "incident_type", "displaced",
    "delivery_platform", "platform_model", "platform_manufacturer", "platform_country", "munition_type",
    "munition_model", "munition_manufacturer", "munition_country", "remnants_found", "markings",
    "identification_basis", "identification_confidence", "source_type", "consent", "grade", "source_reliability",
    "sign_off_pending", "used_by", "used_by_assessed", *count_column_names(),
]
_CHILDREN: dict[str, tuple[Any, tuple[str, ...]]] = {
    "victims": (Victim, ("harm", "sex", "age", "age_band", "civilian_status")),
    "components": (Component, ("id", "kind", "model", "manufacturer", "country_of_manufacture", "markings",
                               "serial_number", "lot_number", "part_number", "cage_code", "manufactured_on",
                               "manufacture_date_basis", "identification_basis", "identification_confidence")),
    "objects_damaged": (DamagedObject, ("kind", "extent")),
    # The verifiers' identifications, in force over what was reported (intake.items).
    "item_assessments": (ItemAssessment, ("item_key", "designation", "manufacturer", "country_of_manufacture",
                                          "identification_basis", "identification_confidence", "attachment_ids",
                                          "assessed_at")),
}


def _report_columns() -> list[Any]:
    return [getattr(Report, name) for name in REPORT_COLUMNS]


def _with_children(session: Session, rows: Sequence[Any], tier: Tier) -> list[SimpleNamespace]:
    """A batch of report rows as objects with their victims, components and damaged objects (and,
    for partners, their files' hashes): one query per kind for the whole batch."""
    reports = {row.id: SimpleNamespace(**row._mapping, victims=[], components=[], objects_damaged=[], attachments=[],
                                       item_assessments=[])
               for row in rows}
    ids = list(reports)
    children = dict(_CHILDREN)
    if tier == Tier.PARTNER:
        children["attachments"] = (Attachment, ("sha256",))
    for name, (model, fields) in children.items():
        order = model.id if model in (Attachment, ItemAssessment) else model.position
        query = (select(model.report_id, *(getattr(model, f) for f in fields))
                 .where(model.report_id.in_(ids)).order_by(model.report_id, order))
        for child in session.execute(query):
            getattr(reports[child.report_id], name).append(child)
    return [reports[row.id] for row in rows]


def _stream(session: Session, query: Any, tier: Tier) -> Iterator[tuple[SimpleNamespace, Any]]:
    """(report, its row) for every row of `query`, BATCH rows at a time."""
    for rows in session.execute(query.execution_options(yield_per=BATCH)).partitions():
        yield from zip(_with_children(session, rows, tier), rows, strict=True)


def _cell(report: Any, tier: Tier, resolution: int) -> str | None:
    if tier == Tier.PUBLIC:
        resolution = min(resolution, policy.PUBLIC_CELL_RESOLUTION)
    return export_cell(report.location_cell, resolution)


def _place(report: Any, tier: Tier, resolution: int, stats: Suppression) -> dict[str, Any]:
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


def _combatants(report: Any, harm: Harm) -> int:
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


def _date(occurred_on: dt.date, precision: DatePrecision, totals: list[int], tier: Tier,
          stats: Suppression) -> dict[str, Any]:
    if tier == Tier.PUBLIC:
        shown, precision = policy.public_date(occurred_on, precision, policy.few_people(totals), stats)
    else:
        shown = occurred_on.isoformat()
    return {"occurred_on": shown, "year": occurred_on.year, "date_precision": precision.value,
            "time_precision": policy.time_precision(precision)}


def _items(report: Any) -> list[Item]:
    return report_items(report, report.item_assessments)


def _components(reports: Iterable[Any]) -> tuple[str, str]:
    """Every component as kind / designation / manufacturer / country in force, "[assessed]" where a
    verifier assessed it; and the countries of manufacture."""
    described: list[str] = []
    countries: list[str] = []
    for report in reports:
        for item in _items(report):
            if item.role.value != "component":
                continue
            text = " / ".join(p for p in (item.kind, item.designation, item.manufacturer, item.country) if p)
            if item.source == ASSESSED:
                text += " [assessed]"
            if text not in described:
                described.append(text)
            if item.country and item.country not in countries:
                countries.append(item.country)
    return "; ".join(described), ";".join(countries)


def _item_details(reports: Iterable[Any]) -> str:
    """Partners' item-level detail: each item's codes, date of manufacture and markings, verbatim."""
    out: list[str] = []
    for report in reports:
        for item in _items(report):
            parts = [f"{name}={value}" for name, value in (
                ("serial", item.serial_number), ("lot", item.lot_number), ("part", item.part_number),
                ("cage", item.cage_code), ("made", item.manufactured_on),
                ("date_basis", _value(item.manufacture_date_basis)), ("markings", item.markings),
                ("files", " ".join(item.attachment_ids) or None)) if value]
            if parts:
                text = f"{item.designation or item.kind}: " + ", ".join(parts)
                if text not in out:
                    out.append(text)
    return "; ".join(out)


def _victims(report: Any) -> str:
    # People as harm, sex, age band and civilian status only: an exact age helps identify someone.
    return "; ".join(
        ":".join((v.harm.value, v.sex.value,
                  (AgeBand.for_age(v.age) if v.age is not None else v.age_band or AgeBand.UNKNOWN).value,
                  v.civilian_status.value))
        for v in report.victims
    )


def _weapons(report: Any) -> dict[str, Any]:
    """The platform and the munition as in force (assessed where a verifier assessed them), and whose
    values those are."""
    by_role = {item.role.value: item for item in _items(report) if item.role.value != "component"}
    platform, munition = by_role.get("platform"), by_role.get("munition")
    return {
        "delivery_platform": report.delivery_platform.value,
        "platform_model": platform.designation if platform else report.platform_model,
        "platform_manufacturer": platform.manufacturer if platform else None,
        "platform_country": platform.country if platform else None,
        "platform_identified_as": platform.source if platform else None,
        "munition_type": report.munition_type,
        "munition_model": munition.designation if munition else report.munition_model,
        "munition_manufacturer": munition.manufacturer if munition else None,
        "munition_country": munition.country if munition else None,
        "munition_identified_as": munition.source if munition else None,
        "remnants_found": report.remnants_found.value, "markings": report.markings,
        "identification_basis": _value(report.identification_basis),
        "identification_confidence": _value(report.identification_confidence),
    }


def _used_by(reports: Iterable[Any]) -> dict[str, Any]:
    """Who used the weapon in the conflict, as in force (`user_in_conflict`: assessed over reported), and
    on what it rests. Over an incident: the state an assessed report names, else a reported one; two
    different states in force read as both, "mixed"."""
    found: list[tuple[str, str]] = []
    for report in reports:
        state, basis = user_in_conflict(report)
        if state and (state, basis) not in found:
            found.append((state, basis))
    if not found:
        return {"used_by": None, "used_by_basis": None}
    assessed = [f for f in found if f[1] == "assessed"] or found
    states = sorted({state for state, _basis in assessed})
    bases = {basis for state, basis in assessed}
    return {"used_by": ";".join(states), "used_by_basis": bases.pop() if len(bases) == 1 else "mixed"}


def report_record(report: Any, incident_id: str | None, tier: Tier, resolution: int,
                  stats: Suppression) -> dict[str, Any]:
    """One report as a record of the tier."""
    counts = _counts(report)
    totals = [sum(counts[h].values()) for h in HARMS]
    components, countries = _components([report])
    record: dict[str, Any] = {
        "id": report.public_id, "incident_id": incident_id, "reports": 1, "state": report.state.value,
        "received_on": report.received_at.date().isoformat() if tier == Tier.PARTNER else None,
        **_date(report.occurred_on, report.date_precision, totals, tier, stats),
        # The hour only, even for partners (design/anonymization.md).
        "occurred_time": (report.occurred_time.replace(minute=0, second=0).isoformat()
                          if tier == Tier.PARTNER and report.occurred_time else None),
        **_place(report, tier, resolution, stats),
        "incident_type": report.incident_type.value,
        **_harm_fields(counts, {h: _combatants(report, h) for h in Harm}, tier, stats),
        "displaced": report.displaced if tier == Tier.PARTNER else policy.suppress_one(report.displaced),
        "objects_damaged": "; ".join(f"{o.kind.value}:{o.extent.value}" for o in report.objects_damaged),
        **_weapons(report), **_used_by([report]), "components": components, "component_countries": countries,
        "item_details": _item_details([report]) if tier == Tier.PARTNER else None,
        "source_type": report.source_type.value, "consent": report.consent.value,
        "grade": _value(report.grade), "source_reliability": _value(report.source_reliability),
        "victims": _victims(report) if tier == Tier.PARTNER else None,
        "attachments_sha256": " ".join(a.sha256 for a in report.attachments) if tier == Tier.PARTNER else None,
        # When it was last changed (ACLED's timestamp): partners only, as a verification soon after the
        # event would narrow a date the public tier gives as the month.
        "updated_at": report.state_changed_at if tier == Tier.PARTNER else None,
    }
    for harm in Harm:
        record[f"{harm.value}_reconciled"] = None
    return record


def report_records(session: Session, organisation_id: int, tier: Tier, resolution: int, stats: Suppression,
                   state: ReportState = ReportState.VERIFIED) -> Iterator[dict[str, Any]]:
    """The organisation's exportable reports, oldest first, each with the incident it belongs to."""
    query = (
        select(*_report_columns(), Incident.public_id.label("incident_public_id"))
        .outerjoin(IncidentLink, IncidentLink.report_id == Report.id)
        .outerjoin(Incident, Incident.id == IncidentLink.incident_id)
        .where(*_conditions(organisation_id, tier, state))
        .order_by(Report.received_at, Report.id)
    )
    for report, row in _stream(session, query, tier):
        stats.rows += 1
        yield report_record(report, row.incident_public_id, tier, resolution, stats)


def _best_reliability(reports: list[Any]) -> SourceReliability | None:
    found = [r.source_reliability for r in reports if r.source_reliability is not None]
    return min(found, key=lambda s: s.value) if found else None


def _best_grade(reports: list[Any]) -> Grade | None:
    grades = [r.grade for r in reports if r.grade is not None and not r.sign_off_pending]
    return max(grades, key=lambda g: g.rank) if grades else None


def incident_record(incident: Any, linked: int, reports: list[Any], tier: Tier, resolution: int,
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
    each = [(r, _counts(r)) for r in reports]
    for harm in Harm:
        source, by_group = max(each, key=lambda e, h=harm: (sum(e[1][h].values()), -e[0].id))  # type: ignore[misc]
        counts[harm] = by_group[harm]
        combatants[harm] = _combatants(source, harm)
    totals = [sum(counts[h].values()) for h in Harm]
    kinds = Counter(r.incident_type for r in reports)
    named = next((r for r in reports if r.delivery_platform != DeliveryPlatform.UNKNOWN or r.munition_model), first)
    components, countries = _components(reports)
    displaced = max((r.displaced or 0 for r in reports), default=0) or None
    record: dict[str, Any] = {
        "id": incident.public_id, "incident_id": incident.public_id, "reports": len(reports),
        "state": ReportState.VERIFIED.value if all(r.state == ReportState.VERIFIED for r in reports) else None,
        "received_on": None, "occurred_time": None,
        **_date(first.occurred_on, first.date_precision, totals, tier, stats),
        **_place(placed, tier, resolution, stats),
        "incident_type": kinds.most_common(1)[0][0].value,
        **_harm_fields(counts, combatants, tier, stats),
        "displaced": displaced if tier == Tier.PARTNER else policy.suppress_one(displaced),
        "objects_damaged": "; ".join(sorted({f"{o.kind.value}:{o.extent.value}" for r in reports
                                             for o in r.objects_damaged})),
        **_weapons(named), **_used_by(reports), "components": components, "component_countries": countries,
        "item_details": _item_details(reports) if tier == Tier.PARTNER else None,
        "source_type": ";".join(sorted({r.source_type.value for r in reports})),
        "consent": None,
        "grade": _value(_best_grade(reports)), "source_reliability": _value(_best_reliability(reports)),
        "victims": "; ".join(v for v in (_victims(r) for r in reports) if v) if tier == Tier.PARTNER else None,
        "attachments_sha256": (" ".join(a.sha256 for r in reports for a in r.attachments)
                               if tier == Tier.PARTNER else None),
        "updated_at": incident.updated_at if tier == Tier.PARTNER else None,
    }
    complete = incident.reconciled_at is not None and linked == len(reports)
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
        select(*_report_columns(), Incident.id.label("incident_row"), Incident.public_id.label("incident_public_id"),
               Incident.killed.label("incident_killed"), Incident.injured.label("incident_injured"),
               Incident.missing.label("incident_missing"), Incident.reconciled_at.label("incident_reconciled_at"),
               Incident.updated_at.label("incident_updated_at"), linked.label("incident_links"))
        .join(IncidentLink, IncidentLink.report_id == Report.id)
        .join(Incident, Incident.id == IncidentLink.incident_id)
        .where(*_conditions(organisation_id, tier, state), Incident.organisation_id == organisation_id,
               Incident.merged_into_id.is_(None))
        .order_by(Incident.created_at, Incident.id, Report.id)
    )
    for _id, rows in groupby(_stream(session, query, tier), key=lambda pair: pair[1].incident_row):
        batch = list(rows)
        row = batch[0][1]
        incident = SimpleNamespace(public_id=row.incident_public_id, killed=row.incident_killed,
                                   injured=row.incident_injured, missing=row.incident_missing,
                                   reconciled_at=row.incident_reconciled_at, updated_at=row.incident_updated_at)
        stats.rows += 1
        yield incident_record(incident, int(row.incident_links), [r for r, _row in batch], tier, resolution, stats)


def records(session: Session, organisation_id: int, of: Of, tier: Tier, resolution: int, stats: Suppression,
            state: ReportState = ReportState.VERIFIED) -> Iterator[dict[str, Any]]:
    source = report_records if of == Of.REPORTS else incident_records
    return source(session, organisation_id, tier, resolution, stats, state)
