"""The verifiers' views: the queue (tabs, filters, sorts), a report page, reveals, files, corrections,
held work and exports. The actions on a report (claims, grades, comments, questions) are in
`review.py`; the page itself is rendered by `report_page.py`.

A verifier sees the publishable fields and the workers' anonymized view (itself sealed under the
report's data key); identifying and sensitive fields are counted, not shown, until the verifier reveals
one group of them, lifts the redaction of a name or contact, or downloads an original file, for a typed
reason written to the audit log first. Cleaned copies need no reason but every one served is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import (
    Response as FlaskResponse,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from ..crypto import SealBroken
from ..dispatch import dispatch_report
from ..enums import (
    AttachmentStatus,
    AuditAction,
    DeliveryPlatform,
    Grade,
    IncidentType,
    QueueSort,
    QueueTab,
    ReportState,
)
from ..extensions import db
from ..forms import HideMoreForm, OriginalFileForm, RevealForm, opts
from ..media import ALLOWED_TYPES
from ..pipeline import dead_jobs, retry_job
from ..queue import Filters, queue_page
from ..reports import organisation_report
from ..review import ReviewError, hide_words, lift_redaction, note_activity
from ..review_forms import QueueFilterForm
from ..submissions import held_submissions, retry_submission
from .access import COORDINATORS, VERIFIERS, roles_required
from .report_page import colleagues, lift_form, render_report_page

bp = Blueprint("verify", __name__, url_prefix="/queue")
log = logging.getLogger(__name__)


@bp.route("/")
@roles_required(*VERIFIERS)
def queue() -> str:
    """One tab of the queue, filtered and sorted; each tab shows its count under the same filters."""
    try:
        tab = QueueTab(request.args.get("tab") or QueueTab.TRIAGE.value)
    except ValueError:
        abort(400)
    people = colleagues(current_user.organisation_id)
    form = QueueFilterForm(request.args)
    form.claimed_by.choices = opts([("", _("Anyone"))] + [(p.public_id, p.email) for p in people])
    if not form.validate():
        # Only a hand-made URL gets here (the form offers valid choices); say which filter is wrong.
        abort(400)
    data = form.data
    claimant = next((p for p in people if p.public_id == data["claimed_by"]), None)
    filters = Filters(
        incident_type=IncidentType(data["incident_type"]) if data["incident_type"] else None,
        occurred_from=data["occurred_from"],
        occurred_to=data["occurred_to"],
        admin1=(data["admin1"] or "").strip() or None,
        delivery_platform=DeliveryPlatform(data["delivery_platform"]) if data["delivery_platform"] else None,
        munition=(data["munition"] or "").strip() or None,
        grade=Grade(data["grade"]) if data["grade"] else None,
        has_media={"yes": True, "no": False}.get(data["has_media"] or ""),
        claimed_by_id=claimant.id if claimant is not None else None,
    )
    sort = QueueSort(data["sort"] or QueueSort.PRIORITY.value)
    page = queue_page(
        db.session,
        current_user.organisation_id,
        current_user.id,
        tab,
        filters=filters,
        sort=sort,
        after=request.args.get("after"),
        page_size=current_app.config["QUEUE_PAGE_SIZE"],
        count_cap=current_app.config["QUEUE_COUNT_CAP"],
    )
    # The filters as query arguments, for the tabs and the next page's link.
    kept = {name: request.args[name] for name in form.data if request.args.get(name)}
    return render_template("verify/queue.html", page=page, tab=tab, form=form, kept=kept, sort=sort,
                           filtered=bool(filters.conditions()),
                           count_cap=current_app.config["QUEUE_COUNT_CAP"])


@bp.route("/held")
@roles_required(*COORDINATORS)
def held() -> str:
    """Reports whose processing failed again and again, held for a coordinator (the dead letters)."""
    organisation_id = current_user.organisation_id
    return render_template("verify/held.html", jobs=dead_jobs(db.session, organisation_id),
                           submissions=held_submissions(db.session, organisation_id))


@bp.post("/held/<public_id>/retry")
@roles_required(*COORDINATORS)
def retry(public_id: str) -> Response:
    from ..audit import record

    report_id = retry_job(db.session, current_user.organisation_id, public_id,
                          current_app.config["PIPELINE_DEADLINE_SECONDS"]) or abort(404)
    record(AuditAction.PROCESSING_RETRIED.value, actor=current_user, target_type="report", target_id=public_id)
    db.session.commit()
    dispatch_report(report_id)
    log.info("report %s: processing retried by a coordinator", report_id)
    flash(_("The report was handed to the workers again."), "info")
    return redirect(url_for("verify.held"))


@bp.post("/held/submissions/<public_id>/retry")
@roles_required(*COORDINATORS)
def retry_filing(public_id: str) -> Response:
    """A submission that could not be filed goes back to the workers' relay with fresh attempts."""
    from ..audit import record

    retry_submission(db.session, current_user.organisation_id, public_id) or abort(404)
    record(AuditAction.FILING_RETRIED.value, actor=current_user, target_type="submission", target_id=public_id)
    db.session.commit()
    log.info("submission %s: filing retried by a coordinator", public_id)
    flash(_("The report was handed to the workers again."), "info")
    return redirect(url_for("verify.held"))


