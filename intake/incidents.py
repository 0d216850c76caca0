"""Incidents: the reports of one event, linked by verifiers (design/workflow.md, Incidents).

A report belongs to at most one incident (`IncidentLink`, keyed by the report). Verifiers and
coordinators of the organisation link a report into a new or an existing incident, unlink it, merge
two incidents (every report moves, the other incident is closed and points at the survivor) and
record the casualty figures they reconcile from the reports. Every one of these is written to the
audit log in the same transaction, with public ids and figures only.

Plain functions over a session; the caller commits. Every lookup is scoped to an organisation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from .audit import record
from .enums import AuditAction, ComponentKind, Grade, Harm, HarmGroup, ReportState
from .models import DataKey, Incident, IncidentLink, Report, User, utcnow


class IncidentError(ValueError):
    """A link, unlink or merge that cannot be made as asked (the message is shown to the verifier)."""


def organisation_incident(session: Session, user: User, public_id: str) -> Incident | None:
    """An incident by public id, only within the user's organisation."""
    return session.scalar(
        select(Incident).where(Incident.public_id == public_id, Incident.organisation_id == user.organisation_id)
    )


def incident_of(session: Session, report: Report) -> Incident | None:
    """The incident the report is linked to, if any."""
    return session.scalar(
        select(Incident).join(IncidentLink).where(IncidentLink.report_id == report.id,
                                                  Incident.organisation_id == report.organisation_id)
    )


def open_incidents(session: Session, organisation_id: int, limit: int = 200) -> list[Incident]:
    """The organisation's open incidents, most recently changed first."""
    return list(session.scalars(
        select(Incident)
        .where(Incident.organisation_id == organisation_id, Incident.closed_at.is_(None))
        .order_by(Incident.updated_at.desc(), Incident.id.desc())
        .limit(limit)
    ))


def report_counts(session: Session, incidents: Iterable[Incident]) -> dict[int, int]:
    """How many reports each incident holds."""
    ids = [i.id for i in incidents]
    if not ids:
        return {}
    rows = session.execute(select(IncidentLink.incident_id, func.count()).where(IncidentLink.incident_id.in_(ids))
                           .group_by(IncidentLink.incident_id))
    return {incident_id: int(n) for incident_id, n in rows}


def reports_of(session: Session, incident: Incident) -> list[Report]:
    """The incident's reports, by date of the event."""
    return list(session.scalars(
        select(Report).join(IncidentLink, IncidentLink.report_id == Report.id)
        .options(selectinload(Report.components), selectinload(Report.item_assessments))
        .where(IncidentLink.incident_id == incident.id, Report.organisation_id == incident.organisation_id)
        .order_by(Report.occurred_on, Report.received_at, Report.id)
    ))


def title_for(report: Report) -> str:
    """A title made of publishable facts only: type, place, date."""
    place = ", ".join(p for p in (report.locality, report.admin2, report.admin1, report.country) if p)
    return f"{report.incident_type.label} — {place} — {report.occurred_on.isoformat()}"[:300]


def _audit(action: AuditAction, actor: User, session: Session, incident: Incident,
           **detail: str | int | bool | None) -> None:
    record(action.value, actor=actor, organisation_id=incident.organisation_id, target_type="incident",
           target_id=incident.public_id, detail=detail, session=session)


def _touch(incident: Incident) -> None:
    incident.updated_at = utcnow()


def _same_organisation(actor: User, *things: Incident | Report) -> None:
    # Views look everything up within the actor's organisation; this is the second lock on that door.
    if any(thing.organisation_id != actor.organisation_id for thing in things):
        raise IncidentError(_("Not found."))


def create_incident(session: Session, actor: User, report: Report) -> Incident:
    """A new incident holding `report`, titled after it."""
    _same_organisation(actor, report)
    if incident_of(session, report) is not None:
        raise IncidentError(_("This report is already part of an incident: unlink it first."))
    # Its own data key, for the reconciliation note sealed later.
    incident = Incident(organisation_id=report.organisation_id, title=title_for(report), data_key=DataKey.create())
    session.add(incident)
    session.flush()
    _audit(AuditAction.INCIDENT_CREATED, actor, session, incident, report=report.public_id)
    link_report(session, actor, incident, report)
    return incident


