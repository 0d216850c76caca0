"""Reviewing a report: claims, the checklist, grades and their second sign-off, comments and
questions to the reporter (design/workflow.md).

Each function takes a session, the report and the person acting, moves the report through
`reports.transition` where its state changes, and appends the audit entry in the same
transaction; the caller commits. Free text — comments, questions, answers, a downgrade's reason —
is sealed under the report's data key and never copied into the audit log.

Two people may press buttons on the same report at the same moment. Every action first makes a
compare-and-set UPDATE of the report's row on the state (and claim) it was shown in: the second
one finds the row changed (PostgreSQL re-checks the condition once the first commits; SQLite
serialises writers) and is refused instead of overwriting the first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from .anonymization import PLACEHOLDER
from .audit import DetailValue, record
from .enums import AuditAction, Grade, ReportState, Role, SourceReliability
from .models import (
    Assessment,
    InfoRequest,
    RedactionCorrection,
    Report,
    ReviewComment,
    StateTransition,
    User,
    new_public_id,
    utcnow,
)
from .pipeline import owe_work
from .reports import VERIFIERS, transition


class ReviewError(ValueError):
    """An action the workflow does not allow now; `str()` is the message for the person acting."""

    def __init__(self, message: Any) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


@dataclass(frozen=True)
class Checklist:
    """The checks a verifier records before grading (design/workflow.md, Grading)."""

    location_verified: bool = False
    time_verified: bool = False
    media_authentic: bool = False
    weapon_checked: bool = False
    independent_sources: int = 0

    @classmethod
    def of(cls, report: Report) -> Checklist:
        return cls(report.location_verified, report.time_verified, report.media_authentic, report.weapon_checked,
                   report.independent_sources)


# ---- helpers ------------------------------------------------------------------------------------


def _audit(session: Session, action: AuditAction, actor: User | None, report: Report,
           **detail: DetailValue) -> None:
    record(action.value, actor=actor, organisation_id=report.organisation_id, target_type="report",
           target_id=report.public_id, detail=detail, session=session)


def _guard(session: Session, report: Report, states: Iterable[ReportState], *,
           claimant: User | None = None, extra: Iterable[ColumnElement[bool]] = ()) -> None:
    """Compare-and-set on the report's row: it is still in one of `states` (and claimed by
    `claimant`), or the action is refused. Holds the row's lock until the transaction ends."""
    conditions = [Report.id == report.id, Report.state.in_(list(states)), *extra]
    if claimant is not None:
        conditions.append(Report.claimed_by_id == claimant.id)
    result = session.execute(
        update(Report).where(*conditions).values(state=Report.state).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ReviewError(_l("Someone else acted on this report meanwhile. Reload it to see where it stands."))


def _require_claimant(report: Report, user: User) -> None:
    if report.state != ReportState.IN_REVIEW or report.claimed_by_id != user.id:
        raise ReviewError(_l("Only the verifier who holds the claim on this report can do this."))


def _hold(report: Report, user: User, now: dt.datetime) -> None:
    report.claimed_by = user
    report.claimed_at = now
    report.last_activity_at = now


def _let_go(report: Report) -> None:
    report.claimed_by = None
    report.claimed_at = None
    report.last_activity_at = None
    report.sign_off_pending = False


def _apply(report: Report, checklist: Checklist) -> None:
    for name, value in asdict(checklist).items():
        setattr(report, name, value)


def _reason(text: str | None) -> str | None:
    return (text or "").strip() or None


def _rerun(session: Session, report: Report, within: int | None) -> None:
    """With `within` (seconds), new free text was typed: the workers owe the report a run that makes
    its anonymized version. Called just before the audit entry, which stays the transaction's last
    write (the report's row, then its job, then the log)."""
    if within is not None:
        owe_work(session, report, within)


# ---- claims -------------------------------------------------------------------------------------


def claim_report(session: Session, report: Report, user: User, now: dt.datetime | None = None) -> None:
    """Take a report waiting in triage for review: triage → in_review, held by `user`."""
    now = now or utcnow()
    if report.state != ReportState.TRIAGE:
        raise ReviewError(_l("Only a report waiting for review can be claimed."))
    _guard(session, report, [ReportState.TRIAGE])
    transition(session, report, ReportState.IN_REVIEW, user).assignee = user
    _hold(report, user, now)
    _audit(session, AuditAction.REPORT_CLAIMED, user, report)


def release_claim(session: Session, report: Report, user: User) -> None:
    """Give a claimed report back to triage (its checklist stays; a grade awaiting sign-off lapses)."""
    _require_claimant(report, user)
    _guard(session, report, [ReportState.IN_REVIEW], claimant=user)
    transition(session, report, ReportState.TRIAGE, user)
    _let_go(report)
    _audit(session, AuditAction.CLAIM_RELEASED, user, report)


def reassign_claim(session: Session, report: Report, coordinator: User, assignee: User,
                   now: dt.datetime | None = None) -> None:
    """A coordinator hands a report in review to another verifier or coordinator of the organisation."""
    now = now or utcnow()
    if report.state != ReportState.IN_REVIEW:
        raise ReviewError(_l("Only a report in review can be reassigned."))
    if (assignee.organisation_id != report.organisation_id or assignee.role not in VERIFIERS
            or not assignee.active):
        raise ReviewError(_l("Choose a verifier or coordinator of your organisation."))
    if assignee.id == report.claimed_by_id:
        raise ReviewError(_l("This report is already with that person."))
    previous = report.claimed_by
    held_by = (Report.claimed_by_id == previous.id) if previous is not None else Report.claimed_by_id.is_(None)
    _guard(session, report, [ReportState.IN_REVIEW], extra=[held_by])
    transition(session, report, ReportState.IN_REVIEW, coordinator).assignee = assignee
    _hold(report, assignee, now)
    _audit(session, AuditAction.CLAIM_REASSIGNED, coordinator, report, assignee=assignee.public_id,
           previous=previous.public_id if previous is not None else None)


def note_activity(report: Report, user: User, now: dt.datetime | None = None, every_seconds: int = 60) -> bool:
    """The claimant is working on the report: push its idle expiry back. True if anything changed
    (at most once a minute, so that reading a report does not write on every page view)."""
    now = now or utcnow()
    if report.state != ReportState.IN_REVIEW or report.claimed_by_id != user.id:
        return False
    if report.last_activity_at is not None and (now - report.last_activity_at).total_seconds() < every_seconds:
        return False
    report.last_activity_at = now
    return True


def expire_idle_claims(session: Session, idle_seconds: int, now: dt.datetime | None = None,
                       limit: int = 200) -> int:
    """Return to triage every claim idle for longer than `idle_seconds` (audited as the system).

    A confirmed grade awaiting its sign-off waits for someone else, not for the claimant: it does
    not expire. Idempotent; the caller commits. Returns how many claims were returned.
    """
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=idle_seconds)
    idle = [Report.state == ReportState.IN_REVIEW, Report.sign_off_pending.is_(False),
            Report.last_activity_at < cutoff]
    returned = 0
    candidates = list(session.scalars(select(Report).where(*idle).order_by(Report.last_activity_at).limit(limit)))
    for report in candidates:
        claimant = report.claimed_by
        try:
            # Activity that arrived since the select wins over the expiry.
            _guard(session, report, [ReportState.IN_REVIEW], extra=idle[1:])
        except ReviewError:
            continue
        transition(session, report, ReportState.TRIAGE)
        _let_go(report)
        _audit(session, AuditAction.CLAIM_EXPIRED, None, report,
               claimant=claimant.public_id if claimant is not None else None, idle_seconds=idle_seconds)
        returned += 1
    return returned


