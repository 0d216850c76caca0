"""Who used a report's weapon in the conflict: the state the report names (`Report.used_by`, filed with
the report like every other field) and the one a verifier assessed at review (`used_by_assessed`),
which, once set, is the one the diversion indicator reads."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ..audit import record
from ..enums import AuditAction, ReportState
from ..models import Report, User
from ..schema import check_country


class UseError(ValueError):
    """An assessment that cannot be recorded as asked (the message is for the verifier)."""


def user_in_conflict(report: Report) -> tuple[str | None, str]:
    """The state that used the report's weapon and on what it rests: ("AZ", "assessed" | "reported")."""
    if report.used_by_assessed:
        return report.used_by_assessed, "assessed"
    return report.used_by, "reported"


def assess_used_by(session: Session, report: Report, verifier: User, state: str | None) -> bool:
    """Record the verifier's assessment of who used the weapon (None: not assessed, the reported one
    stands); audited with the reported and the assessed value. Only the claimant of a report in review
    may, like every other part of the review. Whether anything changed."""
    if report.organisation_id != verifier.organisation_id:
        raise UseError(_("Not found."))
    if report.state != ReportState.IN_REVIEW or report.claimed_by_id != verifier.id:
        raise UseError(_("Only the verifier who holds the claim on this report can do this."))
    value = check_country(state) if state else None
    if value == report.used_by_assessed:
        return False
    previous = report.used_by_assessed
    report.used_by_assessed = value
    session.flush()
    record(AuditAction.USED_BY_ASSESSED.value, actor=verifier, organisation_id=report.organisation_id,
           target_type="report", target_id=report.public_id,
           detail={"reported": report.used_by, "assessed": value, "before": previous}, session=session)
    return True
