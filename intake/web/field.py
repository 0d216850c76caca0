"""What field staff use: the report form, the receipt, and "My reports"."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import validate_csrf
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from .. import notices, quotas
from ..casualties import report_in_disagreements
from ..dispatch import dispatch_report
from ..enums import Channel, ReportState
from ..extensions import csrf, db
from ..forms import REPEATABLE, ReportForm
from ..media import UploadRefused, discard_upload, settle_stash, store_upload
from ..models import Attachment
from ..pipeline import owe_work
from ..reports import being_filed, own_report, questions_waiting, reports_of, stashed_uploads, submit_report
from ..review import ReviewError, answer_question
from ..review_forms import AnswerForm
from ..schema import SUBMISSION_ID_RE, unstorable_text
from ..submissions import journal_entry
from .access import SUBMITTERS, roles_required
from .bidi import isolate_text

bp = Blueprint("field", __name__)
log = logging.getLogger(__name__)


@bp.context_processor
def _suggestions() -> dict[str, object]:
    from ..forms import weapon_facts, weapon_suggestions

    return {"weapon_suggestions": weapon_suggestions, "weapon_facts": weapon_facts}


@bp.route("/reports/new", methods=["GET", "POST"])
@csrf.exempt  # checked in the view, so an expired token re-shows the form instead of a bare 400
@roles_required(*SUBMITTERS)
def new_report() -> Response | str | tuple[str, int] | tuple[str, int, dict[str, str]]:
    form = ReportForm()
    if request.method == "GET":
        form.submission_id.data = ReportForm.new_submission_id()
        return render_template("field/new_report.html", form=form, uploads={})

    if not csrf_valid(form):
        # An expired page (hours on a slow link) or a forged post: nothing is stored, nothing of
        # what was typed is lost; the page now carries a fresh token for the next press of send.
        return render_template("field/new_report.html", form=form, uploads={}, csrf_expired=True), 400
    submission_id = form.submission_id.data or ""
    if not SUBMISSION_ID_RE.fullmatch(submission_id):
        # Not something our form sends; start the form afresh rather than guess.
        abort(400)
    # A second click, or a retry after a lost connection: the report exists, show its receipt.
    existing = journal_entry(db.session, current_user, submission_id)
    if existing is not None:
        return redirect(url_for("field.receipt", public_id=existing.public_id))

    uploads, refusals = keep_uploads(form, submission_id)
    db.session.commit()

    row_action = request.form.get("row_action", "")
    if row_action:
        show_refusals(form, refusals)
        apply_row_action(form, row_action)
        return render_template("field/new_report.html", form=form, uploads=uploads,
                               has_errors=bool(refusals))

    valid = form.validate()
    # Place the schema's errors even when WTForms already found some, so every problem shows at once.
    data = form.report_in()
    show_refusals(form, refusals)
    if not valid or data is None or refusals:
        return render_template("field/new_report.html", form=form, uploads=uploads,
                               has_errors=True), 422
    # More people listed with a harm than the table counts: asked once, not refused (the reporter
    # may know the table is right); "Send it as it is" sends, and the priority uses the larger.
    casualty_warning = report_in_disagreements(data)
    if casualty_warning and request.form.get("casualties_confirmed") != "yes":
        return render_template("field/new_report.html", form=form, uploads=uploads,
                               casualty_warning=casualty_warning), 422
    # A database failure from here on is answered by the app's handler (web/errors.py): the form
    # comes back with everything typed and says the report was not sent.
    config = current_app.config
    # The same limit on reports per user as the API's (intake.quotas); what was typed and the kept
    # files stay on the form.
    waits = quotas.report_allowed(config, None, current_user.id)
    if waits is not None:
        page = render_template("field/new_report.html", form=form, uploads=uploads, retry_after=waits)
        return page, 429, {"Retry-After": str(waits)}
    # The report adopts the data key its kept uploads were sealed with.
    stash_key = next((a.data_key for a in uploads.values()), None)
    submission = submit_report(db.session, current_user, data, Channel.WEB, submission_id,
                               deadline_seconds=config["PIPELINE_DEADLINE_SECONDS"], data_key=stash_key)
    # The kept uploads go with the report in the same transaction, once each; on a second press
    # that lost the race, its copies of the same files are removed and any other file is added.
    attached = settle_stash(db.session, config, submission.report, current_user, submission_id)
    if not submission.created and attached:
        owe_work(db.session, submission.report, config["PIPELINE_DEADLINE_SECONDS"])
    db.session.commit()
    if submission.created or attached:
        if submission.created:
            log.info("report %s received via web", submission.report.id)
        dispatch_report(submission.report.id)
    return redirect(url_for("field.receipt", public_id=submission.report.public_id))


def csrf_valid(form: ReportForm) -> bool:
    try:
        validate_csrf(form.csrf_token.data)
    except ValidationError:
        return False
    return True


def keep_uploads(form: ReportForm, stash_key: str) -> tuple[dict[str, Attachment], dict[int, str]]:
    """Store newly chosen files in the form's stash and apply changes to those kept before.

    Returns the kept uploads by public id, and the refusal message of each row whose file was not
    accepted. Everything else on the form stays as typed.
    """
    config = current_app.config
    kept: dict[str, Attachment] = {}
    refused: dict[int, str] = {}
    # One query for the whole stash; a row can only name an upload of this reporter and this form.
    stash = {a.public_id: a for a in stashed_uploads(db.session, current_user, stash_key)}
    for index, entry in enumerate(form.attachments):
        row = entry.form
        upload = row.file.data
        attachment: Attachment | None = None
        if row.upload_id.data:
            attachment = stash.get(row.upload_id.data)
            if attachment is None:
                row.upload_id.data = ""
        if attachment is None and upload is not None and getattr(upload, "filename", None):
            try:
                attachment, created = store_upload(
                    db.session, config, upload.stream, upload.filename, current_user, stash_key=stash_key
                )
                if created and quotas.count_upload(config, current_user.id, attachment.size) is not None:
                    discard_upload(db.session, config, attachment)
                    raise UploadRefused(_("%(name)s was not accepted: this account has uploaded as much as it "
                                          "may in one day.", name=attachment.original_filename))
                row.upload_id.data = attachment.public_id
            except UploadRefused as exc:
                refused[index] = str(exc)
                continue
        if attachment is None:
            continue
        if row.remove.data:
            discard_upload(db.session, config, attachment)
            row.upload_id.data = ""
            row.description.data = ""
            row.captured_at.data = None
            row.remove.data = False
            continue
        # Captured time and description follow what is on the form now; an unreadable time is
        # reported by the form's own validation and leaves the stored value alone.
        if row.captured_at.raw_data and row.captured_at.data is not None:
            attachment.captured_at = row.captured_at.data
        elif not (row.captured_at.raw_data and row.captured_at.raw_data[0]):
            attachment.captured_at = None
        description = (row.description.data or "").strip() or None
        if description is None or not unstorable_text(description):
            attachment.description = description  # else the form's validation says why it was not kept
        kept[attachment.public_id] = attachment
    return kept, refused


def show_refusals(form: ReportForm, refusals: dict[int, str]) -> None:
    """Put each refused file's message on its row (after validation, which resets errors)."""
    for index, message in refusals.items():
        form.attachments[index].form.file.errors = [message]


