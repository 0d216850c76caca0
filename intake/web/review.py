"""The actions on a report's page: claim, release, reassign, checklist and grade, sign-off, reject,
reopen, downgrade, duplicate, comments and questions to the reporter.

Each view reads like the others: find the report in the user's organisation (404 otherwise), check
the form, call the domain (`intake.review`), commit, redirect back to the report. A refused form
comes back with everything typed; a step the workflow refuses comes back with the reason why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response

from .. import notices
from ..dispatch import dispatch_question_notice, dispatch_report
from ..enums import Grade, SourceReliability
from ..extensions import db
from ..models import Report, User
from ..reports import is_receipt_code, normalise_receipt_code, organisation_report
from ..review import (
    Checklist,
    ReviewError,
    add_comment,
    ask_reporter,
    claim_report,
    downgrade_report,
    grade_report,
    is_downgrade,
    mark_duplicate,
    reassign_claim,
    reject_report,
    release_claim,
    reopen_report,
    save_checklist,
    sign_off,
)
from ..review_forms import (
    AssessmentForm,
    CommentForm,
    DuplicateForm,
    QuestionForm,
    ReasonForm,
)
from .access import COORDINATORS, VERIFIERS, roles_required
from .report_page import downgrade_form, item_form, reassign_form, render_report_page

bp = Blueprint("review", __name__, url_prefix="/queue/reports")
log = logging.getLogger(__name__)

PageResult = Response | tuple[str, int]


def _found(public_id: str) -> Report:
    report = organisation_report(db.session, current_user, public_id)
    if report is None:
        abort(404)
    return report


def _page(report: Report, status: int, error: str | None = None, **forms: Any) -> tuple[str, int]:
    if error:
        flash(error, "error")
    return render_report_page(report, forms=forms), status


def _rerun_within() -> int:
    """The deadline of the run the workers owe a report given new free text (see `review._rerun`)."""
    return int(current_app.config["PIPELINE_DEADLINE_SECONDS"])


def _done(report: Report, message: str, anonymize: bool = False) -> Response:
    """Commit; with `anonymize`, new free text was added, the step recorded the run the workers owe
    the report to make its anonymized version, and that run is dispatched after the commit."""
    db.session.commit()
    if anonymize:
        dispatch_report(report.id)
    flash(message, "info")
    return redirect(url_for("verify.report", public_id=report.public_id))


def _refused(report: Report, exc: ReviewError, **forms: Any) -> tuple[str, int]:
    db.session.rollback()
    return _page(report, 409, str(exc), **forms)


def _plain_action(public_id: str, act: Callable[[Report], object], message: str) -> PageResult:
    """An action without fields (claim, release, sign-off): only the CSRF token is checked."""
    report = _found(public_id)
    if not FlaskForm().validate_on_submit():
        return _page(report, 400, _("The page had expired; try again."))
    try:
        act(report)
    except ReviewError as exc:
        return _refused(report, exc)
    return _done(report, message)


@bp.post("/<public_id>/claim")
@roles_required(*VERIFIERS)
def claim(public_id: str) -> PageResult:
    return _plain_action(public_id, lambda report: claim_report(db.session, report, current_user),
                         _("You hold the claim on this report now."))


@bp.post("/<public_id>/release")
@roles_required(*VERIFIERS)
def release(public_id: str) -> PageResult:
    return _plain_action(public_id, lambda report: release_claim(db.session, report, current_user),
                         _("The report is back in triage."))


@bp.post("/<public_id>/sign-off")
@roles_required(*VERIFIERS)
def sign_off_grade(public_id: str) -> PageResult:
    return _plain_action(public_id, lambda report: sign_off(db.session, report, current_user),
                         _("Signed off: the report is verified as confirmed."))


@bp.post("/<public_id>/reassign")
@roles_required(*COORDINATORS)
def reassign(public_id: str) -> PageResult:
    report = _found(public_id)
    form = reassign_form(report, submitted=True)
    if not form.validate_on_submit():
        return _page(report, 422, reassign_form=form, open_action="reassign")
    assignee = db.session.scalar(select(User).where(User.public_id == form.assignee.data,
                                                    User.organisation_id == current_user.organisation_id))
    if assignee is None:
        abort(404)
    try:
        reassign_claim(db.session, report, current_user, assignee)
    except ReviewError as exc:
        return _refused(report, exc, reassign_form=form, open_action="reassign")
    return _done(report, _("The report was given to %(email)s.", email=assignee.email))


@bp.post("/<public_id>/assessment")
@roles_required(*VERIFIERS)
def assessment(public_id: str) -> PageResult:
    report = _found(public_id)
    form = AssessmentForm(prefix="assess")
    form.grading = request.form.get("action") == "grade"
    if not form.validate_on_submit():
        return _page(report, 422, assessment_form=form)
    checklist = Checklist(bool(form.location_verified.data), bool(form.time_verified.data),
                          bool(form.media_authentic.data), bool(form.weapon_checked.data),
                          int(form.independent_sources.data or 0))
    try:
        if not form.grading:
            # The grade and reliability already chosen stay chosen (they are not put in force).
            save_checklist(db.session, report, current_user, checklist,
                           grade=Grade(form.grade.data) if form.grade.data else None,
                           reliability=SourceReliability(form.source_reliability.data)
                           if form.source_reliability.data else None)
            return _done(report, _("Checklist saved."))
        grade = Grade(form.grade.data)
        if is_downgrade(report, grade) and not (form.reason.data or "").strip():
            form.reason.errors = [_("Lowering the grade needs a reason.")]
            return _page(report, 422, assessment_form=form)
        reliability = SourceReliability(form.source_reliability.data)
        grade_report(db.session, report, current_user, checklist, grade, reliability, form.reason.data,
                     rerun_within=_rerun_within())
    except ReviewError as exc:
        return _refused(report, exc, assessment_form=form)
    typed = bool((form.reason.data or "").strip())  # a reason is anonymized like a comment
    if grade == Grade.CONFIRMED:
        return _done(report, _("Graded confirmed. A different verifier or a coordinator must now sign it off."),
                     anonymize=typed)
    return _done(report, _("Graded %(grade)s: the report is verified.", grade=grade.label), anonymize=typed)


def _with_reason(public_id: str, prefix: str, step: Callable[..., object], done: str) -> PageResult:
    """A step that needs a typed reason (reject, reopen): the form comes back with what was typed when
    the reason is missing or the step is refused."""
    report = _found(public_id)
    form = ReasonForm(prefix=prefix)
    forms: dict[str, Any] = {f"{prefix}_form": form, "open_action": prefix}
    if not form.validate_on_submit():
        return _page(report, 422, **forms)
    try:
        step(db.session, report, current_user, form.reason.data, rerun_within=_rerun_within())
    except ReviewError as exc:
        return _refused(report, exc, **forms)
    return _done(report, done, anonymize=True)


@bp.post("/<public_id>/reject")
@roles_required(*VERIFIERS)
def reject(public_id: str) -> PageResult:
    return _with_reason(public_id, "reject", reject_report, _("The report was rejected."))


@bp.post("/<public_id>/reopen")
@roles_required(*COORDINATORS)
def reopen(public_id: str) -> PageResult:
    return _with_reason(public_id, "reopen", reopen_report, _("The report is in review again, with you."))


@bp.post("/<public_id>/downgrade")
@roles_required(*COORDINATORS)
def downgrade(public_id: str) -> PageResult:
    report = _found(public_id)
    form = downgrade_form(report, submitted=True)
    if not form.validate_on_submit():
        return _page(report, 422, downgrade_form=form, open_action="downgrade")
    try:
        downgrade_report(db.session, report, current_user, Grade(form.grade.data), form.reason.data,
                         rerun_within=_rerun_within())
    except ReviewError as exc:
        return _refused(report, exc, downgrade_form=form, open_action="downgrade")
    return _done(report, _("The grade was lowered."), anonymize=True)


@bp.post("/<public_id>/duplicate")
@roles_required(*VERIFIERS)
def duplicate(public_id: str) -> PageResult:
    report = _found(public_id)
    form = DuplicateForm(prefix="duplicate")
    if not form.validate_on_submit():
        return _page(report, 422, duplicate_form=form, open_action="duplicate")
    code = normalise_receipt_code(form.original.data or "")
    if not is_receipt_code(code):
        form.original.errors = [_("A receipt code has eight letters and digits, like 38XN-C6A0.")]
        return _page(report, 422, duplicate_form=form, open_action="duplicate")
    original = db.session.scalar(select(Report).where(Report.receipt_code == code,
                                                      Report.organisation_id == current_user.organisation_id))
    if original is None:
        form.original.errors = [_("No report of your organisation has this receipt code.")]
        return _page(report, 422, duplicate_form=form, open_action="duplicate")
    try:
        mark_duplicate(db.session, report, current_user, original)
    except ReviewError as exc:
        return _refused(report, exc, duplicate_form=form, open_action="duplicate")
    return _done(report, _("Marked as a duplicate of %(code)s.", code=original.receipt_code))


@bp.post("/<public_id>/comments")
@roles_required(*VERIFIERS)
def comment(public_id: str) -> PageResult:
    report = _found(public_id)
    form = CommentForm(prefix="comment")
    if not form.validate_on_submit():
        return _page(report, 422, comment_form=form)
    add_comment(db.session, report, current_user, form.text.data or "", rerun_within=_rerun_within())
    return _done(report, _("Comment added."), anonymize=True)


@bp.post("/<public_id>/question")
@roles_required(*VERIFIERS)
def question(public_id: str) -> PageResult:
    report = _found(public_id)
    form = QuestionForm(prefix="question")
    if not form.validate_on_submit():
        return _page(report, 422, question_form=form, open_action="question")
    try:
        asked = ask_reporter(db.session, report, current_user, form.question.data or "",
                             rerun_within=_rerun_within())
    except ReviewError as exc:
        return _refused(report, exc, question_form=form, open_action="question")
    done = _done(report, _("The question was sent to the reporter; the report waits for the answer."),
                 anonymize=True)
    if notices.configured(current_app.config):
        dispatch_question_notice(asked.id)  # committed by _done: the worker finds the row
    return done


@bp.post("/<public_id>/items/<key>")
@roles_required(*VERIFIERS)
def assess_item(public_id: str, key: str) -> PageResult:
    """The claimant confirms or corrects the identification of one item (audited)."""
    from ..enums import IdentificationBasis, IdentificationConfidence
    from ..items import Identification, report_items
    from ..items.assessment import assess_item as assess

    report = _found(public_id)
    item = next((i for i in report_items(report) if i.key == key), None)
    if item is None:
        abort(404)
    form = item_form(report, item, submitted=True)
    forms: dict[str, Any] = {"item_form": form, "item_key": key}
    if not form.validate_on_submit():
        return _page(report, 422, **forms)
    values = Identification(
        (form.designation.data or "").strip() or None, (form.manufacturer.data or "").strip() or None,
        form.country.data or None,
        IdentificationConfidence(form.identification_confidence.data) if form.identification_confidence.data
        else None,
        IdentificationBasis(form.identification_basis.data) if form.identification_basis.data else None)
    try:
        assess(db.session, report, current_user, key, values, list(form.files.data or []))
    except ReviewError as exc:
        return _refused(report, exc, **forms)
    return _done(report, _("The identification of %(item)s was saved.", item=item.kind_label))
