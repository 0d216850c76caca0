"""Transfer records for coordinators (list, new, edit, delete; verifiers read them), the verifier's
"used by, as assessed" on the review page, and the diversion indicators shown on the review page and
the incident page (intake/transfers).

A verifier of the organisation who opens a coordinator's page gets 403: they may see the records, so
the page's existence is no secret to them. Anyone of another organisation gets 404, as everywhere.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from pydantic import ValidationError
from werkzeug.wrappers import Response
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms import URLField as _URLField
from wtforms.validators import Length, Optional

from ..enums import ReportState, Role, TransferItemKind, TransferSourceKind
from ..extensions import db
from ..forms import CountryNameField, blank_choice, opts, storable_text
from ..i18n.forms import TranslatedForm
from ..incidents import reports_of
from ..models import Incident, Report, Transfer
from ..reports import organisation_report
from ..schema import errors_by_field
from ..transfers import (
    Indicator,
    TransferError,
    TransferIn,
    assess_used_by,
    create_transfer,
    delete_transfer,
    diversion_indicators,
    items_of,
    organisation_transfer,
    reasoning,
    transfers_of,
    update_transfer,
)
from ..transfers.records import as_input, format_period
from ..transfers.use import UseError
from .access import VERIFIERS, roles_required
from .bidi import isolate
from .params import PUBLIC_ID

bp = Blueprint("transfers", __name__)
log = logging.getLogger(__name__)

LIST_LIMIT = 500  # an organisation records dozens of transfers, not thousands
# Reports whose items count on an incident page: not those found not credible or duplicates.
SET_ASIDE = (ReportState.REJECTED, ReportState.DUPLICATE)


class TransferForm(TranslatedForm):
    """One transfer record; the rules are `TransferIn`'s, shared with `intake transfer add`."""

    exporting_state = CountryNameField(_l("Exporting state"))
    importing_state = CountryNameField(_l("Importing state"))
    end_user = StringField(_l("Authorised end user"), [Optional(), Length(max=200)],
                           description=_l("As the source names it, e.g. Baykar or the Ministry of Defence."))
    end_user_state = CountryNameField(_l("End user's state (if not the importing state)"))
    designation = StringField(_l("Item"), [Optional(), Length(max=200)],
                              description=_l("Its designation, e.g. MX-15D: matched with the weapon catalogue."),
                              render_kw={"list": "catalogue-items", "autocomplete": "off"})
    item_kind = SelectField(_l("Kind of item"), default="",
                            choices=opts(blank_choice(_l("— from the weapon catalogue —"))
                                         + TransferItemKind.choices()))
    quantity = IntegerField(_l("Quantity"), [Optional()], render_kw={"inputmode": "numeric", "min": 1})
    date = StringField(_l("Date"), [Optional(), Length(max=10)],
                       description=_l("As precise as the source: 2020-05-14, 2020-05 or 2020."),
                       render_kw={"placeholder": "2020-05", "dir": "ltr"})
    source_kind = SelectField(_l("Public source"), default="",
                              choices=opts(blank_choice() + TransferSourceKind.choices()))
    source_citation = TextAreaField(_l("Citation"), [Optional(), Length(max=1000), storable_text],
                                    description=_l("Enough to find the line again: the document, the page or "
                                                   "row, and its date."), render_kw={"rows": 2})
    source_url = _URLField(_l("Web address of the source"), [Optional(), Length(max=2000)])
    notes = TextAreaField(_l("Notes"), [Optional(), Length(max=5000), storable_text],
                          description=_l("Public facts only: this record may be published."), render_kw={"rows": 3})

    def transfer_in(self) -> TransferIn | None:
        """The schema's reading of what was typed, or None with the errors put on the fields."""
        data = {name: self[name].data for name in TransferIn.model_fields}
        try:
            return TransferIn.model_validate(data)
        except ValidationError as exc:
            for path, messages in errors_by_field(exc.errors()).items():
                field = self[path.split(".")[0]] if path.split(".")[0] in self._fields else self.designation
                if not isinstance(field.errors, list):
                    field.errors = []
                if not field.errors:
                    field.errors.extend(messages)
            return None

    def error_summary(self) -> list[tuple[str, str, str]]:
        return [(f.id, str(f.label.text), str(f.errors[0])) for f in self if f.errors and f.name != "csrf_token"]


class UsedByForm(TranslatedForm):
    """The verifier's assessment of who used the weapon (blank: the reported one stands)."""

    used_by_assessed = CountryNameField(_l("Used by, as assessed"),
                                        description=_l("Leave empty to keep the state the report names."))


def _coordinator_only() -> None:
    if current_user.role != Role.COORDINATOR:
        abort(403)


def _catalogue_items() -> list[str]:
    from ..forms import weapon_suggestions

    names = weapon_suggestions()
    return sorted({*names.get("platform", []), *names.get("munition", []), *names.get("component", [])},
                  key=str.casefold)


def _form_page(form: TransferForm, transfer: Transfer | None, status: int = 200) -> tuple[str, int]:
    return render_template("transfers/form.html", form=form, transfer=transfer,
                           catalogue_items=_catalogue_items()), status


