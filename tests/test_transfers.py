"""Transfer records and the diversion indicator (intake/transfers), through the pages, the command line
and the API.

The case the product exists for (design/evidence.md, "What moved a government"): seven MX-15D targeting
sensors permitted from Canada to Baykar in Turkey in May 2020, then found on TB2 drones used by
Azerbaijan in Nagorno-Karabakh in October 2020. The incident page says so, with the reasoning.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from typing import Any

from sqlalchemy import select

from intake.accounts import create_token
from intake.enums import Role
from intake.extensions import db
from intake.models import AuditEntry, Report, Transfer
from tests.conftest import complete_report, csrf_token, file_accepted, make_org, make_user
from tests.test_cli import run  # noqa: F401  (the fixture that runs `intake` against the test database)
from tests.test_verify import signed_in, triaged_report
from tests.test_workflow import act, grade, page_of

CITATION = ("Global Affairs Canada, export permits for Turkey released under the Access to Information Act, "
            "request A-2020-00123, row 12")
PERMIT = {"exporting_state": "Canada", "importing_state": "TR", "end_user": "Baykar", "end_user_state": "",
          "designation": "MX 15D", "item_kind": "", "quantity": "7", "date": "2020-05",
          "source_kind": "permit_list", "source_citation": CITATION,
          "source_url": "https://www.international.gc.ca/permits/a-2020-00123.pdf", "notes": ""}
# A TB2 with an MX-15D (the complete report's weapon), used by Azerbaijan, in October 2020.
# The reasoning names the item by its catalogue name, however the record spelt it.
STRIKE = {"occurred_on": "2020-10-04", "occurred_time": "06:40", "used_by": "AZ"}
REASONING = (f"7 MX-15D permitted from CA to TR, end user Baykar, 2020-05 (source: {CITATION}); "
             "used by AZ on 2020-10-04, as reported; AZ is neither the importing state nor the end user's state")


def text_of(html: str) -> str:
    """The page as a reader reads it: blocks apart, no tags, entities decoded, spaces collapsed."""
    blocks = re.sub(r"</?(?:dt|dd|li|p|td|th|tr|div|h\d|ul)\b[^>]*>", " ", html)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", "", blocks)).split())


def post_form(browser: Any, url: str, fields: dict[str, Any]) -> Any:
    token = csrf_token(browser.get(url).get_data(as_text=True))
    return browser.post(url, data={"csrf_token": token, **fields})


def record_permit(browser: Any, **changes: Any) -> Any:
    return post_form(browser, "/transfers/new", {**PERMIT, **changes})


def indicators(html: str) -> list[str]:
    return [text_of(li) for li in re.findall(r'<li class="diversion-indicator"[^>]*>(.*?)</li>', html, re.S)]


def verify_and_link(app: Any, report: Report, verifier: Any) -> tuple[Any, str]:
    """Claim, grade fair (which verifies) and make the report an incident, through the verifier's pages."""
    browser = signed_in(app, verifier)
    assert act(browser, report, "claim").status_code == 302
    assert grade(browser, report, "fair", location_verified=True).status_code == 302
    token = csrf_token(page_of(browser, report))
    assert browser.post("/incidents/link", data={"csrf_token": token, "report": report.public_id}).status_code == 302
    with app.app_context():
        from intake.incidents import incident_of

        row = db.session.get(Report, report.id)
        assert row is not None and row.state.value == "verified"
        incident = incident_of(db.session, row)
        assert incident is not None
        return browser, incident.public_id


def audit(action: str) -> list[dict[str, Any]]:
    db.session.remove()
    rows = [dict(e.detail, actor_role=e.actor_role, target=e.target_id) for e in db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))]
    db.session.remove()
    return rows


# ---- the case -----------------------------------------------------------------------------------


def test_a_permit_and_a_verified_report_make_a_diversion_indicator(app: Any, org: Any, reporter: Any,
                                                                   verifier: Any) -> None:
    coordinator = make_user(org, Role.COORDINATOR)
    office = signed_in(app, coordinator)
    assert office.get("/transfers/new").status_code == 200
    saved = record_permit(office)
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/transfers/")
    listing = text_of(office.get("/transfers/").get_data(as_text=True))
    assert "MX 15D" in listing and "catalogue: MX-15D" in listing and "Baykar" in listing and "2020-05" in listing
    stored = db.session.scalar(select(Transfer))
    assert stored is not None and (stored.catalogue_name, stored.item_kind.value, stored.quantity) == \
        ("MX-15D", "component", 7)
    assert (stored.exporting_state, stored.importing_state, stored.transfer_date.isoformat(),
            stored.date_precision.value) == ("CA", "TR", "2020-05-01", "month")
    db.session.remove()
    created = audit("transfer.created")
    assert created == [{"item": "MX-15D", "from": "CA", "to": "TR", "via": "web", "actor_role": "coordinator",
                        "target": stored.public_id}]

    report = triaged_report(app, reporter, **STRIKE)
    browser, incident_id = verify_and_link(app, report, verifier)
    incident_page = browser.get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert indicators(incident_page) == [REASONING + " report · source"]
    assert "1 diversion indicator" in text_of(incident_page)
    # The same on the review page, with who used it as reported.
    review = page_of(browser, report)
    assert [i.removesuffix(" report · source") for i in indicators(review)] == [REASONING]
    assert "Used by, as reported AZ" in text_of(review)
    # Values inside the sentence are isolated, so a right-to-left page keeps them whole.
    assert "<bdi>Baykar</bdi>" in incident_page


