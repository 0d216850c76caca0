"""The verifiers' first view: the triage queue and a read-only report page.

Until anonymization lands, a verifier sees only the publishable fields of a report; identifying and
sensitive ones are counted, not shown. Revealing them (with a reason, audited) is the verification
workspace's.
"""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask import (
    Response as FlaskResponse,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from ..dispatch import dispatch_report
from ..enums import IncidentType, ReportState
from ..extensions import db
from ..pipeline import dead_jobs, retry_job
from ..queue import queue_page
from ..reports import organisation_report
from .access import COORDINATORS, VERIFIERS, roles_required

bp = Blueprint("verify", __name__, url_prefix="/queue")
log = logging.getLogger(__name__)


@bp.route("/")
@roles_required(*VERIFIERS)
def queue() -> str:
    incident_type = None
    if raw := request.args.get("incident_type"):
        try:
            incident_type = IncidentType(raw)
        except ValueError:
            abort(400)
    page = queue_page(
        db.session,
        current_user.organisation_id,
        ReportState.TRIAGE,
        incident_type=incident_type,
        after=request.args.get("after"),
        page_size=current_app.config["QUEUE_PAGE_SIZE"],
    )
    return render_template("verify/queue.html", page=page, incident_type=incident_type)


@bp.route("/held")
@roles_required(*COORDINATORS)
def held() -> str:
    """Reports whose processing failed again and again, held for a coordinator (the dead letters)."""
    return render_template("verify/held.html", jobs=dead_jobs(db.session, current_user.organisation_id))


@bp.post("/held/<public_id>/retry")
@roles_required(*COORDINATORS)
def retry(public_id: str) -> Response:
    report_id = retry_job(db.session, current_user.organisation_id, public_id,
                          current_app.config["PIPELINE_DEADLINE_SECONDS"]) or abort(404)
    db.session.commit()
    dispatch_report(report_id)
    log.info("report %s: processing retried by a coordinator", report_id)
    flash(_("The report was handed to the workers again."), "info")
    return redirect(url_for("verify.held"))


@bp.route("/export.csv")
@roles_required(*COORDINATORS)
def export_csv() -> FlaskResponse:
    """The organisation's reports in one state as an anonymized CSV (publishable fields only)."""
    from ..audit import record
    from ..exports import exportable_reports, write_csv

    try:
        state = ReportState(request.args.get("state", ReportState.VERIFIED.value))
    except ValueError:
        abort(400)
    record("export.csv", actor=current_user, organisation_id=current_user.organisation_id,
           detail={"state": state.value})
    db.session.commit()
    rows = write_csv(exportable_reports(db.session, current_user.organisation_id, state))
    response = FlaskResponse(stream_with_context(rows), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="reports-{state.value}.csv"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/reports/<public_id>")
@roles_required(*VERIFIERS)
def report(public_id: str) -> str:
    found = organisation_report(db.session, current_user, public_id) or abort(404)
    return render_template("verify/report.html", report=found)