def link_report(session: Session, actor: User, incident: Incident, report: Report) -> IncidentLink:
    """Put `report` into `incident`. A report already in another incident must be unlinked first
    (or the two incidents merged): a report belongs to one incident at most."""
    _same_organisation(actor, incident, report)
    if incident.closed_at is not None:
        raise IncidentError(_("This incident is closed."))
    current = incident_of(session, report)
    if current is not None:
        if current.id == incident.id:
            raise IncidentError(_("This report is already part of this incident."))
        raise IncidentError(_("This report is already part of another incident: unlink it first, or merge "
                              "the two incidents."))
    link = IncidentLink(incident=incident, report_id=report.id, linked_by_id=actor.id)
    session.add(link)
    _touch(incident)
    session.flush()
    _audit(AuditAction.INCIDENT_REPORT_LINKED, actor, session, incident, report=report.public_id)
    return link


def link_together(session: Session, actor: User, report: Report, other: Report) -> Incident:
    """The one click on a suggestion: both reports end up in one incident — the one either is already
    in, or a new one."""
    _same_organisation(actor, report, other)
    if report.id == other.id:
        raise IncidentError(_("A report cannot be linked with itself."))
    mine, theirs = incident_of(session, report), incident_of(session, other)
    if mine is not None and theirs is not None:
        if mine.id == theirs.id:
            raise IncidentError(_("Both reports are already part of this incident."))
        raise IncidentError(_("The two reports are part of two incidents: merge the incidents instead."))
    if mine is not None:
        link_report(session, actor, mine, other)
        return mine
    if theirs is not None:
        link_report(session, actor, theirs, report)
        return theirs
    incident = create_incident(session, actor, other if other.occurred_on <= report.occurred_on else report)
    link_report(session, actor, incident, report if other.occurred_on <= report.occurred_on else other)
    return incident


def unlink_report(session: Session, actor: User, incident: Incident, report: Report) -> None:
    """Take `report` out of `incident`. An incident left without reports is closed."""
    _same_organisation(actor, incident, report)
    link = session.get(IncidentLink, report.id)
    if link is None or link.incident_id != incident.id:
        raise IncidentError(_("This report is not part of this incident."))
    session.delete(link)
    session.flush()
    _touch(incident)
    left = session.scalar(select(func.count()).select_from(IncidentLink)
                          .where(IncidentLink.incident_id == incident.id)) or 0
    if left == 0:
        incident.closed_at = utcnow()
    _audit(AuditAction.INCIDENT_REPORT_UNLINKED, actor, session, incident, report=report.public_id,
           closed=left == 0)


