"""The dashboard (intake/dashboard, intake/web/dashboard.py): the organisation's incidents on a map,
in charts and in a table, filtered by a plain GET form, and the one-click list of the verified
incidents in which an item made in one country was found — through the HTTP interface."""

from __future__ import annotations

import json
import re
from typing import Any

import h3
import pytest
from sqlalchemy import select

from intake.dashboard import charts
from intake.enums import Role
from intake.extensions import db
from intake.models import Incident
from tests.conftest import make_org, make_user
from tests.test_exports import linked, verified
from tests.test_verify import signed_in, triaged_report

# A second strike far away, a month later: a Shahed with a navigation module made in Switzerland.
SHAHED = {"country": "UA", "admin1": "Kharkiv Oblast", "admin2": "Kharkiv", "locality": "Saltivka",
          "latitude": 50.0300, "longitude": 36.3400, "occurred_on": "2026-04-10", "delivery_platform": "drone",
          "platform_model": "Shahed-136", "platform_manufacturer": "", "platform_country": "",
          "munition_type": "", "munition_model": "",
          "components": [{"kind": "navigation", "model": "NavCore 4", "manufacturer": "u-blox",
                          "country_of_manufacture": "CH"}],
          "killed": {"women": 3}, "injured": {"men": 4, "girls": 1}, "victims": []}
# Not verified: a report of May naming the same sensor.
UNVERIFIED = {"occurred_on": "2026-05-02", "locality": "Goris", "latitude": 39.5111, "longitude": 46.3382,
              "killed": {"men": 7}, "injured": {}, "victims": []}


@pytest.fixture
def seeded(app: Any, org: Any, reporter: Any, verifier: Any) -> dict[str, str]:
    """Three incidents of the organisation (two verified) and one of another organisation."""
    tb2 = linked(app, verified(app, reporter), verifier)  # TB2, MAM-L, MX-15D (L3Harris Wescam, CA); 2 killed
    shahed = linked(app, verified(app, reporter, grade="weak", **SHAHED), verifier)
    pending = linked(app, triaged_report(app, reporter, **UNVERIFIED), verifier)
    other_org = make_org("Other Monitors")
    outsider_reporter = make_user(other_org, Role.REPORTER)
    outsider = make_user(other_org, Role.VERIFIER)
    theirs = linked(app, verified(app, outsider_reporter, locality="Stepanakert", killed={"men": 9}), outsider)
    return {"tb2": tb2, "shahed": shahed, "pending": pending, "theirs": theirs, "outsider": outsider.email}


def title(app: Any, public_id: str) -> str:
    with app.app_context():
        incident = db.session.scalar(select(Incident).where(Incident.public_id == public_id))
        assert incident is not None
        return str(incident.title)


def shown_ids(html: str) -> set[str]:
    """The incidents listed in the page's table of incidents, by public id."""
    table = html[html.index('class="queue dashboard-incidents"'):] if "dashboard-incidents" in html else ""
    return set(re.findall(r'href="/incidents/([0-9a-f-]{36})"', table))


