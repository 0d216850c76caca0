"""Items as evidence (intake/items): a reporter names a TB2 with an MX-15D and a MAM-L, the catalogue
suggests who made them, a verifier confirms or corrects each identification at review (audited,
kept apart from what was reported), and the incident page and the exports show the values in force.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select

from intake.anonymize.catalogue import catalogue
from intake.enums import Role
from intake.extensions import db
from intake.items import report_items
from intake.items.catalogue import CATALOGUE_COUNTRIES, country_code, suggest
from intake.models import AuditEntry, ItemAssessment, Report
from intake.schema import country_codes
from tests.conftest import complete_report, csrf_token, make_org, make_token, make_user
from tests.test_verify import signed_in, triaged_report

MX15D = {"kind": "targeting_sensor", "model": "MX-15D", "manufacturer": "L3Harris Wescam",
         "country_of_manufacture": "US",  # the reporter's slip: the verifier corrects it to CA
         "markings": "L3HARRIS WESCAM\nMX-15D\nS/N 2006-1187", "serial_number": "2006-1187",
         "part_number": "MX15D-400", "cage_code": "l3c41", "manufactured_on": "2020-06",
         "manufacture_date_basis": "data_plate", "identification_basis": "remnant_photographed",
         "identification_confidence": "confirmed"}
TB2 = {"platform_model": "Bayraktar TB2", "platform_manufacturer": "Baykar", "platform_country": "TR",
       "munition_model": "MAM-L", "munition_manufacturer": None, "munition_country": None, "components": [MX15D]}


def post(browser: Any, url: str, **fields: Any) -> Any:
    token = csrf_token(browser.get("/account").get_data(as_text=True))
    return browser.post(url, data={"csrf_token": token, **fields})


def test_every_catalogue_country_is_mapped_to_an_iso_code_once() -> None:
    """Each country name the catalogue uses has its ISO code (or, for states gone, none), and every code
    is one a report takes."""
    names = {entry.country for entry in catalogue()}
    assert names <= set(CATALOGUE_COUNTRIES), names - set(CATALOGUE_COUNTRIES)
    assert {code for code in CATALOGUE_COUNTRIES.values() if code} <= country_codes()
    assert CATALOGUE_COUNTRIES["Turkey"] == "TR" and CATALOGUE_COUNTRIES["Canada"] == "CA"
    assert CATALOGUE_COUNTRIES["Soviet Union"] is None


def test_names_match_case_space_hyphen_and_alias_insensitively() -> None:
    for typed in ("MX-15D", "MX 15D", "mx15d", "MX-15"):
        found = suggest(typed, "component")
        assert found is not None and (found.designation, found.manufacturer, found.country) == \
            ("MX-15D", "L3Harris Wescam", "CA"), typed
    platform = suggest("tb2", "platform")
    assert platform is not None and (platform.designation, platform.manufacturer, platform.country) == \
        ("Bayraktar TB2", "Baykar", "TR")
    munition = suggest("mam l", "munition")
    assert munition is not None and (munition.manufacturer, munition.country) == ("Roketsan", "TR")
    assert suggest("Something unheard of") is None
    assert country_code("CA") == country_code("canada") == country_code("Canada") == "CA"
    assert country_code("Turkey") == country_code("tr") == "TR"


def test_the_api_takes_and_returns_the_item_fields(app: Any, client: Any, reporter: Any) -> None:
    """Platform and munition manufacturer and country, and a component's markings and codes, go in through
    the API and come back as sent; a bad CAGE code or date of manufacture is a 422 at that field."""
    headers = {"Authorization": f"Bearer {make_token(reporter)}"}
    body = complete_report(**{**TB2, "munition_manufacturer": "Roketsan", "munition_country": "tr"})
    created = client.post("/api/v1/reports", json=body, headers={**headers, "Idempotency-Key": "items-api-1"})
    assert created.status_code == 201, created.get_json()
    submitted = client.get(f"/api/v1/reports/{created.get_json()['id']}", headers=headers).get_json()["submitted"]
    assert (submitted["platform_manufacturer"], submitted["platform_country"]) == ("Baykar", "TR")
    assert (submitted["munition_manufacturer"], submitted["munition_country"]) == ("Roketsan", "TR")
    component = submitted["components"][0]
    assert component["cage_code"] == "L3C41" and component["manufactured_on"] == "2020-06"
    assert component["markings"] == MX15D["markings"] and component["manufacture_date_basis"] == "data_plate"
    bad = complete_report(components=[{**MX15D, "cage_code": "12", "manufactured_on": "2020-13"}],
                          platform_country="XX")
    refused = client.post("/api/v1/reports", json=bad, headers={**headers, "Idempotency-Key": "items-api-2"})
    assert refused.status_code == 422
    errors = refused.get_json()["errors"]
    assert {"components.0.cage_code", "components.0.manufactured_on", "platform_country"} <= set(errors)
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert {"platform_manufacturer", "munition_country"} <= set(schema["ReportIn"]["properties"])
    assert {"serial_number", "cage_code", "manufactured_on"} <= set(schema["ComponentIn"]["properties"])


def test_a_verifier_corrects_an_item_at_review_and_the_incident_shows_who_made_it(
        app: Any, org: Any, reporter: Any, verifier: Any) -> None:
    report = triaged_report(app, reporter, **TB2)
    browser = signed_in(app, verifier)
    assert post(browser, f"/queue/reports/{report.public_id}/claim").status_code == 302
    html = browser.get(f"/queue/reports/{report.public_id}").get_data(as_text=True)
    # As reported, apart from as assessed; the MAM-L's blanks are filled from the catalogue in the form.
    assert "As reported" in html and "not yet assessed" in html and "Baykar" in html
    munition_form = html[html.index('action="/queue/reports/' + report.public_id + '/items/munition"'):]
    munition_form = munition_form[:munition_form.index("</form>")]
    assert 'value="Roketsan"' in munition_form and 'value="Türkiye"' in munition_form
    with app.app_context():
        component_id = db.session.scalars(select(Report).where(Report.id == report.id)).one().components[0].id
    key = f"component-{component_id}"

    # Another organisation's verifier cannot see or assess it; the claimant's colleague may not either.
    outsider = signed_in(app, make_user(make_org("Other NGO"), Role.VERIFIER))
    assert post(outsider, f"/queue/reports/{report.public_id}/items/{key}").status_code == 404
    colleague = signed_in(app, make_user(org, Role.VERIFIER))
    assert post(colleague, f"/queue/reports/{report.public_id}/items/{key}", **{
        f"item-{key}-designation": "MX-15D"}).status_code == 409

    # The claimant corrects the sensor's country (US → Canada) and confirms the MAM-L from the catalogue.
    saved = post(browser, f"/queue/reports/{report.public_id}/items/{key}", **{
        f"item-{key}-designation": "MX-15D", f"item-{key}-manufacturer": "L3Harris Wescam",
        f"item-{key}-country": "Canada", f"item-{key}-identification_confidence": "confirmed",
        f"item-{key}-identification_basis": "remnant_photographed"})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    assert post(browser, f"/queue/reports/{report.public_id}/items/munition", **{
        "item-munition-designation": "MAM-L", "item-munition-manufacturer": "Roketsan",
        "item-munition-country": "TR", "item-munition-identification_confidence": "probable"}).status_code == 302
    refused = post(browser, f"/queue/reports/{report.public_id}/items/munition", **{
        "item-munition-designation": "MAM-L", "item-munition-country": "Atlantis"})
    assert refused.status_code == 422 and 'value="Atlantis"' in refused.get_data(as_text=True)

    with app.test_request_context():
        row = db.session.get(Report, report.id)
        assert row is not None
        assert row.components[0].country_of_manufacture == "US", "what was reported stays as reported"
        items = {item.key: item for item in report_items(row)}
        assert items[key].source == "assessed" and items[key].country == "CA"
        assert items[key].reported.country == "US"
        assert items["platform"].source == "reported" and items["platform"].manufacturer == "Baykar"
        assert db.session.scalars(select(ItemAssessment)).all().__len__() == 2
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "report.item_assessed")
                                     .order_by(AuditEntry.seq)).all()
        assert [(e.detail["item"], e.detail["outcome"], e.detail["changed"]) for e in entries] == [
            (key, "corrected", "country"), ("munition", "corrected", "manufacturer,country")]
        assert entries[0].target_id == report.public_id
        assert "Wescam" not in json.dumps([e.detail for e in entries]), "no typed text in the audit log"

    # Linked into an incident: the weapons table lists manufacturer and country of the TB2 and the MAM-L.
    assert post(browser, "/incidents/link", report=report.public_id).status_code == 302
    with app.app_context():
        from intake.models import Incident

        incident = db.session.scalars(select(Incident)).one()
    shown = browser.get(f"/incidents/{incident.public_id}").get_data(as_text=True)
    table = shown[shown.index('<table class="queue weapons">'):]
    table = table[:table.index("</table>")]
    rows = {re.sub(r"<[^>]+>", "", cells[1]): cells for cells in
            (re.findall(r"<td>(.*?)</td>", tr, re.S) for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S)) if cells}
    assert rows["Bayraktar TB2"][2:5] == ["<bdi>Baykar</bdi>", "<bdi>TR</bdi>", "1"]
    assert rows["MAM-L"][2:4] == ["<bdi>Roketsan</bdi>", "<bdi>TR</bdi>"] and "as assessed" in rows["MAM-L"][6]
    assert rows["MX-15D"][3] == "<bdi>CA</bdi>" and "2006-1187" in rows["MX-15D"][5]
    assert "as reported" in rows["Bayraktar TB2"][6]


def test_the_form_takes_a_country_of_manufacture_by_its_common_or_translated_name(app: Any, reporter: Any) -> None:
    """"Turkey" (not CLDR's "Türkiye") and a name in another interface language are taken as their codes."""
    from intake.models import Report as ReportRow
    from tests.conftest import sign_in
    from tests.test_field import form_fields, page_of

    browser = app.test_client()
    assert sign_in(browser, reporter.email).status_code == 302
    _, token, submission_id = page_of(browser)
    sent = browser.post("/reports/new", data=form_fields(token, submission_id, platform_model="Bayraktar TB2",
                                                         platform_country="Turkey", munition_country="Турция"))
    assert sent.status_code == 302, sent.get_data(as_text=True)[:2000]
    with app.app_context():
        row = db.session.scalar(select(ReportRow).where(ReportRow.submission_id == submission_id))
        assert row is not None and (row.platform_country, row.munition_country) == ("TR", "TR")