@bp.route("/transfers/")
@roles_required(*VERIFIERS)
def transfers() -> str:
    """The organisation's transfer records, latest transfer first."""
    rows = transfers_of(db.session, current_user.organisation_id, limit=LIST_LIMIT)
    return render_template("transfers/list.html", transfers=rows, period=format_period,
                           may_edit=current_user.role == Role.COORDINATOR, delete_form=TranslatedForm(formdata=None))


@bp.route("/transfers/new", methods=["GET", "POST"])
@roles_required(*VERIFIERS)
def new_transfer() -> Response | tuple[str, int]:
    _coordinator_only()
    form = TransferForm()
    if not form.is_submitted():
        return _form_page(form, None)
    data = _checked(form)
    if data is None:
        return _form_page(form, None, 422)
    transfer = create_transfer(db.session, current_user.organisation_id, current_user, data)
    db.session.commit()
    log.info("transfer record %s created", transfer.id)
    flash(_("The transfer record was saved."), "info")
    return redirect(url_for("transfers.transfers"))


def _checked(form: TransferForm) -> TransferIn | None:
    """The form's own checks (CSRF, a number that is no number) and the schema's, every error at once."""
    valid = form.validate()
    data = form.transfer_in()
    return data if valid else None


def _transfer_or_404(public_id: str) -> Transfer:
    if not re.fullmatch(PUBLIC_ID, public_id):
        abort(404)
    return organisation_transfer(db.session, current_user.organisation_id, public_id) or abort(404)


@bp.route("/transfers/<public_id>/edit", methods=["GET", "POST"])
@roles_required(*VERIFIERS)
def edit_transfer(public_id: str) -> Response | tuple[str, int]:
    transfer = _transfer_or_404(public_id)
    _coordinator_only()
    form = TransferForm(data=as_input(transfer))  # what was typed, on a submit; the record, at first
    if not form.is_submitted():
        return _form_page(form, transfer)
    data = _checked(form)
    if data is None:
        return _form_page(form, transfer, 422)
    try:
        changed = update_transfer(db.session, current_user, transfer, data)
    except TransferError:
        db.session.rollback()
        abort(404)
    db.session.commit()
    flash(_("The transfer record was saved.") if changed else _("Nothing was changed."), "info")
    return redirect(url_for("transfers.transfers"))


@bp.post("/transfers/<public_id>/delete")
@roles_required(*VERIFIERS)
def remove_transfer(public_id: str) -> Response:
    transfer = _transfer_or_404(public_id)
    _coordinator_only()
    if not TranslatedForm().validate_on_submit():
        abort(400)
    delete_transfer(db.session, current_user, transfer)
    db.session.commit()
    flash(_("The transfer record was deleted."), "info")
    return redirect(url_for("transfers.transfers"))


@bp.post("/queue/reports/<public_id>/used-by")
@roles_required(*VERIFIERS)
def used_by(public_id: str) -> Response | tuple[str, int]:
    """The claimant records who, as they assess it, used the weapon; audited."""
    from .report_page import render_report_page

    report = organisation_report(db.session, current_user, public_id) or abort(404)
    form = UsedByForm(prefix="used")
    if not form.validate_on_submit():
        g.used_by_form = form
        return render_report_page(report), 422
    try:
        changed = assess_used_by(db.session, report, current_user, form.used_by_assessed.data or None)
    except UseError as exc:
        # As the review's other actions refuse (web/review.py): the page, with why, in a 409.
        db.session.rollback()
        flash(str(exc), "error")
        return render_report_page(report), 409
    db.session.commit()
    flash(_("Your assessment of who used the weapon was recorded.") if changed else _("Nothing was changed."),
          "info")
    return redirect(url_for("verify.report", public_id=report.public_id))


# ---- what the review page and the incident page show ---------------------------------------------


@bp.app_template_global("transfer_country_names")
def transfer_country_names() -> list[tuple[str, str]]:
    """(code, name) of every country in the reader's language, for the pages' suggestion lists."""
    from ..forms import country_choices

    return country_choices()


def _shown(indicators: list[Indicator]) -> list[dict[str, Any]]:
    return [{"indicator": indicator, "reasoning": reasoning(indicator, isolate=isolate)} for indicator in indicators]


@bp.app_template_global("report_diversion")
def report_diversion(report: Report) -> dict[str, Any]:
    """The review page's panel: who used the weapon (reported, assessed), the form, the indicators."""
    form = getattr(g, "used_by_form", None) or UsedByForm(formdata=None, prefix="used",
                                                          used_by_assessed=report.used_by_assessed or "")
    indicators = diversion_indicators(db.session, report.organisation_id, items_of([report]))
    return {"form": form, "indicators": _shown(indicators),
            "may_assess": report.state == ReportState.IN_REVIEW and report.claimed_by_id == current_user.id}


@bp.app_template_global("incident_diversion")
def incident_diversion(incident: Incident) -> list[dict[str, Any]]:
    """The incident page's indicators, over its reports that are not rejected or duplicates."""
    reports = [r for r in reports_of(db.session, incident) if r.state not in SET_ASIDE]
    return _shown(diversion_indicators(db.session, incident.organisation_id, items_of(reports)))