# ---- checklist, grade and sign-off ----------------------------------------------------------------


def save_checklist(session: Session, report: Report, user: User, checklist: Checklist,
                   now: dt.datetime | None = None, grade: Grade | None = None,
                   reliability: SourceReliability | None = None) -> None:
    """Record the claimant's checks so far, without grading; the grade and reliability chosen on the
    form (if any) are kept as the draft the form shows chosen again, not put in force."""
    _require_claimant(report, user)
    _guard(session, report, [ReportState.IN_REVIEW], claimant=user)
    _apply(report, checklist)
    report.draft_grade, report.draft_source_reliability = grade, reliability
    report.last_activity_at = now or utcnow()
    draft = {name: choice.value for name, choice in (("draft_grade", grade), ("draft_reliability", reliability))
             if choice is not None}
    _audit(session, AuditAction.CHECKLIST_SAVED, user, report, **asdict(checklist), **draft)


def is_downgrade(report: Report, grade: Grade) -> bool:
    """A grade weaker than the one in force (kept through a reopening) must say why."""
    return report.grade is not None and grade.rank < report.grade.rank


def grade_report(session: Session, report: Report, user: User, checklist: Checklist, grade: Grade,
                 reliability: SourceReliability, reason: str | None = None,
                 now: dt.datetime | None = None, rerun_within: int | None = None) -> Assessment:
    """Grade the report the claimant holds.

    Any grade but "confirmed" verifies the report at once. "Confirmed" keeps it in review, awaiting
    a second person's sign-off (`sign_off`); grading again replaces the grade awaiting it.
    """
    now = now or utcnow()
    _require_claimant(report, user)
    reason = _reason(reason)
    downgrade = is_downgrade(report, grade)
    if downgrade and reason is None:
        raise ReviewError(_l("Lowering the grade from %(old)s to %(new)s needs a reason.",
                             old=report.grade.label if report.grade else "", new=grade.label))
    _guard(session, report, [ReportState.IN_REVIEW], claimant=user)
    _apply(report, checklist)
    report.draft_grade = report.draft_source_reliability = None  # graded: the draft has served
    assessment = Assessment(report=report, grade=grade, source_reliability=reliability, assessed_by=user,
                            assessed_at=now, **asdict(checklist))
    if reason is not None:
        assessment.reason = reason
    session.add(assessment)
    if grade == Grade.CONFIRMED:
        report.sign_off_pending = True
        report.last_activity_at = now
    else:
        transition(session, report, ReportState.VERIFIED, user)
        report.grade, report.source_reliability = grade, reliability
        _let_go(report)
    _rerun(session, report, rerun_within if reason is not None else None)
    _audit(session, AuditAction.REPORT_GRADED, user, report, grade=grade.value, reliability=reliability.value,
           sign_off="pending" if grade == Grade.CONFIRMED else "not_needed", downgrade=downgrade)
    return assessment