def test_no_indicator_when_the_user_is_the_importer_or_the_event_came_first(app: Any, org: Any, reporter: Any,
                                                                            verifier: Any) -> None:
    office = signed_in(app, make_user(org, Role.COORDINATOR))
    assert record_permit(office).status_code == 302
    browser = signed_in(app, verifier)
    by_importer = triaged_report(app, reporter, **{**STRIKE, "used_by": "TR"})
    before_permit = triaged_report(app, reporter, **{**STRIKE, "occurred_on": "2020-04-30"})
    nobody_named = triaged_report(app, reporter, **{**STRIKE, "used_by": None})
    other_sensor = triaged_report(app, reporter, **STRIKE, components=[
        {"kind": "targeting_sensor", "model": "CATS", "manufacturer": "Aselsan", "country_of_manufacture": "TR"}])
    for report in (by_importer, before_permit, nobody_named, other_sensor):
        html = page_of(browser, report)
        assert indicators(html) == [], report.used_by
        assert 'class="diversion-panel"' in html
    # The catalogue's aliases and spellings are the same item: "mx15d" on the report still matches.
    spelled = triaged_report(app, reporter, **STRIKE, components=[
        {"kind": "targeting_sensor", "model": "mx15d", "manufacturer": "Wescam", "country_of_manufacture": "CA"}])
    assert len(indicators(page_of(browser, spelled))) == 1


def test_the_verifier_assesses_who_used_it_and_that_is_what_counts(app: Any, org: Any, reporter: Any,
                                                                   verifier: Any) -> None:
    office = signed_in(app, make_user(org, Role.COORDINATOR))
    assert record_permit(office).status_code == 302
    report = triaged_report(app, reporter, **{**STRIKE, "used_by": None})
    browser = signed_in(app, verifier)
    # Not claimed: the form is not offered, and a forged post is refused with the reason.
    assert 'name="used-used_by_assessed"' not in page_of(browser, report)
    refused = act(browser, report, "used-by", prefix="used", used_by_assessed="AZ")
    assert refused.status_code == 409
    assert "Only the verifier who holds the claim" in text_of(refused.get_data(as_text=True))
    assert act(browser, report, "claim").status_code == 302
    wrong = act(browser, report, "used-by", prefix="used", used_by_assessed="Atlantis")
    assert wrong.status_code == 422
    wrong_page = wrong.get_data(as_text=True)
    assert "Choose a country from the suggestions" in wrong_page and 'value="Atlantis"' in wrong_page
    assert act(browser, report, "used-by", prefix="used", used_by_assessed="Azerbaijan").status_code == 302
    html = page_of(browser, report)
    assert "Used by, as assessed AZ" in text_of(html)
    assert [i.split("; ")[1] for i in indicators(html)] == ["used by AZ on 2020-10-04, as assessed at review"]
    assert audit("report.used_by_assessed") == [{"reported": None, "assessed": "AZ", "before": None,
                                                 "actor_role": "verifier", "target": report.public_id}]
    # Assessed as the importer: the indicator goes, whatever the report said.
    assert act(browser, report, "used-by", prefix="used", used_by_assessed="TR").status_code == 302
    assert indicators(page_of(browser, report)) == []


# ---- who may do what ----------------------------------------------------------------------------


def test_verifiers_read_transfers_but_cannot_write_them(app: Any, org: Any, verifier: Any) -> None:
    office = signed_in(app, make_user(org, Role.COORDINATOR))
    assert record_permit(office).status_code == 302
    transfer_id = db.session.scalar(select(Transfer.public_id))
    db.session.remove()
    browser = signed_in(app, verifier)
    listing = browser.get("/transfers/").get_data(as_text=True)
    assert "Baykar" in listing and "/edit" not in listing and "Record a transfer" not in listing
    assert browser.get("/transfers/new").status_code == 403
    token = csrf_token(browser.get("/account").get_data(as_text=True))
    assert browser.post("/transfers/new", data={"csrf_token": token, **PERMIT}).status_code == 403
    assert browser.get(f"/transfers/{transfer_id}/edit").status_code == 403
    assert browser.post(f"/transfers/{transfer_id}/delete", data={"csrf_token": token}).status_code == 403
    assert db.session.scalar(select(Transfer.quantity)) == 7 and len(audit("transfer.created")) == 1
    reporter_browser = signed_in(app, make_user(org, Role.REPORTER))
    assert reporter_browser.get("/transfers/").status_code == 404