def apply_row_action(form: ReportForm, action: str) -> None:
    """`add:victims` or `remove:victims:2` from the buttons that work without JavaScript."""
    verb, _, rest = action.partition(":")
    list_name, _, index = rest.partition(":")
    if list_name not in REPEATABLE:
        return
    if verb == "add":
        form.add_row(list_name)
    elif verb == "remove" and index.isdigit():
        form.remove_row(list_name, int(index))


@bp.route("/reports/<public_id>/receipt")
@roles_required(*SUBMITTERS)
def receipt(public_id: str) -> str:
    report = own_report(db.session, current_user, public_id) or abort(404)
    return render_template("field/receipt.html", report=report)


@bp.app_context_processor
def _questions_waiting() -> dict[str, object]:
    """For the menu: how many of the signed-in submitter's reports wait for their answer."""
    if not current_user.is_authenticated or current_user.role not in SUBMITTERS:
        return {}
    try:
        return {"questions_waiting": questions_waiting(db.session, current_user)}
    except SQLAlchemyError:
        return {}  # an error page while the database is away still renders, without the count


@bp.route("/my-reports")
@roles_required(*SUBMITTERS)
def my_reports() -> str:
    # Reports waiting for the reporter's answer first (newest first within each group).
    reports = sorted(reports_of(db.session, current_user), key=lambda r: r.state != ReportState.NEEDS_INFO)
    config = current_app.config
    return render_template("field/my_reports.html", reports=reports,
                           being_filed=being_filed(db.session, current_user), entry_state=ReportState.RECEIVED,
                           answered=request.args.get("answered"), notices_offered=notices.configured(config),
                           notices_by_email=notices.email_configured(config))