@bp.route("/export.csv")
@roles_required(*COORDINATORS)
def export_csv() -> FlaskResponse:
    """The organisation's reports in one state as the partner tier's CSV (the queue's first export,
    kept for the links and scripts that use it): the same code path as every export (intake.exports)."""
    from ..exports import ExportSpec, Format, Of, Tier
    from .exports import file_response, prepared

    try:
        state = ReportState(request.args.get("state", ReportState.VERIFIED.value))
    except ValueError:
        abort(400)
    export = prepared(ExportSpec(Format.CSV, Of.REPORTS, Tier.PARTNER, state), current_user, "web")
    response = file_response(export)
    response.headers["Content-Disposition"] = f'attachment; filename="reports-{state.value}.csv"'
    return response


@bp.post("/reports/<public_id>/redactions")
@roles_required(*VERIFIERS)
def correct_redactions(public_id: str) -> Response | tuple[str, int]:
    """Hide more, or lift a redaction: kept as a correction (evaluation data), audited, and applied by
    the workers on a new run of the report's pipeline. Lifting a name, a contact, an ID or a position
    is a reveal: it needs a typed reason and is audited as one (`review.lift_redaction`)."""
    found = organisation_report(db.session, current_user, public_id) or abort(404)
    if found.erased:
        flash(_("The originals of this report were erased; there is nothing to correct."), "error")
        return render_report_page(found), 410
    action = request.form.get("action")
    deadline = int(current_app.config["PIPELINE_DEADLINE_SECONDS"])
    if action == "hide":
        hide = HideMoreForm(prefix="hide")
        if not hide.validate_on_submit():
            return render_report_page(found, hide_form=hide), 422
        hide_words(db.session, found, current_user, hide.surface.data or "", hide.entity_type.data or "OTHER",
                   rerun_within=deadline)
    elif action == "lift":
        lift = lift_form(found, formdata=True)
        if not lift.validate_on_submit():
            return render_report_page(found, lift=lift), 422
        try:
            lift_redaction(db.session, found, current_user, lift.placeholder.data or "", lift.reason.data,
                           rerun_within=deadline)
        except ReviewError as exc:
            db.session.rollback()
            lift.reason.errors = [str(exc)]
            return render_report_page(found, lift=lift), 422
    else:
        abort(400)
    db.session.commit()
    dispatch_report(found.id)
    flash(_("Your correction was saved; the anonymized account is being made again."), "info")
    return redirect(url_for("verify.report", public_id=found.public_id))


@bp.route("/reports/<public_id>")
@roles_required(*VERIFIERS)
def report(public_id: str) -> str:
    found = organisation_report(db.session, current_user, public_id) or abort(404)
    if note_activity(found, current_user):
        db.session.commit()  # the claimant reading their report keeps the claim from expiring
    return render_report_page(found)