def test_another_organisation_cannot_see_or_touch_them(app: Any, org: Any, reporter: Any, verifier: Any) -> None:
    office = signed_in(app, make_user(org, Role.COORDINATOR))
    assert record_permit(office).status_code == 302
    transfer_id = db.session.scalar(select(Transfer.public_id))
    db.session.remove()
    other = make_org("Other Monitors")
    stranger = signed_in(app, make_user(other, Role.COORDINATOR))
    assert "Baykar" not in stranger.get("/transfers/").get_data(as_text=True)
    assert stranger.get(f"/transfers/{transfer_id}/edit").status_code == 404
    token = csrf_token(stranger.get("/account").get_data(as_text=True))
    assert stranger.post(f"/transfers/{transfer_id}/edit", data={"csrf_token": token, **PERMIT}).status_code == 404
    assert stranger.post(f"/transfers/{transfer_id}/delete", data={"csrf_token": token}).status_code == 404
    # The other organisation's own report of the same strike gets no indicator from our record.
    their_reporter, their_verifier = make_user(other, Role.REPORTER), make_user(other, Role.VERIFIER)
    theirs = triaged_report(app, their_reporter, **STRIKE)
    assert indicators(page_of(signed_in(app, their_verifier), theirs)) == []
    assert db.session.scalar(select(Transfer.quantity)) == 7


# ---- the form -----------------------------------------------------------------------------------


def test_bad_input_is_refused_with_clear_errors_and_everything_typed_is_kept(app: Any, org: Any) -> None:
    office = signed_in(app, make_user(org, Role.COORDINATOR))
    typed = {"importing_state": "Narnia", "date": "May 2020", "source_url": "www.example.org/permits",
             "designation": "Wescam Mark IX", "quantity": "seven",
             "notes": "Seen in a leaked spreadsheet; the row number is uncertain."}
    refused = record_permit(office, **typed)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    page = text_of(html)
    assert "The transfer record was not saved yet." in page
    assert "Choose a country from the suggestions, or write its two-letter code." in page
    assert "Enter the date as YYYY-MM-DD, YYYY-MM or YYYY." in page
    assert "Enter a full web address starting with http:// or https://." in page
    assert "Not a valid integer value." in page
    for value in ("Narnia", "May 2020", "www.example.org/permits", "Wescam Mark IX", "seven", "Canada", "Baykar"):
        assert f'value="{value}"' in html, value
    assert "Seen in a leaked spreadsheet; the row number is uncertain." in html
    assert CITATION in html
    assert db.session.scalar(select(Transfer)) is None
    # A designation the catalogue does not know needs its kind; the same state twice is no transfer.
    unknown = record_permit(office, designation="Wescam Mark IX", importing_state="Canada")
    assert unknown.status_code == 422
    unknown_page = text_of(unknown.get_data(as_text=True))
    assert "This designation is not in the weapon catalogue: choose the kind of item." in unknown_page
    assert "The importing state must differ from the exporting state." in unknown_page
    future = text_of(record_permit(office, date="2999-01").get_data(as_text=True))
    assert "The date cannot be in the future." in future
    assert db.session.scalar(select(Transfer)) is None


def test_a_coordinator_edits_and_deletes_a_record_and_both_are_audited(app: Any, org: Any) -> None:
    office = signed_in(app, make_user(org, Role.COORDINATOR))
    assert record_permit(office).status_code == 302
    transfer_id = db.session.scalar(select(Transfer.public_id))
    db.session.remove()
    edit_url = f"/transfers/{transfer_id}/edit"
    form = office.get(edit_url).get_data(as_text=True)
    assert 'value="2020-05"' in form and 'value="Canada"' in form and 'value="7"' in form
    bad = post_form(office, edit_url, {**PERMIT, "quantity": "0"})
    assert bad.status_code == 422 and "Must be 1 or more." in text_of(bad.get_data(as_text=True))
    assert post_form(office, edit_url, {**PERMIT, "quantity": "9", "date": "2020-05-14"}).status_code == 302
    assert (db.session.scalar(select(Transfer.quantity)), db.session.scalar(select(Transfer.date_precision))) == \
        (9, "day")
    db.session.remove()
    assert audit("transfer.updated")[0]["changed"] == "quantity,transfer_date,date_precision"
    token = csrf_token(office.get("/transfers/").get_data(as_text=True))
    assert office.post(f"/transfers/{transfer_id}/delete", data={"csrf_token": token}).status_code == 302
    assert db.session.scalar(select(Transfer)) is None
    assert audit("transfer.deleted")[0]["target"] == transfer_id


