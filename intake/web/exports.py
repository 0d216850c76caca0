"""The coordinators' exports page: choose format, reports or incidents, and tier; download.

Every download — this page, the queue's old CSV link, the JSON API and `intake export` — goes
through `intake.exports.build_export`, so one policy decides what leaves. The export is written
whole (to a spooled temporary file) before the first byte is sent: the public tier's k-anonymity
check must pass on every row first, and the audit entry carries the row count.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask import Response as FlaskResponse
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectField

from ..exports import Export, ExportBlocked, ExportSpec, Format, Of, Tier, audit_export, build_export
from ..extensions import db
from ..forms import opts
from ..i18n.forms import TranslatedForm
from ..models import User
from .access import COORDINATORS, roles_required

bp = Blueprint("exports", __name__, url_prefix="/exports")

FORMAT_CHOICES = [
    (Format.CSV.value, _l("CSV — our columns, with grade, source reliability, incident and precision codes")),
    (Format.GEOJSON.value, _l("GeoJSON — coarse cells on a map (RFC 7946)")),
    (Format.HXL.value, _l("HXL — CSV with Humanitarian Exchange Language hashtags")),
    (Format.ACLED.value, _l("ACLED — ACLED's columns, our civilian counts beside theirs")),
]
OF_CHOICES = [(Of.REPORTS.value, _l("Verified reports")), (Of.INCIDENTS.value, _l("Incidents"))]
TIER_CHOICES = [
    (Tier.PUBLIC.value, _l("Public — small counts suppressed, places and dates generalised, checked (k ≥ 5)")),
    (Tier.PARTNER.value, _l("Partner — item-level detail for named partners (never exact places or identities)")),
]


class ExportForm(TranslatedForm):
    """A GET form: choosing an export changes nothing, so it carries no CSRF token."""

    class Meta:
        csrf = False

    format = SelectField(_l("Format"), choices=opts(FORMAT_CHOICES), default=Format.CSV.value)
    of = SelectField(_l("Export"), choices=opts(OF_CHOICES), default=Of.REPORTS.value)
    tier = SelectField(_l("Tier"), choices=opts(TIER_CHOICES), default=Tier.PUBLIC.value)


def prepared(spec: ExportSpec, user: User, via: str) -> Export:
    """Build the export of `user`'s organisation and audit it (committed before anything is sent)."""
    export = build_export(db.session, user.organisation_id, spec, current_app.config)
    try:
        audit_export(db.session, export, actor=user, organisation_id=user.organisation_id, via=via)
        db.session.commit()
    except BaseException:
        export.close()
        raise
    return export


def file_response(export: Export) -> FlaskResponse:
    """The export as a download, streamed from its temporary file."""
    response = FlaskResponse(export.chunks(), mimetype=export.spec.media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{export.spec.filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Export-Rows"] = str(export.rows)
    return response


def _page(form: ExportForm, status: int = 200, blocked: str | None = None) -> tuple[str, int]:
    return render_template("exports/index.html", form=form, blocked=blocked), status


@bp.route("/")
@roles_required(*COORDINATORS)
def index() -> tuple[str, int]:
    return _page(ExportForm(request.args))


@bp.route("/download")
@roles_required(*COORDINATORS)
def download() -> FlaskResponse | tuple[str, int]:
    """The chosen export as a file (400 for a choice not on the form, 409 when the check blocks it)."""
    form = ExportForm(request.args)
    if not form.validate():
        return _page(form, 400)
    spec = ExportSpec.parse(form.format.data, form.of.data, form.tier.data)
    try:
        export = prepared(spec, current_user, "web")
    except ExportBlocked:
        db.session.rollback()
        return _page(form, 409, blocked=_("The export was blocked: a released count could identify people. "
                                          "Nothing was exported."))
    return file_response(export)


@bp.route("/notes")
@roles_required(*COORDINATORS)
def notes() -> Any:
    """What an export suppresses and why, as JSON (the same run as the download; not audited, it
    releases no row)."""
    form = ExportForm(request.args)
    if not form.validate():
        return {"error": "bad_request", "message": "Choose a format, reports or incidents, and a tier."}, 400
    spec = ExportSpec.parse(form.format.data, form.of.data, form.tier.data)
    try:
        export = build_export(db.session, current_user.organisation_id, spec, current_app.config)
    except ExportBlocked:
        db.session.rollback()
        return {"error": "export_blocked", "message": "A released count could identify people."}, 409
    export.close()
    db.session.rollback()
    return export.notes
