"""The verifiers' first view: the triage queue and a read-only report page.

Until anonymization lands, a verifier sees only the publishable fields of a report; identifying and
sensitive ones are counted, not shown. Revealing them (with a reason, audited) is the verification
workspace's.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user

from ..enums import IncidentType, ReportState
from ..extensions import db
from ..queue import queue_page
from ..reports import organisation_report
from .access import VERIFIERS, roles_required

bp = Blueprint("verify", __name__, url_prefix="/queue")


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


@bp.route("/reports/<public_id>")
@roles_required(*VERIFIERS)
def report(public_id: str) -> str:
    found = organisation_report(db.session, current_user, public_id) or abort(404)
    return render_template("verify/report.html", report=found)