# ---- the report's "used by", the command line and the API ----------------------------------------


def test_the_report_names_who_used_the_weapon(app: Any, client: Any, reporter: Any) -> None:
    from tests.test_api import post_report

    token = create_token(db.session, db.session.get(type(reporter), reporter.id))
    db.session.commit()
    refused = post_report(client, token, complete_report(used_by="XX"))
    assert refused.status_code == 422
    assert "used_by" in refused.get_json()["errors"]
    accepted = post_report(client, token, complete_report(used_by="az"), key="key-0000002")
    assert accepted.status_code == 201, accepted.get_json()
    file_accepted()  # the workers' first step files what the API accepted
    assert db.session.scalar(select(Report.used_by)) == "AZ"


def test_the_web_form_takes_who_used_the_weapon_by_name(reporter_client: Any) -> None:
    from tests.test_field import form_fields
    from tests.test_field import page_of as form_page

    _, token, submission_id = form_page(reporter_client)
    refused = reporter_client.post("/reports/new", data=form_fields(token, submission_id, used_by="Atlantis"))
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert re.search(r'id="used_by-error"[^>]*>\s*<li>Choose a country from the suggestions', html)
    assert 'value="Atlantis"' in html and "Shells hit the courtyard" in html
    sent = reporter_client.post("/reports/new", data=form_fields(token, submission_id, used_by="azerbaijan"))
    assert sent.status_code == 302
    assert db.session.scalar(select(Report.used_by)) == "AZ"


def test_cli_adds_and_lists_transfers(app: Any, org: Any, run: Any) -> None:  # noqa: F811
    added = run("transfer", "add", "--org", org.name, "--from", "Canada", "--to", "TR", "--end-user", "Baykar",
                "--item", "MX 15D", "--quantity", "7", "--date", "2020-05", "--source", "permit_list",
                "--citation", CITATION)
    assert added.exit_code == 0, added.output
    assert "MX-15D  CA -> TR" in added.output
    refused = run("transfer", "add", "--org", org.name, "--from", "CA", "--to", "CA", "--end-user", "Baykar",
                  "--item", "Mark IX", "--date", "05/2020", "--source", "other", "--citation", CITATION)
    assert refused.exit_code != 0
    assert "date: Enter the date as YYYY-MM-DD, YYYY-MM or YYYY." in refused.output
    same = run("transfer", "add", "--org", org.name, "--from", "CA", "--to", "Canada", "--end-user", "Baykar",
               "--item", "MX-15D", "--date", "2020", "--source", "other", "--citation", CITATION)
    assert same.exit_code != 0 and "importing_state: The importing state must differ" in same.output
    listed = run("transfer", "list", "--org", org.name)
    assert listed.exit_code == 0 and "2020-05" in listed.output and "7 x MX-15D  CA -> TR  end user Baykar" in \
        listed.output
    as_json = [json.loads(line) for line in run("transfer", "list", "--org", org.name, "--json").output.splitlines()]
    assert [(t["designation"], t["catalogue_name"], t["date"]) for t in as_json] == [("MX 15D", "MX-15D", "2020-05")]
    assert audit("transfer.created")[0]["via"] == "cli"


def test_api_lists_transfers_for_a_read_only_token_of_the_organisation(app: Any, org: Any, client: Any) -> None:
    coordinator = make_user(org, Role.COORDINATOR)
    assert record_permit(signed_in(app, coordinator)).status_code == 302
    stranger = make_user(make_org("Other Monitors"), Role.COORDINATOR)
    coordinator = db.session.merge(coordinator)
    stranger = db.session.merge(stranger)
    partner = create_token(db.session, coordinator, scope="export:public", via="test")
    submitting = create_token(db.session, coordinator)
    elsewhere = create_token(db.session, stranger, scope="export:public", via="test")
    db.session.commit()

    def get(token: str) -> Any:
        return client.get("/api/v1/transfers", headers={"Authorization": f"Bearer {token}"})

    listed = get(partner)
    assert listed.status_code == 200
    [row] = listed.get_json()["transfers"]
    assert (row["catalogue_name"], row["exporting_state"], row["importing_state"], row["quantity"], row["date"],
            row["source_kind"]) == ("MX-15D", "CA", "TR", 7, "2020-05", "permit_list")
    assert get(submitting).status_code == 403
    assert get(elsewhere).get_json() == {"transfers": []}
    assert client.get("/api/v1/transfers").status_code == 401
