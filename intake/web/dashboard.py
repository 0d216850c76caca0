"""The dashboard for verifiers and coordinators: the organisation's incidents on a map, in charts and
in a table, filtered by a plain GET form; and the one-click list of the verified incidents in which
an item made in one country was found.

The page works without JavaScript (the form, the charts as inline SVG, the tables); the map is an
enhancement drawn by dashboard.js from /dashboard/incidents.geojson and the vendored Natural Earth
outlines, under the same CSP as every page (no inline script or style, nothing from elsewhere).
Everything is scoped to the user's organisation, and shows coarse cells only, never a reported point.
"""

from __future__ import annotations

from typing import Any

from babel import Locale
from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import DateField, SelectField, ValidationError
from wtforms.validators import Length, Optional, Regexp

from ..dashboard import aggregates, charts
from ..dashboard.queries import UNGRADED, Filters, IncidentSummary, choices, filtered, incident_summaries
from ..enums import Grade
from ..extensions import db
from ..forms import blank_choice, opts
from ..i18n.forms import TranslatedPlainForm
from ..i18n.languages import direction
from .access import VERIFIERS, roles_required
from .numbers import number

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

# Historical states the weapon catalogue names (ISO 3166-3), which CLDR has no name for.
HISTORICAL = {"SU": _l("Soviet Union"), "CS": _l("Czechoslovakia")}


class DashboardForm(TranslatedPlainForm):
    """The dashboard's filters, read from the query string (GET: no CSRF token, nothing changes).
    The choices are what the organisation's incidents hold; any other value is kept as typed."""

    weapon = SelectField(_l("Weapon system"), [Optional(), Length(max=200)], validate_choice=False, default="")
    manufacturer = SelectField(_l("Manufacturer"), [Optional(), Length(max=200)], validate_choice=False, default="")
    country = SelectField(_l("Country of manufacture"),
                          [Optional(), Regexp(r"^[A-Za-z]{2}$", message=_l("A two-letter country code."))],
                          validate_choice=False, default="")
    grade = SelectField(_l("Grade"), [Optional()], default="", choices=opts(
        blank_choice(_l("All")) + Grade.choices() + [(UNGRADED, _l("Not graded yet"))]))
    start = DateField(_l("Event from"), [Optional()], name="from")
    end = DateField(_l("Event until"), [Optional()], name="to")

    def validate_end(self, field: Any) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError(_l("The end date is before the start date."))

    def filters(self, verified_only: bool = False) -> Filters:
        return Filters(weapon=(self.weapon.data or "").strip(), manufacturer=(self.manufacturer.data or "").strip(),
                       country=(self.country.data or "").strip().upper(), grade=self.grade.data or "",
                       start=self.start.data, end=self.end.data, verified_only=verified_only)


def country_name(code: str) -> str:
    """A country of manufacture in the reader's language (English where the language has no name)."""
    locale = get_locale() or Locale.parse("en")
    found = locale.territories.get(code) or Locale.parse("en").territories.get(code) or HISTORICAL.get(code)
    return str(found or code)


def _with_choices(form: DashboardForm, summaries: list[IncidentSummary]) -> DashboardForm:
    offered = choices(summaries)

    def options(values: list[str], current: str, label: Any = str) -> list[tuple[str, str]]:
        pairs = [(v, label(v)) for v in values]
        if current and current not in values:
            pairs.append((current, label(current)))  # kept as typed, even if nothing matches it
        return [("", _("All")), *pairs]

    form.weapon.choices = options(offered["weapons"], form.weapon.data or "")
    form.manufacturer.choices = options(offered["manufacturers"], form.manufacturer.data or "")
    countries = sorted(offered["countries"], key=lambda c: country_name(c).casefold())
    form.country.choices = options(countries, (form.country.data or "").upper(), country_name)
    form.country.data = (form.country.data or "").upper()
    return form


def _summaries() -> list[IncidentSummary]:
    return incident_summaries(db.session, current_user.organisation_id,
                              int(current_app.config["DASHBOARD_CELL_RESOLUTION"]))


def _month(key: str, pattern: str = "MMM y") -> str:
    return str(format_date(aggregates.month_of(key), pattern))


