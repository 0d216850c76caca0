"""Filing reports and moving them through their states."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .enums import Channel, Harm, HarmGroup, JobState, ReportState, Role
from .models import (
    Attachment,
    Component,
    DamagedObject,
    DataKey,
    Link,
    PipelineJob,
    Report,
    StateTransition,
    User,
    Victim,
    Witness,
    new_public_id,
    utcnow,
)
from .models import (
    Submission as JournalEntry,
)
from .schema import ReportIn

# Crockford's base32 without I, L, O, U: nothing to misread when a receipt is copied by hand.
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
assert len(RECEIPT_ALPHABET) == 32

SYSTEM = "system"
VERIFIERS = frozenset({Role.VERIFIER, Role.COORDINATOR})
COORDINATORS = frozenset({Role.COORDINATOR})

# Who may make each step of a report's life (design/workflow.md). SYSTEM is a worker.
TRANSITIONS: dict[tuple[ReportState, ReportState], frozenset[object]] = {
    (ReportState.RECEIVED, ReportState.TRIAGE): frozenset({SYSTEM}),
    (ReportState.TRIAGE, ReportState.IN_REVIEW): VERIFIERS,
    (ReportState.IN_REVIEW, ReportState.TRIAGE): VERIFIERS | {SYSTEM},
    # A coordinator hands a claimed report to another verifier (see review.reassign_claim).
    (ReportState.IN_REVIEW, ReportState.IN_REVIEW): COORDINATORS,
    (ReportState.IN_REVIEW, ReportState.VERIFIED): VERIFIERS,
    (ReportState.IN_REVIEW, ReportState.REJECTED): VERIFIERS,
    (ReportState.IN_REVIEW, ReportState.NEEDS_INFO): VERIFIERS,
    (ReportState.IN_REVIEW, ReportState.DUPLICATE): VERIFIERS,
    (ReportState.NEEDS_INFO, ReportState.TRIAGE): frozenset({Role.REPORTER, SYSTEM}) | VERIFIERS,
    (ReportState.VERIFIED, ReportState.IN_REVIEW): COORDINATORS,
    (ReportState.REJECTED, ReportState.IN_REVIEW): COORDINATORS,
}
# Steps that must say why.
REASON_REQUIRED = frozenset({
    (ReportState.IN_REVIEW, ReportState.REJECTED),
    (ReportState.VERIFIED, ReportState.IN_REVIEW),
    (ReportState.REJECTED, ReportState.IN_REVIEW),
})


class TransitionError(ValueError):
    """A state change that the workflow does not allow."""


@dataclass(frozen=True)
class Filing:
    report: Report
    created: bool  # False when this was a replay of a submission already received


def new_receipt_code() -> str:
    """Eight characters of `RECEIPT_ALPHABET` (32 of them: five random bits each), as XXXX-XXXX."""
    bits = int.from_bytes(secrets.token_bytes(5))
    code = "".join(RECEIPT_ALPHABET[(bits >> shift) & 31] for shift in range(0, 40, 5))
    return f"{code[:4]}-{code[4:]}"


def normalise_receipt_code(text: str) -> str:
    """What a person typed as a receipt code, in the stored form."""
    raw = text.strip().upper().replace("-", "").replace(" ", "")
    raw = raw.replace("O", "0").replace("I", "1").replace("L", "1")
    return f"{raw[:4]}-{raw[4:]}" if len(raw) == 8 else raw


def is_receipt_code(code: str) -> bool:
    """Whether `code` (as `normalise_receipt_code` returns it) has the shape of a receipt code: what
    has not (a NUL character, which PostgreSQL refuses in a query, or text of another shape) is
    answered without a look-up."""
    raw = code.replace("-", "")
    return len(code) == 9 and code[4] == "-" and len(raw) == 8 and all(c in RECEIPT_ALPHABET for c in raw)


def find_submission(session: Session, reporter: User, submission_id: str) -> Report | None:
    return session.scalar(
        select(Report).where(Report.reporter_id == reporter.id, Report.submission_id == submission_id)
    )


def _build(data: ReportIn, reporter: User, channel: Channel, submission_id: str, deadline_seconds: int,
           data_key: DataKey | None) -> Report:
    now = utcnow()
    report = Report(
        data_key=data_key,
        organisation_id=reporter.organisation_id,
        reporter=reporter,
        channel=channel,
        submission_id=submission_id,
        receipt_code=new_receipt_code(),
        state=ReportState.RECEIVED,
        received_at=now,
        state_changed_at=now,
        **data.model_dump(
            exclude={"submission_id", "killed", "injured", "missing", "victims", "objects_damaged",
                     "components", "witnesses", "links"}
        ),
        **data.counts(),
    )
    report.victims = [Victim(position=i, **v.model_dump()) for i, v in enumerate(data.victims)]
    report.objects_damaged = [
        DamagedObject(position=i, **o.model_dump()) for i, o in enumerate(data.objects_damaged)
    ]
    report.components = [Component(position=i, **c.model_dump()) for i, c in enumerate(data.components)]
    report.witnesses = [Witness(position=i, **w.model_dump()) for i, w in enumerate(data.witnesses)]
    report.links = [Link(position=i, **link.model_dump()) for i, link in enumerate(data.links)]
    report.transitions = [StateTransition(from_state=None, to_state=ReportState.RECEIVED, actor=reporter, at=now)]
    # Set, not lazily loaded later: a new report has no files yet (the stash adds them) and is owed
    # its first pipeline run, written in the same transaction.
    report.attachments = []
    report.job = PipelineJob(state=JobState.PENDING, attempts=0, generation=1,
                             due_at=utcnow() + dt.timedelta(seconds=deadline_seconds))
    return report


def submit_report(
    session: Session,
    reporter: User,
    data: ReportIn,
    channel: Channel,
    submission_id: str,
    deadline_seconds: int = 300,
    data_key: DataKey | None = None,
    reserved: tuple[str, str] | None = None,
) -> Filing:
    """File a report in state `received` now, or return the one this submission already made.

    Its journal row (`models.Submission`) is written in the same transaction. Two racing requests
    with the same submission id meet at the journal's unique (reporter, submission id); the loser
    finds the winner's report, and a submission the API accepted but no worker filed yet is filed
    now. The pipeline job the report is owed is written in the same transaction. The caller
    commits, then dispatches the pipeline. `data_key` is the key its form's kept uploads were sealed
    with; without one the report gets a new data key. `reserved` is the (public id, receipt code) a
    channel that acknowledged before filing already gave the submitter (an encrypted ODK form's).
    """
    from .submissions import file_submission, journal_entry

    def earlier() -> Report | None:
        existing = find_submission(session, reporter, submission_id)
        if existing is not None:
            return existing
        entry = journal_entry(session, reporter, submission_id)
        return file_submission(session, entry, deadline_seconds) if entry is not None else None

    if (existing := earlier()) is not None:
        return Filing(existing, created=False)
    for _attempt in range(5):
        report = _build(data, reporter, channel, submission_id, deadline_seconds, data_key)
        report.public_id = new_public_id()
        if reserved is not None:
            report.public_id, report.receipt_code = reserved
        try:
            with session.begin_nested():
                session.add(report)
                session.flush()
                session.add(JournalEntry(
                    public_id=report.public_id, receipt_code=report.receipt_code,
                    organisation_id=report.organisation_id, reporter_id=reporter.id, channel=channel,
                    submission_id=submission_id, received_at=report.received_at, report_id=report.id,
                    attempts=0,
                ))
                session.flush()
        except IntegrityError:
            if (existing := earlier()) is not None:
                return Filing(existing, created=False)
            continue  # a receipt code collided: draw another
        return Filing(report, created=True)
    raise RuntimeError("could not draw a unique receipt code")


def stashed_uploads(session: Session, reporter: User, stash_key: str) -> list[Attachment]:
    return list(
        session.scalars(
            select(Attachment)
            .where(
                Attachment.uploaded_by_id == reporter.id,
                Attachment.stash_key == stash_key,
                Attachment.report_id.is_(None),
            )
            .order_by(Attachment.id)
        )
    )


def transition(
    session: Session,
    report: Report,
    to_state: ReportState,
    actor: User | None = None,
    reason: str | None = None,
) -> StateTransition:
    """Move `report` to `to_state` if the workflow allows this actor to; record who, when and why."""
    key = (report.state, to_state)
    allowed = TRANSITIONS.get(key)
    who: object = actor.role if actor is not None else SYSTEM
    if allowed is None or who not in allowed:
        raise TransitionError(f"{report.state.value} → {to_state.value} is not allowed for {who}")
    if key in REASON_REQUIRED and not (reason and reason.strip()):
        raise TransitionError("this step needs a reason")
    step = StateTransition(
        report=report, from_state=report.state, to_state=to_state, actor=actor, reason=reason
    )
    report.state = to_state
    report.state_changed_at = utcnow()
    session.add(step)
    return step


def _file_pending(session: Session, reporter: User, public_id: str | None = None) -> None:
    """What the reporter submitted through the API and no worker filed yet is filed now, and
    committed: the reporter is about to read it (see `intake.submissions`). Its pipeline is then
    dispatched, as the form's is: a report that was looked at goes to triage as fast as one that
    was not (without this its job would wait for the sweep, PIPELINE_DEADLINE_SECONDS)."""
    from flask import current_app, has_app_context

    from .dispatch import dispatch_report_after_request
    from .submissions import file_pending

    deadline = int(current_app.config["PIPELINE_DEADLINE_SECONDS"]) if has_app_context() else 300
    filed = file_pending(session, reporter, deadline, public_id)
    if has_app_context():
        # After the request's view: one that changes the report too (a file added) sends one
        # message, after its own commit.
        for report_id in filed:
            dispatch_report_after_request(report_id)


def reports_of(session: Session, reporter: User, limit: int = 200) -> list[Report]:
    """The reporter's own reports, newest first."""
    _file_pending(session, reporter)
    return list(
        session.scalars(
            select(Report)
            .where(Report.reporter_id == reporter.id, Report.organisation_id == reporter.organisation_id)
            .order_by(Report.received_at.desc(), Report.id.desc())
            .limit(limit)
        )
    )


def questions_waiting(session: Session, reporter: User) -> int:
    """How many of the reporter's reports wait for their answer to a verifier's question."""
    return session.scalar(
        select(func.count()).select_from(Report)
        .where(Report.reporter_id == reporter.id, Report.organisation_id == reporter.organisation_id,
               Report.state == ReportState.NEEDS_INFO)
    ) or 0


def being_filed(session: Session, reporter: User, public_id: str | None = None) -> list[JournalEntry]:
    """The reporter's accepted submissions that the web could not file just now (after
    `reports_of` or `own_report` tried): still theirs, shown as received and being filed, with
    their receipt and nothing of their content (which may be what cannot be filed)."""
    from .submissions import unfiled_of

    return unfiled_of(session, reporter, public_id)


def own_report(session: Session, reporter: User, public_id: str) -> Report | None:
    """A report by public id, only if `reporter` filed it."""
    query = select(Report).where(
        Report.public_id == public_id,
        Report.reporter_id == reporter.id,
        Report.organisation_id == reporter.organisation_id,
    )
    report = session.scalar(query)
    if report is None:
        _file_pending(session, reporter, public_id)
        report = session.scalar(query)
    return report


def organisation_report(session: Session, user: User, public_id: str) -> Report | None:
    """A report by public id, only within the user's organisation."""
    return session.scalar(
        select(Report).where(Report.public_id == public_id, Report.organisation_id == user.organisation_id)
    )


def submitted_view(report: Report) -> dict[str, object]:
    """What the submitting reporter sent, in the API's shape (only ever shown to that reporter)."""
    return _view(report, report.count)


def _view(source: Report, count: Callable[[Harm, HarmGroup], int]) -> dict[str, object]:
    def row(obj: object, fields: tuple[str, ...]) -> dict[str, object]:
        return {f: _plain(getattr(obj, f)) for f in fields}

    event_fields = (
        "occurred_on", "occurred_time", "date_precision", "country", "admin1", "admin2", "locality",
        "latitude", "longitude", "location_precision", "incident_type", "narrative", "narrative_language",
        "displaced", "delivery_platform", "platform_model", "platform_manufacturer", "platform_country",
        "munition_type", "munition_model", "munition_manufacturer", "munition_country", "remnants_found",
        "markings", "identification_basis", "identification_confidence", "used_by",
        "source_type", "consent", "risk_to_source",
    )
    view = row(source, event_fields)
    for harm in Harm:
        view[harm.value] = {g.value: count(harm, g) for g in HarmGroup}
    view["victims"] = [row(v, ("name", "age", "age_band", "sex", "harm", "civilian_status", "occupation"))
                       for v in source.victims]
    view["objects_damaged"] = [row(o, ("kind", "extent")) for o in source.objects_damaged]
    view["components"] = [row(c, COMPONENT_FIELDS) for c in source.components]
    view["witnesses"] = [row(w, ("name", "phone", "email", "relation", "may_contact"))
                         for w in source.witnesses]
    view["links"] = [row(link, ("url",)) for link in source.links]
    return view


COMPONENT_FIELDS = ("kind", "model", "manufacturer", "country_of_manufacture", "markings", "serial_number",
                    "lot_number", "part_number", "cage_code", "manufactured_on", "manufacture_date_basis",
                    "identification_basis", "identification_confidence")


def _plain(value: object) -> object:
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if hasattr(value, "value") and isinstance(value, str):
        return value.value  # type: ignore[attr-defined]
    return value