def merge_incidents(session: Session, actor: User, keep: Incident, other: Incident) -> Incident:
    """Move every report of `other` into `keep`; `other` is closed and points at `keep`.

    The figures stay `keep`'s if it has reconciled ones, else they come from `other`.
    """
    _same_organisation(actor, keep, other)
    if keep.id == other.id:
        raise IncidentError(_("An incident cannot be merged with itself."))
    # Lock both rows, in id order, so two merges of the same pair cannot cross each other.
    locked = {i.id: i for i in session.scalars(
        select(Incident).where(Incident.id.in_(sorted({keep.id, other.id}))).order_by(Incident.id).with_for_update()
    )}
    keep, other = locked[keep.id], locked[other.id]
    if keep.closed_at is not None or other.closed_at is not None:
        raise IncidentError(_("Only open incidents can be merged."))
    moved = session.execute(
        update(IncidentLink).where(IncidentLink.incident_id == other.id).values(incident_id=keep.id)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.expire(keep, ["links"])
    session.expire(other, ["links"])
    figures_from_other = not keep.reconciled and other.reconciled
    if figures_from_other:
        keep.killed, keep.injured, keep.missing = other.killed, other.injured, other.missing
        keep.reconciliation_note = other.reconciliation_note
        keep.reconciled_at, keep.reconciled_by_id = other.reconciled_at, other.reconciled_by_id
    now = utcnow()
    other.closed_at, other.merged_into_id, other.updated_at = now, keep.id, now
    keep.updated_at = now
    session.flush()
    _audit(AuditAction.INCIDENTS_MERGED, actor, session, keep, merged=other.public_id, reports_moved=int(moved),
           figures_from_merged=figures_from_other)
    return keep


def reconcile_figures(session: Session, actor: User, incident: Incident, *, killed: int, injured: int,
                      missing: int, note: str) -> None:
    """Record the verifier's reconciled casualty figures. The note is sealed (it may name people) and
    stays out of the audit log; the figures go in."""
    _same_organisation(actor, incident)
    if incident.closed_at is not None:
        raise IncidentError(_("This incident is closed."))
    incident.killed, incident.injured, incident.missing = killed, injured, missing
    incident.reconciliation_note = note.strip()
    incident.reconciled_at = utcnow()
    incident.reconciled_by_id = actor.id
    _touch(incident)
    session.flush()
    _audit(AuditAction.INCIDENT_FIGURES_RECONCILED, actor, session, incident, killed=killed, injured=injured,
           missing=missing)


# ---- what the incident page shows ---------------------------------------------------------------


@dataclass(frozen=True)
class Weapon:
    """One identified weapon or component and how many of the incident's reports name it, with its
    designation, manufacturer and country as assessed where a verifier assessed it (intake.items)."""

    what: str  # "platform", "munition" or a ComponentKind value
    label: str
    model: str
    manufacturer: str | None
    country: str | None
    reports: int
    assessed: int = 0  # how many of those reports' identifications of it a verifier assessed
    markings: tuple[str, ...] = ()  # as transcribed, each once
    serials: tuple[str, ...] = ()  # serial, lot and part numbers and CAGE codes seen, each once

    @property
    def source(self) -> str:
        """"assessed" when every report's identification of it was assessed, "reported" when none
        was, "mixed" otherwise."""
        if self.assessed == 0:
            return "reported"
        return "assessed" if self.assessed >= self.reports else "mixed"


def weapons_of(reports: list[Report]) -> list[Weapon]:
    """The platforms, munitions and components named across the reports, merged case-, space- and
    hyphen-insensitively on designation, manufacturer and country in force; a report that names the
    same thing twice counts once."""
    from .items import ASSESSED, report_items
    from .items.catalogue import match_key

    counts: Counter[tuple[str, str, str, str]] = Counter()
    assessed: Counter[tuple[str, str, str, str]] = Counter()
    shown: dict[tuple[str, str, str, str], Weapon] = {}
    markings: dict[tuple[str, str, str, str], list[str]] = {}
    serials: dict[tuple[str, str, str, str], list[str]] = {}
    for report in reports:
        keys: dict[tuple[str, str, str, str], bool] = {}
        for item in report_items(report):
            what = item.role.value if item.role.value != "component" else item.kind
            label = str(item.kind_label)
            model = item.designation or ("—" if item.role.value == "component" else label)
            key = (what, match_key(model), match_key(item.manufacturer), item.country or "")
            shown.setdefault(key, Weapon(what, label, model, item.manufacturer, item.country, 0))
            keys[key] = keys.get(key, False) or item.source == ASSESSED
            for text in (item.markings,):
                if text and text not in markings.setdefault(key, []):
                    markings[key].append(text)
            for code in item.serials:
                if code not in serials.setdefault(key, []):
                    serials[key].append(code)
        counts.update(list(keys))
        assessed.update(key for key, was in keys.items() if was)
    order = {"platform": 0, "munition": 1, **{k.value: 2 + i for i, k in enumerate(ComponentKind)}}
    return sorted(
        (Weapon(w.what, w.label, w.model, w.manufacturer, w.country, counts[key], assessed[key],
                tuple(markings.get(key, ())), tuple(serials.get(key, ()))) for key, w in shown.items()),
        key=lambda w: (order.get(w.what, 99), -w.reports, w.model.casefold()),
    )


@dataclass(frozen=True)
class Figures:
    """One report's casualty totals, for the side-by-side comparison."""

    report: Report
    totals: dict[Harm, int]
    by_group: dict[Harm, dict[HarmGroup, int]]


def best_grade(reports: list[Report]) -> Grade | None:
    """The strongest grade the incident's verified reports support (design/workflow.md, Incidents):
    a confirmed grade counts only once signed off."""
    grades = [r.grade for r in reports
              if r.state == ReportState.VERIFIED and r.grade is not None and not r.sign_off_pending]
    return max(grades, key=lambda g: g.rank) if grades else None


def figures_of(reports: list[Report]) -> list[Figures]:
    return [Figures(r, {h: r.total(h) for h in Harm}, {h: {g: r.count(h, g) for g in HarmGroup} for h in Harm})
            for r in reports]


def figure_range(figures: list[Figures], harm: Harm) -> tuple[int, int] | None:
    """The lowest and highest total the reports give for one harm."""
    totals = [f.totals[harm] for f in figures]
    return (min(totals), max(totals)) if totals else None