def test_the_dashboard_shows_every_incident_on_a_map_in_charts_and_in_tables(app: Any, seeded: dict[str, str],
                                                                              verifier: Any) -> None:
    browser = signed_in(app, verifier)
    response = browser.get("/dashboard/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert shown_ids(html) == {seeded["tb2"], seeded["shahed"], seeded["pending"]}
    assert seeded["theirs"] not in html
    # The three charts, inline, accessible, and with no style attribute for the CSP to refuse.
    assert len(re.findall(r"<svg [^>]*role=\"img\"", html)) == 3
    for name in ("weapons", "months", "countries"):
        assert f'aria-labelledby="chart-{name}-title chart-{name}-desc"' in html
    assert "style=" not in html and "<style" not in html
    # Each chart's figures are in a table too: civilians by weapon system (two TB2 strikes: 2 + 7 killed,
    # 2 injured) ...
    assert re.search(r"<th scope=\"row\"><bdi[^>]*>Bayraktar TB2</bdi></th><td>2</td><td>9</td><td>2</td>", html)
    assert re.search(r"<th scope=\"row\"><bdi[^>]*>Shahed-136</bdi></th><td>1</td><td>3</td><td>5</td>", html)
    # ... by month, every month from March to May ...
    assert [m for m in ("March 2026", "April 2026", "May 2026") if f"<th scope=\"row\">{m}</th>" in html] == [
        "March 2026", "April 2026", "May 2026"]
    # ... and incidents by country of manufacture: Canada's sensor, Switzerland's module, Türkiye's drone
    # (from the weapon catalogue), Iran's Shahed; each links to the one-click list.
    for code, name in (("CA", "Canada"), ("CH", "Switzerland"), ("TR", "Türkiye"), ("IR", "Iran")):
        assert f"<th scope=\"row\">{name}</th>" in html, name
        assert f'href="/dashboard/country?country={code}"' in html, code
    assert "/dashboard/incidents.geojson" in html and "vendor/world-atlas/countries-110m." in html
    # Publishable facts only: no name, phone or reported coordinate.
    for withheld in ("Anahit Petrosyan", "Gor Hakobyan", "+374 91 234567", "39.5057", "46.4362"):
        assert withheld not in html, withheld


def test_the_map_points_are_coarse_cells_never_the_reported_point(app: Any, seeded: dict[str, str],
                                                                   verifier: Any) -> None:
    browser = signed_in(app, verifier)
    response = browser.get("/dashboard/incidents.geojson")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = json.loads(response.get_data(as_text=True))
    assert document["type"] == "FeatureCollection"
    by_id = {f["id"]: f for f in document["features"]}
    assert set(by_id) == {seeded["tb2"], seeded["shahed"], seeded["pending"]}
    resolution = app.config["DASHBOARD_CELL_RESOLUTION"]
    longitude, latitude = by_id[seeded["tb2"]]["geometry"]["coordinates"]
    centre = h3.cell_to_latlng(h3.latlng_to_cell(39.5057, 46.4362, resolution))
    assert (latitude, longitude) == pytest.approx(centre, abs=1e-5)
    assert (round(latitude, 4), round(longitude, 4)) != (39.5057, 46.4362)
    properties = by_id[seeded["tb2"]]["properties"]
    assert properties["killed"] == 2 and properties["grade"] == "Fair"
    assert properties["url"] == f"/incidents/{seeded['tb2']}"
    assert "Anahit" not in response.get_data(as_text=True)
    # The map takes the page's filters.
    only = json.loads(browser.get("/dashboard/incidents.geojson?country=ch").get_data(as_text=True))
    assert [f["id"] for f in only["features"]] == [seeded["shahed"]]
    assert browser.get("/dashboard/incidents.geojson?from=yesterday").status_code == 400


@pytest.mark.parametrize(("query", "expected"), [
    ("country=CA", {"tb2", "pending"}),
    ("country=tr", {"tb2", "pending"}),  # the TB2's maker, from the weapon catalogue
    ("weapon=TB2", {"tb2", "pending"}),  # a catalogue alias finds the catalogue's name
    ("weapon=shahed 136", {"shahed"}),
    ("manufacturer=wescam", {"tb2", "pending"}),
    ("manufacturer=u-blox", {"shahed"}),
    ("grade=fair", {"tb2"}),
    ("grade=weak", {"shahed"}),
    ("grade=ungraded", {"pending"}),
    ("from=2026-04-01", {"shahed", "pending"}),
    ("from=2026-04-01&to=2026-04-30", {"shahed"}),
    ("country=CA&grade=fair&to=2026-03-31", {"tb2"}),
    ("country=FR", set()),
])
def test_every_filter_narrows_the_map_the_charts_and_the_table(app: Any, seeded: dict[str, str], verifier: Any,
                                                               query: str, expected: set[str]) -> None:
    browser = signed_in(app, verifier)
    html = browser.get(f"/dashboard/?{query}").get_data(as_text=True)
    assert shown_ids(html) == {seeded[name] for name in expected}
    points = json.loads(browser.get(f"/dashboard/incidents.geojson?{query}").get_data(as_text=True))
    assert {f["id"] for f in points["features"]} == {seeded[name] for name in expected}
    # The filtered view keeps its filters in the map's data address and in the form.
    assert "/dashboard/incidents.geojson?" in html or not query
    if not expected:
        assert "No incident matches these filters." in html


def test_bad_filters_are_named_and_kept_as_typed(app: Any, seeded: dict[str, str], verifier: Any) -> None:
    browser = signed_in(app, verifier)
    response = browser.get("/dashboard/?from=14/03/2026&weapon=Orlan-10")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Not a valid date value." in html and 'value="14/03/2026"' in html
    assert '<option selected value="Orlan-10">Orlan-10</option>' in html
    assert shown_ids(html) == set()
    backwards = browser.get("/dashboard/?from=2026-05-01&to=2026-04-01")
    assert backwards.status_code == 400 and "The end date is before the start date." in backwards.get_data(as_text=True)
    assert browser.get("/dashboard/?country=Canada").status_code == 400


def test_one_click_lists_every_verified_incident_with_an_item_made_in_the_country(app: Any, seeded: dict[str, str],
                                                                                   verifier: Any) -> None:
    browser = signed_in(app, verifier)
    dashboard = browser.get("/dashboard/").get_data(as_text=True)
    link = re.search(r'href="(/dashboard/country\?country=CA)">1 verified incident</a>', dashboard)
    assert link, "Canada's row links to its one verified incident"
    response = browser.get(link.group(1))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Verified incidents with an item made in Canada" in html
    # The verified TB2 strike only: the unverified report naming the same sensor is left out.
    assert shown_ids(html) == {seeded["tb2"]}
    assert title(app, seeded["tb2"]).split(" — ")[1] in html
    row = html[html.index(seeded["tb2"]):]
    assert re.search(r"<td>Fair</td>\s*<td>2</td><td>2</td>", row), "grade and civilians killed and injured"
    assert "MX-15D" in row and "L3Harris Wescam" in row
    assert "Bayraktar TB2" not in row.split("</tr>")[0], "only the items made in Canada are listed"
    # Dates narrow it too; the pack button is not there until the packs endpoint exists.
    later = browser.get("/dashboard/country?country=CA&from=2026-04-01").get_data(as_text=True)
    assert shown_ids(later) == set() and "No verified incident matches." in later
    assert "/packs/new" not in html
    # Türkiye (the TB2's maker per the catalogue) and lower case codes work as well.
    assert shown_ids(browser.get("/dashboard/country?country=tr").get_data(as_text=True)) == {seeded["tb2"]}
    assert browser.get("/dashboard/country?country=CAN").status_code == 400
    assert browser.get("/dashboard/country").status_code == 400


def test_the_evidence_pack_is_one_button_away_once_packs_exist(app: Any, org: Any, seeded: dict[str, str]) -> None:
    coordinator = make_user(org, Role.COORDINATOR)
    browser = signed_in(app, coordinator)
    html = browser.get("/dashboard/country?country=CA&from=2026-01-01").get_data(as_text=True)
    assert 'href="/packs/new?country=CA&amp;from=2026-01-01"' in html
    assert "Build the evidence pack for Canada" in html
    # The button opens the pack form with the selector and the period chosen.
    form = browser.get("/packs/new?country=CA&from=2026-01-01").get_data(as_text=True)
    assert 'value="CA"' in form and 'value="2026-01-01"' in form


def test_an_organisation_sees_only_its_own_incidents(app: Any, seeded: dict[str, str]) -> None:
    from intake.models import User

    with app.app_context():
        outsider = db.session.scalar(select(User).where(User.email == seeded["outsider"]))
    browser = signed_in(app, outsider)
    html = browser.get("/dashboard/").get_data(as_text=True)
    assert shown_ids(html) == {seeded["theirs"]}
    for mine in ("tb2", "shahed", "pending"):
        assert seeded[mine] not in html
    assert "Switzerland" not in html
    points = json.loads(browser.get("/dashboard/incidents.geojson").get_data(as_text=True))
    assert [f["id"] for f in points["features"]] == [seeded["theirs"]]
    canada = browser.get("/dashboard/country?country=CA").get_data(as_text=True)
    assert shown_ids(canada) == {seeded["theirs"]}
    assert browser.get(f"/incidents/{seeded['tb2']}").status_code == 404


def test_reporters_and_admins_have_no_dashboard_and_others_are_signed_in_first(app: Any, org: Any, reporter: Any,
                                                                               verifier: Any) -> None:
    routes = ("/dashboard/", "/dashboard/incidents.geojson", "/dashboard/country?country=CA")
    for user in (reporter, make_user(org, Role.ADMIN)):
        browser = signed_in(app, user)
        for route in routes:
            assert browser.get(route).status_code == 404, (user.role, route)
        assert 'href="/dashboard/"' not in browser.get("/").get_data(as_text=True) or user.role == Role.ADMIN
    anonymous = app.test_client()
    for route in routes:
        response = anonymous.get(route)
        assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
    coordinator = make_user(org, Role.COORDINATOR)
    for user in (verifier, coordinator):
        home = signed_in(app, user).get("/dashboard/")
        assert home.status_code == 200
        nav = home.get_data(as_text=True).split("</nav>")[0]
        assert 'href="/dashboard/">Dashboard</a>' in nav


def test_the_reporters_navigation_has_no_dashboard(app: Any, reporter: Any) -> None:
    html = signed_in(app, reporter).get("/reports/new").get_data(as_text=True)
    assert "/dashboard/" not in html


def test_a_chart_mirrors_right_to_left_and_never_needs_a_style_attribute() -> None:
    series = [charts.Series("killed", "Killed <b>"), charts.Series("injured", "Injured")]
    ltr = charts.horizontal_bars("c", "Title & more", "Desc", ["Bayraktar TB2"], series, [(10, 3)], "People", str)
    rtl = charts.horizontal_bars("c", "Title & more", "Desc", ["Bayraktar TB2"], series, [(10, 3)], "People", str,
                                 rtl=True)
    for svg in (ltr, rtl):
        assert "style" not in svg and "Title &amp; more" in svg and "Killed &lt;b&gt;" in svg
    first_bar = re.compile(r'<rect class="killed" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"')
    bars = [first_bar.findall(svg)[-1] for svg in (ltr, rtl)]  # the data bar, after the legend's swatch
    (lx, lw), (rx, rw) = ((float(x), float(w)) for x, w in bars)
    assert lw == rw and lx + (rx + rw) == pytest.approx(charts.WIDTH), "the bar mirrored about the middle"
    assert 'direction="rtl"' in rtl and 'direction="ltr"' in ltr
    assert charts.nice_ticks(0) == [0, 1] and charts.nice_ticks(9)[-1] >= 9 and charts.nice_ticks(1234)[-1] >= 1234