@bp.post("/my-reports/notices")
@roles_required(*SUBMITTERS)
def question_notices() -> Response:
    """Turn notices of waiting questions on or off (the submitter's own choice)."""
    if not FlaskForm().validate_on_submit() or not notices.configured(current_app.config):
        abort(400)
    current_user.notify_questions = request.form.get("notify") == "on"
    db.session.commit()
    flash(_("You will be told when a question waits for you.") if current_user.notify_questions
          else _("You will not be told when a question waits; it still shows here."), "info")
    return redirect(url_for("field.my_reports"))



@bp.route("/reports/<public_id>/answer", methods=["GET", "POST"])
@roles_required(*SUBMITTERS)
def answer(public_id: str) -> Response | str | tuple[str, int]:
    """The reporter answers a verifier's question, with text and optionally more files; the report
    goes back to triage and the workers run again on what is new. Only its own reporter (404)."""
    report = own_report(db.session, current_user, public_id) or abort(404)
    question = report.open_question
    if report.state != ReportState.NEEDS_INFO or question is None:
        return redirect(url_for("field.my_reports"))
    form = AnswerForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("field/answer.html", report=report, question=question, form=form), status
    config = current_app.config
    added = 0
    had_already: list[str] = []
    try:
        for upload in form.files.data or []:
            if not getattr(upload, "filename", None):
                continue
            attachment, created = store_upload(db.session, config, upload.stream, upload.filename, current_user,
                                               report=report)
            if created and quotas.count_upload(config, current_user.id, attachment.size) is not None:
                raise UploadRefused(_("%(name)s was not accepted: this account has uploaded as much as it "
                                      "may in one day.", name=attachment.original_filename))
            added += int(created)
            if not created:
                had_already.append(upload.filename)
        answer_question(db.session, report, current_user, form.answer.data or "", files_added=added)
    except (UploadRefused, ReviewError) as exc:
        # Nothing is kept (files stored so far go with the rollback); what was typed stays.
        db.session.rollback()
        form.files.errors = [str(exc)] if isinstance(exc, UploadRefused) else []
        if isinstance(exc, ReviewError):
            form.answer.errors = [str(exc)]
        return render_template("field/answer.html", report=report, question=question, form=form), 422
    # What is new (the answer, and any file) is owed a pipeline run, in the same transaction.
    owe_work(db.session, report, config["PIPELINE_DEADLINE_SECONDS"])
    db.session.commit()
    dispatch_report(report.id)
    log.info("report %s: reporter answered a question (%d new files)", report.id, added)
    for name in had_already:
        # The same bytes as a file the report has: nothing is lost, but the reporter should know that
        # the verifier will not see a new photo.
        flash(_("%(name)s is already part of this report (the same file was sent before): it was not "
                "added a second time.", name=isolate_text(name)), "info")
    return redirect(url_for("field.my_reports", answered=report.public_id))
