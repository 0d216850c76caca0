"""Evidence packs for coordinators: ask for one, watch the worker build it, download the bag.

`packs.new` takes `country=`, `manufacturer=`, `component=`, `platform=`, `from=` and `to=` in its
query to fill the form in (the dashboard links to it). Asking writes a pack job (audited, with the
reason for a restricted pack), commits, then queues the job's id on the media queue; the job's
page shows its progress (reload it: no script is needed) and, once done, the download — the bag as
one zip, audited.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask import Response as FlaskResponse
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..dispatch import dispatch_pack
from ..evidence import PackError, PackSpec, PackTier, Selector, SelectorError
from ..evidence.build import MIN_REASON
from ..evidence.jobs import audit_download, organisation_job, read_pack, recent_jobs, request_pack
from ..extensions import db
from ..forms import opts
from ..i18n.forms import TranslatedForm
from .access import COORDINATORS, roles_required
from .params import PUBLIC_ID

bp = Blueprint("packs", __name__, url_prefix="/packs")

KIND_CHOICES = [("country", _l("Country of manufacture")), ("component", _l("Component")),
                ("platform", _l("Weapon system or munition")), ("manufacturer", _l("Manufacturer"))]
TIER_CHOICES = [
    ("public", _l("Public — aggregates, working copies of media, coarse places; small counts suppressed")),
    ("partner", _l("Partner — item-level detail, coarse places, no originals")),
    ("restricted", _l("Restricted — originals and exact places; needs a reason, audited")),
]
STATES = {"queued": _l("Queued"), "running": _l("Building"), "done": _l("Ready"), "failed": _l("Failed"),
          "expired": _l("Erased after its keeping time")}


class PackForm(TranslatedForm):
    kind = SelectField(_l("Select by"), choices=opts(KIND_CHOICES), default="country")
    value = StringField(_l("Name or code"), [DataRequired(), Length(max=200)],
                        description=_l("As the weapon catalogue knows it, in any spelling: MX-15D or MX 15D; "
                                       "CA or Canada."))
    date_from = DateField(_l("Events from"), [Optional()])
    date_to = DateField(_l("Events until"), [Optional()])
    tier = SelectField(_l("Tier"), choices=opts(TIER_CHOICES), default="public")
    reason = TextAreaField(_l("Reason (restricted tier only)"), [Optional(), Length(max=1000)],
                           description=_l("Why originals and exact places are needed. Recorded in the audit log: "
                                          "do not name anyone."))

    def validate_reason(self, field: Any) -> None:
        from wtforms.validators import ValidationError

        if self.tier.data == "restricted" and len((field.data or "").strip()) < MIN_REASON:
            raise ValidationError(_("A restricted pack needs a reason of at least %(num)d characters.",
                                    num=MIN_REASON))


def _prefilled() -> PackForm:
    """The form filled in from the query: the first of country, component, platform, manufacturer."""
    args = request.args
    data: dict[str, Any] = {}
    for kind in ("country", "component", "platform", "manufacturer"):
        if args.get(kind):
            data = {"kind": kind, "value": args[kind][:200]}
            break
    form = PackForm(formdata=None, **data)
    for name, arg in (("date_from", "from"), ("date_to", "to")):
        text = args.get(arg, "")
        if text:
            field = getattr(form, name)
            field.process_formdata([text])
            if field.data is None:
                field.raw_data = [text[:10]]
    return form


def _page(form: PackForm, status: int = 200, problem: str | None = None) -> tuple[str, int]:
    jobs = recent_jobs(db.session, current_user.organisation_id)
    return render_template("packs/new.html", form=form, jobs=jobs, states=STATES, problem=problem), status


@bp.route("/new")
@roles_required(*COORDINATORS)
def new() -> tuple[str, int]:
    return _page(_prefilled())


@bp.post("/")
@roles_required(*COORDINATORS)
def create() -> Response | tuple[str, int]:
    """Write the job, commit, then queue its id."""
    form = PackForm()
    if not form.validate():
        return _page(form, 422)
    try:
        selector = Selector.parse(form.kind.data or "", form.value.data or "", form.date_from.data, form.date_to.data)
        job = request_pack(db.session, current_user, PackSpec(selector, PackTier(form.tier.data),
                                                              form.reason.data))
    except (SelectorError, PackError):
        db.session.rollback()
        form.value.errors = [*form.value.errors, _("Check the name or code and the dates.")]
        return _page(form, 422)
    db.session.commit()
    dispatch_pack(job.id)
    return redirect(url_for("packs.job", public_id=job.public_id))


def _job_or_404(public_id: str) -> Any:
    if not re.match(PUBLIC_ID, public_id):
        abort(404)
    return organisation_job(db.session, current_user, public_id) or abort(404)


@bp.route("/<public_id>/")
@roles_required(*COORDINATORS)
def job(public_id: str) -> str:
    found = _job_or_404(public_id)
    return render_template("packs/job.html", job=found, states=STATES,
                           tiers=dict(TIER_CHOICES), kinds=dict(KIND_CHOICES))


@bp.post("/<public_id>/queue")
@roles_required(*COORDINATORS)
def queue_again(public_id: str) -> Response:
    """Queue a job again whose message was lost (the broker was down): ids only, as always."""
    found = _job_or_404(public_id)
    if found.state in ("queued", "running"):
        dispatch_pack(found.id)
    db.session.rollback()
    return redirect(url_for("packs.job", public_id=public_id))


@bp.route("/<public_id>/download")
@roles_required(*COORDINATORS)
def download(public_id: str) -> FlaskResponse:
    """The bag as one zip; the download is audited before the first byte goes out."""
    found = _job_or_404(public_id)
    if found.state != "done" or found.storage_name is None:
        abort(404)
    chunks = read_pack(current_app.config, found)
    audit_download(db.session, found, current_user)
    db.session.commit()
    response = FlaskResponse(chunks, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{found.bag_name}.zip"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    if found.size is not None:
        response.headers["Content-Length"] = str(found.size)
    return response
