"""Incidents for verifiers and coordinators: the list, an incident's page, linking, unlinking,
merging and reconciling figures — and the review page's section on duplicates and incidents.

The forms live here, beside their only views, rather than in intake/forms.py: they are small, and
the review workflow is growing forms.py at the same time.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response
from wtforms import HiddenField, IntegerField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from ..duplicates import suggestions_for
from ..enums import Harm
from ..extensions import db
from ..i18n.forms import TranslatedForm
from ..incidents import (
    IncidentError,
    best_grade,
    figure_range,
    figures_of,
    incident_of,
    link_report,
    link_together,
    merge_incidents,
    open_incidents,
    organisation_incident,
    reconcile_figures,
    report_counts,
    reports_of,
    unlink_report,
    weapons_of,
)
from ..models import Incident, IncidentLink, Report
from ..reports import organisation_report
from .access import VERIFIERS, roles_required
from .bidi import isolate_text
from .params import PUBLIC_ID

bp = Blueprint("incidents", __name__, url_prefix="/incidents")
log = logging.getLogger(__name__)

BACK_TO = ("report", "incident")
MAX_FIGURE = 1_000_000


class LinkForm(TranslatedForm):
    """Link a report: with another report (`other`), into an incident (`incident`), or into a new one."""

    report = HiddenField(validators=[DataRequired(), Regexp(PUBLIC_ID)])
    other = HiddenField(validators=[Optional(), Regexp(PUBLIC_ID)])
    incident = SelectField(_l("Incident"), choices=[], validate_choice=False,
                           validators=[Optional(), Regexp(PUBLIC_ID)])


class UnlinkForm(TranslatedForm):
    report = HiddenField(validators=[DataRequired(), Regexp(PUBLIC_ID)])
    back = HiddenField(default="incident")


class MergeForm(TranslatedForm):
    other = SelectField(_l("Incident to merge into this one"), choices=[], validate_choice=False,
                        validators=[DataRequired()])
    back = HiddenField(default="incident")
    report = HiddenField()


FIGURE_HELP = _l("The figure the reports together support, after comparing them.")


class FiguresForm(TranslatedForm):
    """The verifier's reconciled casualty figures, with why."""

    killed = IntegerField(_l("Killed"), [InputRequired(), NumberRange(min=0, max=MAX_FIGURE)], description=FIGURE_HELP)
    injured = IntegerField(_l("Injured"), [InputRequired(), NumberRange(min=0, max=MAX_FIGURE)])
    missing = IntegerField(_l("Missing"), [InputRequired(), NumberRange(min=0, max=MAX_FIGURE)])
    note = TextAreaField(_l("How you reconciled them"), [DataRequired(), Length(min=5, max=2000)],
                         description=_l("Which reports and sources you relied on and why they differ. Stored "
                                        "encrypted and kept out of the audit log; still, refer to people by the "
                                        "pseudonyms shown, not by name."))


# ---- cursor of the incidents list ---------------------------------------------------------------


def _cursor(incident: Incident) -> str:
    raw = f"{incident.updated_at.isoformat()}|{incident.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _position(cursor: str) -> tuple[dt.datetime, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _sep, ident = raw.partition("|")
        when = dt.datetime.fromisoformat(stamp)
        # In UTC, as stored; an id beyond 64 bits (or a time with no UTC form) is no cursor of ours.
        when = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
        number = int(ident) if ident.isascii() and ident.isdigit() else -1
        return (when, number) if 0 <= number < 2**63 else None
    except (ValueError, OverflowError, UnicodeDecodeError, binascii.Error):
        return None


# ---- pages --------------------------------------------------------------------------------------


@bp.route("/")
@roles_required(*VERIFIERS)
def incidents() -> str:
    """The organisation's open incidents, most recently changed first."""
    page_size = int(current_app.config["QUEUE_PAGE_SIZE"])
    query = (select(Incident)
             .where(Incident.organisation_id == current_user.organisation_id, Incident.closed_at.is_(None))
             .order_by(Incident.updated_at.desc(), Incident.id.desc()))
    position = _position(request.args.get("after", "")) if request.args.get("after") else None
    if position is not None:
        query = query.where(tuple_(Incident.updated_at, Incident.id) < tuple_(*position))
    rows = list(db.session.scalars(query.limit(page_size + 1)))
    next_cursor = _cursor(rows[page_size - 1]) if len(rows) > page_size else None
    rows = rows[:page_size]
    return render_template("incidents/list.html", incidents=rows, counts=report_counts(db.session, rows),
                           next_cursor=next_cursor)


def _incident_page(incident: Incident, figures_form: FiguresForm | None = None) -> str:
    reports = reports_of(db.session, incident)
    figures = figures_of(reports)
    if figures_form is None:
        figures_form = FiguresForm(formdata=None, killed=incident.killed, injured=incident.injured,
                                   missing=incident.missing, note=incident.reconciliation_note)
    merge_form = MergeForm(formdata=None)
    merge_form.other.choices = [("", _("— choose —"))] + [
        (i.public_id, i.title) for i in open_incidents(db.session, incident.organisation_id) if i.id != incident.id
    ]
    return render_template(
        "incidents/incident.html", incident=incident, reports=reports, figures=figures,
        ranges={h: figure_range(figures, h) for h in Harm}, weapons=weapons_of(reports),
        best_grade=best_grade(reports),
        figures_form=figures_form, merge_form=merge_form, unlink_form=UnlinkForm(formdata=None),
    )