@bp.post("/reports/<public_id>/reveal")
@roles_required(*VERIFIERS)
def reveal(public_id: str) -> tuple[str, int] | str:
    """Show one group of a report's original fields, once, for a typed reason that goes to the audit log."""
    from ..audit import record

    found = organisation_report(db.session, current_user, public_id) or abort(404)
    form = RevealForm(prefix="reveal")
    if not form.validate_on_submit():
        return render_report_page(found, reveal_form=form), 422
    if found.erased:
        flash(_("The originals of this report were erased; there is nothing to reveal."), "error")
        return render_report_page(found), 410
    record(AuditAction.REPORT_REVEALED.value, actor=current_user, target_type="report", target_id=found.public_id,
           detail={"fields": form.what.data, "reason": (form.reason.data or "").strip()})
    db.session.commit()
    log.info("report %s: originals (%s) revealed to a verifier", found.id, form.what.data)
    return render_report_page(found, revealed=form.what.data)


def _file_response(chunks: Iterator[bytes], mimetype: str) -> FlaskResponse:
    """A stored file, decrypted chunk by chunk; a missing or broken file fails before any byte is sent."""
    try:
        first = next(chunks, b"")
    except (FileNotFoundError, SealBroken):
        abort(409)

    def stream() -> Iterator[bytes]:
        yield first
        yield from chunks

    response = FlaskResponse(stream(), mimetype=mimetype)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# Derivatives shown in the page itself; everything else only as a download.
INLINE_TYPES = frozenset({"image/jpeg", "image/png"})


@bp.route("/reports/<public_id>/files/<file_id>/copy")
@roles_required(*VERIFIERS)
def derivative_file(public_id: str, file_id: str) -> FlaskResponse:
    """The worker-made copy of a file (no metadata, faces in photos covered): what verifiers see.

    Every copy served is audited, a photo shown in the page as much as a download: a copy still
    shows what the file shows (a PDF keeps its pages, a video the faces in it), and the endpoint
    cannot tell an <img> from a saved file. The entry is written before the first byte is sent.
    """
    from ..audit import record
    from ..media import read_derivative

    found = organisation_report(db.session, current_user, public_id) or abort(404)
    attachment = next((a for a in found.attachments if a.public_id == file_id), None) or abort(404)
    if attachment.derivative_storage_name is None or attachment.derivative_media_type is None or found.erased:
        abort(404)
    media_type = attachment.derivative_media_type
    inline = media_type in INLINE_TYPES
    chunks = read_derivative(current_app.config, attachment)
    record(AuditAction.COPY_SERVED.value, actor=current_user, target_type="attachment",
           target_id=attachment.public_id,
           detail={"report": found.public_id, "copy": media_type, "sha256": attachment.derivative_sha256 or "",
                   "shown": "inline" if inline else "download"})
    db.session.commit()
    response = _file_response(chunks, media_type if inline else "application/octet-stream")
    extension = ALLOWED_TYPES.get(media_type, "bin").lower()
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="copy-{attachment.sha256[:12]}.{extension}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    if attachment.derivative_size is not None:
        response.headers["Content-Length"] = str(attachment.derivative_size)
    return response


@bp.post("/reports/<public_id>/files/<file_id>/original")
@roles_required(*VERIFIERS)
def original_file(public_id: str, file_id: str) -> FlaskResponse | tuple[str, int]:
    """The original file as a download, for a typed reason that goes to the audit log."""
    from ..audit import record
    from ..media import read_original

    found = organisation_report(db.session, current_user, public_id) or abort(404)
    attachment = next((a for a in found.attachments if a.public_id == file_id), None) or abort(404)
    form = OriginalFileForm()
    if not form.validate_on_submit():
        return render_report_page(found, file_form=form, file_error=file_id), 422
    if attachment.status == AttachmentStatus.ERASED or found.erased:
        abort(410)
    record(AuditAction.ORIGINAL_DOWNLOADED.value, actor=current_user, target_type="attachment",
           target_id=attachment.public_id,
           detail={"report": found.public_id, "sha256": attachment.sha256, "reason": (form.reason.data or "").strip()})
    db.session.commit()
    extension = ALLOWED_TYPES.get(attachment.media_type, "bin").lower()
    response = _file_response(read_original(current_app.config, attachment), "application/octet-stream")
    response.headers["Content-Disposition"] = f'attachment; filename="original-{attachment.sha256[:12]}.{extension}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Length"] = str(attachment.size)
    return response