def sign_off(session: Session, report: Report, user: User, now: dt.datetime | None = None) -> Assessment:
    """A second person confirms a "confirmed" grade: the report is verified. Never its own grader."""
    now = now or utcnow()
    pending = report.pending_assessment
    if report.state != ReportState.IN_REVIEW or pending is None:
        raise ReviewError(_l("No grade on this report awaits a sign-off."))
    if pending.assessed_by_id == user.id:
        raise ReviewError(_l("You gave this grade yourself: a different verifier or a coordinator must sign it off."))
    _guard(session, report, [ReportState.IN_REVIEW], extra=[Report.sign_off_pending.is_(True)])
    # With the row held, the grade signed is still the latest one (a regrade would have come after).
    latest = session.scalar(select(func.max(Assessment.id)).where(Assessment.report_id == report.id))
    if latest != pending.id:
        raise ReviewError(_l("Someone else acted on this report meanwhile. Reload it to see where it stands."))
    pending.signed_off_by = user
    pending.signed_off_at = now
    transition(session, report, ReportState.VERIFIED, user)
    report.grade, report.source_reliability = pending.grade, pending.source_reliability
    _let_go(report)
    _audit(session, AuditAction.GRADE_SIGNED_OFF, user, report, grade=pending.grade.value,
           graded_by=pending.assessed_by.public_id)
    return pending


def downgrade_report(session: Session, report: Report, coordinator: User, grade: Grade, reason: str | None,
                     now: dt.datetime | None = None, rerun_within: int | None = None) -> Assessment:
    """A coordinator lowers the grade of a verified report, for a reason, without reopening it."""
    now = now or utcnow()
    reason = _reason(reason)
    current = report.grade
    if report.state != ReportState.VERIFIED or current is None:
        raise ReviewError(_l("Only the grade of a verified report can be lowered."))
    if grade.rank >= current.rank:
        raise ReviewError(_l("Choose a grade weaker than %(grade)s; to raise a grade, reopen the report.",
                             grade=current.label))
    if reason is None:
        raise ReviewError(_l("Say why the grade is lowered."))
    _guard(session, report, [ReportState.VERIFIED], extra=[Report.grade == current])
    assessment = Assessment(report=report, grade=grade,
                            source_reliability=report.source_reliability or SourceReliability.F,
                            assessed_by=coordinator, assessed_at=now, **asdict(Checklist.of(report)))
    assessment.reason = reason
    session.add(assessment)
    report.grade = grade
    _rerun(session, report, rerun_within)
    _audit(session, AuditAction.REPORT_DOWNGRADED, coordinator, report, from_grade=current.value,
           to_grade=grade.value)
    return assessment


# ---- leaving review -----------------------------------------------------------------------------