@bp.route("/<public_id>")
@roles_required(*VERIFIERS)
def incident(public_id: str) -> Response | str:
    found = organisation_incident(db.session, current_user, public_id) or abort(404)
    survivor = found
    for _hop in range(10):  # a merged incident shows the one its reports went to
        if survivor.merged_into is None:
            break
        survivor = survivor.merged_into
    if survivor is not found and survivor.organisation_id == current_user.organisation_id:
        flash(_("That incident was merged into this one."), "info")
        return redirect(url_for("incidents.incident", public_id=survivor.public_id))
    return _incident_page(found)


# ---- actions ------------------------------------------------------------------------------------


def _report_or_404(public_id: str | None) -> Report:
    return organisation_report(db.session, current_user, public_id or "") or abort(404)


def _back(back: str | None, report: Report | None, incident: Incident | None) -> Response:
    if back == "report" and report is not None:
        return redirect(url_for("verify.report", public_id=report.public_id))
    if incident is not None:
        return redirect(url_for("incidents.incident", public_id=incident.public_id))
    return redirect(url_for("incidents.incidents"))


@bp.post("/link")
@roles_required(*VERIFIERS)
def link() -> Response:
    """From the review page: link a report with a suggested one, into a chosen incident, or into a new one."""
    from ..incidents import create_incident

    form = LinkForm()
    if not form.validate_on_submit():
        abort(400)
    report = _report_or_404(form.report.data)
    other = _report_or_404(form.other.data) if form.other.data else None
    target = None
    if form.incident.data:
        target = organisation_incident(db.session, current_user, form.incident.data) or abort(404)
    try:
        if other is not None:
            result = link_together(db.session, current_user, report, other)
        elif target is not None:
            link_report(db.session, current_user, target, report)
            result = target
        else:
            result = create_incident(db.session, current_user, report)
        title, incident_id = result.title, result.id
        db.session.commit()
    except IncidentError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    except IntegrityError:
        # Another verifier linked one of these reports at the same moment (a report is in one incident).
        db.session.rollback()
        flash(_("Someone linked this report at the same moment. Look again and try once more."), "error")
    else:
        log.info("report %s linked into incident %s", report.id, incident_id)
        flash(_("Linked into the incident “%(title)s”.", title=isolate_text(title)), "info")
    return _back("report", report, None)


@bp.post("/<public_id>/unlink")
@roles_required(*VERIFIERS)
def unlink(public_id: str) -> Response:
    found = organisation_incident(db.session, current_user, public_id) or abort(404)
    form = UnlinkForm()
    if not form.validate_on_submit():
        abort(400)
    report = _report_or_404(form.report.data)
    back = form.back.data if form.back.data in BACK_TO else "incident"
    try:
        unlink_report(db.session, current_user, found, report)
    except IncidentError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _back(back, report, found)
    db.session.commit()
    flash(_("The report was taken out of the incident."), "info")
    return _back(back, report, found)


@bp.post("/<public_id>/merge")
@roles_required(*VERIFIERS)
def merge(public_id: str) -> Response:
    found = organisation_incident(db.session, current_user, public_id) or abort(404)
    form = MergeForm()
    if not form.validate_on_submit():
        flash(_("Choose the incident to merge into this one."), "error")
        return _back("incident", None, found)
    other = organisation_incident(db.session, current_user, form.other.data or "") or abort(404)
    report = organisation_report(db.session, current_user, form.report.data) if form.report.data else None
    back = form.back.data if form.back.data in BACK_TO else "incident"
    try:
        kept = merge_incidents(db.session, current_user, found, other)
    except IncidentError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _back(back, report, found)
    db.session.commit()
    flash(_("The incidents were merged: every report is now part of “%(title)s”.",
            title=isolate_text(kept.title)), "info")
    return _back(back, report, kept)


@bp.post("/<public_id>/figures")
@roles_required(*VERIFIERS)
def figures(public_id: str) -> Response | tuple[str, int]:
    found = organisation_incident(db.session, current_user, public_id) or abort(404)
    form = FiguresForm()
    if not form.validate_on_submit():
        return _incident_page(found, figures_form=form), 422
    try:
        reconcile_figures(db.session, current_user, found, killed=int(form.killed.data or 0),
                          injured=int(form.injured.data or 0), missing=int(form.missing.data or 0),
                          note=form.note.data or "")
    except IncidentError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _back("incident", None, found)
    db.session.commit()
    flash(_("The reconciled figures were recorded."), "info")
    return _back("incident", None, found)


# ---- the review page's section (templates/verify/_duplicates_and_incident.html) -----------------


@bp.app_template_global("incident_panel")
def incident_panel(report: Report) -> dict[str, Any]:
    """What the review page shows about a report's incident and its likely duplicates."""
    incident = incident_of(db.session, report)
    suggestions = suggestions_for(db.session, report)
    others = [s.other.id for s in suggestions]
    incident_by_report: dict[int, Incident] = {}
    if others:
        rows = db.session.execute(
            select(IncidentLink.report_id, Incident)
            .join(Incident, Incident.id == IncidentLink.incident_id)
            .where(IncidentLink.report_id.in_(others), Incident.organisation_id == report.organisation_id)
        )
        incident_by_report = {report_id: linked for report_id, linked in rows}
    shown = [s for s in suggestions
             if incident is None or incident_by_report.get(s.other.id) is None
             or incident_by_report[s.other.id].id != incident.id]
    link_form = LinkForm(formdata=None, report=report.public_id)
    if incident is None:
        link_form.incident.choices = [("", _("— choose —"))] + [
            (i.public_id, i.title) for i in open_incidents(db.session, report.organisation_id, limit=50)
        ]
    return {
        "incident": incident,
        "suggestions": shown,
        "incident_by_report": incident_by_report,
        "link_form": link_form,
        "unlink_form": UnlinkForm(formdata=None, report=report.public_id, back="report"),
        "merge_form": MergeForm(formdata=None, report=report.public_id, back="report"),
    }