def _charts(shown: list[IncidentSummary]) -> dict[str, Any]:
    rtl = direction(str(get_locale() or "en")) == "rtl"
    harm = [charts.Series("killed", _("Civilians killed")), charts.Series("injured", _("Civilians injured"))]
    weapons = aggregates.by_weapon_system(shown, _("Not identified"))
    months = aggregates.by_month(shown)
    drawn_months = months[-aggregates.MAX_MONTHS:]
    countries = aggregates.by_country(shown)
    out: dict[str, Any] = {"weapons": weapons, "months": months, "countries": countries}
    if weapons:
        out["weapons_svg"] = charts.horizontal_bars(
            "chart-weapons", _("Civilians killed and injured by weapon system"),
            _("Bars per weapon system; the table below gives the same figures."),
            [r.key for r in weapons], harm, [(r.killed, r.injured) for r in weapons], _("People"), number, rtl)
    if months:
        out["months_svg"] = charts.vertical_bars(
            "chart-months", _("Civilians killed and injured by month"),
            _("Columns per month of the event; the table below gives the same figures."),
            [_month(r.key) for r in drawn_months], harm, [(r.killed, r.injured) for r in drawn_months],
            _("People"), _("Month of the event"), number, rtl)
    if countries:
        out["countries_svg"] = charts.horizontal_bars(
            "chart-countries", _("Incidents by country of manufacture of the items found"),
            _("Bars per country; the table below gives the same figures and links to each country's incidents."),
            [country_name(r.key) for r in countries], [charts.Series("incidents", _("Incidents"))],
            [(r.incidents,) for r in countries], _("Incidents"), number, rtl)
    return out


@bp.route("/")
@roles_required(*VERIFIERS)
def index() -> tuple[str, int]:
    """The map, the charts and the table of the incidents the filters let through."""
    form = DashboardForm(request.args)
    every = _summaries()
    _with_choices(form, every)
    if not form.validate():
        return render_template("dashboard/index.html", form=form, incidents=[], charts={}, invalid=True,
                               total=len(every), country_name=country_name, month=_month), 400
    filters = form.filters()
    shown = filtered(every, filters)
    return render_template("dashboard/index.html", form=form, incidents=shown, charts=_charts(shown), invalid=False,
                           total=len(every), filters=filters, country_name=country_name, month=_month), 200


@bp.route("/incidents.geojson")
@roles_required(*VERIFIERS)
def incidents_geojson() -> Response | tuple[Response, int]:
    """The same incidents as points for the map: each at its coarse cell's centre (RFC 7946: lon, lat)."""
    form = DashboardForm(request.args)
    if not form.validate():
        return jsonify(error="invalid filters", fields=sorted(form.errors)), 400
    features = []
    for summary in filtered(_summaries(), form.filters()):
        if summary.latitude is None or summary.longitude is None:
            continue
        features.append({
            "type": "Feature", "id": summary.public_id,
            "geometry": {"type": "Point", "coordinates": [summary.longitude, summary.latitude]},
            "properties": {
                "title": summary.title, "date": summary.occurred_on.isoformat(),
                "grade": str(summary.grade.label) if summary.grade else _("Not graded yet"),
                "killed": summary.killed, "injured": summary.injured,
                "url": _incident_url(summary.public_id),
            },
        })
    response = jsonify({"type": "FeatureCollection", "features": features})
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _incident_url(public_id: str) -> str:
    return url_for("incidents.incident", public_id=public_id)


@bp.route("/country")
@roles_required(*VERIFIERS)
def country() -> tuple[str, int]:
    """Every verified incident in which an item made in the country `?country=CC` was found, with the
    civilians harmed and the grade (within the dates and other filters given) — and the evidence pack
    a click away. The country is a query argument like every filter: the page names nothing of one
    organisation's that another could reach, and shows each only its own incidents."""
    form = DashboardForm(request.args)
    every = _summaries()
    _with_choices(form, every)
    valid = form.validate()
    code = (form.country.data or "").upper()
    if valid and not code:
        form.country.errors = [*form.country.errors, _("Choose a country of manufacture.")]
        valid = False
    if not valid:
        return render_template("dashboard/country.html", code=code, form=form, incidents=[], invalid=True,
                               country_name=country_name, pack_args=None), 400
    filters = form.filters(verified_only=True)
    shown = filtered(every, filters)
    pack_args = None
    if "packs.new" in current_app.view_functions and current_user.role.value == "coordinator":
        pack_args = {"country": code, "from": filters.start.isoformat() if filters.start else None,
                     "to": filters.end.isoformat() if filters.end else None}
    return render_template("dashboard/country.html", code=code, form=form, incidents=shown, invalid=False,
                           country_name=country_name, pack_args=pack_args, filters=filters), 200