def reject_report(session: Session, report: Report, user: User, reason: str | None,
                  rerun_within: int | None = None) -> None:
    """The claimant rejects the report, saying why."""
    _require_claimant(report, user)
    reason = _reason(reason)
    if reason is None:
        raise ReviewError(_l("Say why the report is rejected."))
    _guard(session, report, [ReportState.IN_REVIEW], claimant=user)
    transition(session, report, ReportState.REJECTED, user, reason=reason)
    _let_go(report)
    _rerun(session, report, rerun_within)
    _audit(session, AuditAction.REPORT_REJECTED, user, report)


def reopen_report(session: Session, report: Report, coordinator: User, reason: str | None,
                  now: dt.datetime | None = None, rerun_within: int | None = None) -> None:
    """A coordinator takes a verified or rejected report back into review (and holds its claim)."""
    now = now or utcnow()
    if coordinator.role != Role.COORDINATOR:
        raise ReviewError(_l("Only a coordinator can reopen a report."))
    if report.state not in (ReportState.VERIFIED, ReportState.REJECTED):
        raise ReviewError(_l("Only a verified or rejected report can be reopened."))
    reason = _reason(reason)
    if reason is None:
        raise ReviewError(_l("Say why the report is reopened."))
    was = report.state
    _guard(session, report, [was])
    transition(session, report, ReportState.IN_REVIEW, coordinator, reason=reason).assignee = coordinator
    _hold(report, coordinator, now)
    _rerun(session, report, rerun_within)
    _audit(session, AuditAction.REPORT_REOPENED, coordinator, report, from_state=was.value)


def mark_duplicate(session: Session, report: Report, user: User, original: Report) -> None:
    """The claimant records that `report` describes what `original` (same organisation) already does."""
    _require_claimant(report, user)
    if original.organisation_id != report.organisation_id or original.id == report.id:
        raise ReviewError(_l("Give the receipt code of another report of your organisation."))
    seen = original
    for _hop in range(100):  # a duplicate of a duplicate … must not lead back here
        if seen.duplicate_of is None:
            break
        if seen.duplicate_of_id == report.id:
            raise ReviewError(_l("That report is itself marked as a duplicate of this one."))
        seen = seen.duplicate_of
    _guard(session, report, [ReportState.IN_REVIEW], claimant=user)
    transition(session, report, ReportState.DUPLICATE, user)
    report.duplicate_of = original
    _let_go(report)
    _audit(session, AuditAction.REPORT_DUPLICATE, user, report, duplicate_of=original.public_id)


# ---- comments and questions to the reporter -------------------------------------------------------


def add_comment(session: Session, report: Report, user: User, text: str,
                now: dt.datetime | None = None, rerun_within: int | None = None) -> ReviewComment:
    """A verifier's note in the report's timeline (sealed: comments quote people)."""
    now = now or utcnow()
    comment = ReviewComment(report=report, author=user, created_at=now)
    comment.text = text.strip()
    session.add(comment)
    note_activity(report, user, now, every_seconds=0)
    _rerun(session, report, rerun_within)
    _audit(session, AuditAction.COMMENT_ADDED, user, report)
    return comment


def ask_reporter(session: Session, report: Report, user: User, question: str,
                 now: dt.datetime | None = None, rerun_within: int | None = None) -> InfoRequest:
    """The claimant asks the reporter for more: the report waits in needs_info for the answer."""
    now = now or utcnow()
    _require_claimant(report, user)
    _guard(session, report, [ReportState.IN_REVIEW], claimant=user)
    request = InfoRequest(public_id=new_public_id(), report=report, asked_by=user, asked_at=now)
    request.question = question.strip()
    session.add(request)
    transition(session, report, ReportState.NEEDS_INFO, user)
    _let_go(report)
    _rerun(session, report, rerun_within)
    _audit(session, AuditAction.INFO_REQUESTED, user, report, request=request.public_id)
    return request


def answer_question(session: Session, report: Report, reporter: User, answer: str, files_added: int = 0,
                    now: dt.datetime | None = None) -> InfoRequest:
    """The report's own reporter answers the open question: the report goes back to triage.

    The caller stores any new files first, then owes the report a pipeline run and dispatches it
    after the commit.
    """
    now = now or utcnow()
    request = report.open_question
    if report.reporter_id != reporter.id or report.state != ReportState.NEEDS_INFO or request is None:
        raise ReviewError(_l("This report has no question waiting for your answer."))
    _guard(session, report, [ReportState.NEEDS_INFO])
    request.answer = answer.strip()
    request.answered_at = now
    request.files_added = files_added
    transition(session, report, ReportState.TRIAGE, reporter)
    _audit(session, AuditAction.INFO_ANSWERED, reporter, report, request=request.public_id, files=files_added)
    return request


# ---- corrections of the anonymization ------------------------------------------------------------

# The one kind of redaction whose lifting shows nobody: words a verifier hid as "something else" (a
# town, a weapon). Every other kind the engine or a verifier makes — a person, phone, e-mail, ID,
# address, position, link or account number — says who someone is or how to reach or find them, and
# so does any kind not known here: lifting it is a reveal.
NAMELESS_KINDS = frozenset({"OTHER"})


def placeholder_kind(placeholder: str) -> str:
    found = PLACEHOLDER.fullmatch(placeholder)
    return found.group(1) if found else "OTHER"


def lifting_reveals(placeholder: str) -> bool:
    """Lifting this redaction shows an identity, a contact or a position (so it needs a reason)."""
    found = PLACEHOLDER.fullmatch(placeholder)
    return found is None or found.group(1) not in NAMELESS_KINDS


def hide_words(session: Session, report: Report, user: User, surface: str, entity_type: str,
               rerun_within: int | None = None) -> None:
    """Hide more: every occurrence of `surface` (sealed in the correction; the log has only the kind)."""
    session.add(RedactionCorrection(report=report, actor_id=user.id, kind="add", entity_type=entity_type,
                                    surface=surface.strip()))
    _rerun(session, report, rerun_within)
    _audit(session, AuditAction.ANONYMIZATION_CORRECTED, user, report, kind="add", type=entity_type)


def lift_redaction(session: Session, report: Report, user: User, placeholder: str,
                   reason: str | None, rerun_within: int | None = None) -> int:
    """Show what a redaction hides, in the report's anonymized view from the next run on.

    Lifting a name, a contact, an ID or a position is a reveal, audited as one with its typed reason
    (without the words). What it shows stays sealed under the report's data key, like the whole
    anonymized view, and goes with it. Returns how many different words the redaction stood for.
    """
    reveals = lifting_reveals(placeholder)
    reason = _reason(reason)
    if reveals and reason is None:
        raise ReviewError(_l("Lifting this redaction shows who or where someone is: say why."))
    surfaces = list((report.redaction_map or {}).get(placeholder, []))
    kind = placeholder_kind(placeholder)
    session.add_all(RedactionCorrection(report=report, actor_id=user.id, kind="remove", entity_type=kind,
                                        surface=surface) for surface in surfaces)
    _rerun(session, report, rerun_within)
    if reveals:
        _audit(session, AuditAction.REPORT_REVEALED, user, report, fields="lifted_redaction",
               placeholder=placeholder, type=kind, occurrences=len(surfaces), reason=reason)
    else:
        _audit(session, AuditAction.ANONYMIZATION_CORRECTED, user, report, kind="remove",
               placeholder=placeholder, occurrences=len(surfaces))
    return len(surfaces)


# ---- the timeline -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a report's timeline. `kind` is transition, comment, grade, sign_off, question,
    answer or file (added after the report was handed to the verifiers); `item` is the row it comes from."""

    at: dt.datetime
    kind: str
    actor: User | None
    item: Any


def timeline(report: Report) -> list[TimelineEntry]:
    """Every transition, comment, grade, sign-off, question and answer of a report, oldest first."""
    entries: list[tuple[dt.datetime, int, TimelineEntry]] = []

    def add(at: dt.datetime, order: int, kind: str, actor: User | None, item: Any) -> None:
        entries.append((at, order, TimelineEntry(at, kind, actor, item)))

    step: StateTransition
    for step in report.transitions:
        add(step.at, 2, "transition", step.actor, step)
    for assessment in report.assessments:
        add(assessment.assessed_at, 1, "grade", assessment.assessed_by, assessment)
        if assessment.signed_off_at is not None:
            add(assessment.signed_off_at, 1, "sign_off", assessment.signed_off_by, assessment)
    for comment in report.comments:
        add(comment.created_at, 0, "comment", comment.author, comment)
    for request in report.info_requests:
        add(request.asked_at, 1, "question", request.asked_by, request)
        if request.answered_at is not None:
            add(request.answered_at, 1, "answer", report.reporter, request)
    # Files that arrived after the workers handed the report to the verifiers (an answer's files).
    handed_over = min((t.at for t in report.transitions if t.from_state == ReportState.RECEIVED), default=None)
    if handed_over is not None:
        for attachment in report.attachments:
            if attachment.created_at > handed_over:
                add(attachment.created_at, 1, "file", report.reporter, attachment)
    return [entry for _at, _order, entry in sorted(entries, key=lambda e: (e[0], e[1]))]
