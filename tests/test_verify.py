"""The verifiers' first view: the triage queue of their own organisation and a read-only report page."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import update

from intake.enums import Channel, ReportState, Role
from intake.extensions import db
from intake.models import Report
from intake.pipeline import process_report
from intake.reports import submit_report
from intake.schema import ReportIn
from tests.conftest import complete_report, make_org, make_user, sign_in


def triaged_report(app: Any, reporter: Any, **overrides: Any) -> Report:
    """A report filed by `reporter` and taken to triage by the pipeline."""
    with app.test_request_context():
        submission = submit_report(db.session, reporter, ReportIn.model_validate(complete_report(**overrides)),
                                   Channel.API, f"sub-{dt.datetime.now().timestamp()}")
        db.session.commit()
        process_report(db.session, app.config, submission.report.id)
        db.session.commit()
        return submission.report


def signed_in(app: Any, user: Any) -> Any:
    browser = app.test_client()
    assert sign_in(browser, user.email).status_code == 302
    return browser


def test_verifier_sees_own_organisations_reports_in_triage(app: Any, org: Any, reporter: Any, verifier: Any) -> None:
    """A verifier sees a triaged report of their organisation; a verifier of another does not."""
    report = triaged_report(app, reporter, locality="Khndzoresk")
    outsider = make_user(make_org("Other NGO"), Role.VERIFIER)
    mine = signed_in(app, verifier).get("/queue/").get_data(as_text=True)
    theirs = signed_in(app, outsider).get("/queue/").get_data(as_text=True)
    assert report.public_id in mine and "Khndzoresk" in mine
    assert report.public_id not in theirs and "No reports are waiting" in theirs
    assert signed_in(app, outsider).get(f"/queue/reports/{report.public_id}").status_code == 404


def test_reports_not_yet_processed_are_not_in_triage(app: Any, reporter: Any, verifier: Any) -> None:
    """A report still in `received` is not shown in the triage tab."""
    with app.test_request_context():
        submission = submit_report(db.session, reporter, ReportIn.model_validate(complete_report()), Channel.WEB,
                                   "sub-not-processed")
        db.session.commit()
    html = signed_in(app, verifier).get("/queue/").get_data(as_text=True)
    assert submission.report.public_id not in html


def test_reporters_and_admins_have_no_queue(app: Any, org: Any, reporter: Any) -> None:
    """The queue and report pages answer 404 to reporters and admins."""
    report = triaged_report(app, reporter)
    for user in (reporter, make_user(org, Role.ADMIN)):
        browser = signed_in(app, user)
        assert browser.get("/queue/").status_code == 404
        assert browser.get(f"/queue/reports/{report.public_id}").status_code == 404


def test_queue_is_newest_first_paginated_and_filtered(app: Any, reporter: Any, verifier: Any) -> None:
    """Sorted newest first, pages follow on with a cursor without repeats; the type filter narrows the list."""
    app.config["QUEUE_PAGE_SIZE"] = 3
    ids = []
    base = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    for i in range(7):
        report = triaged_report(app, reporter, incident_type="shelling" if i % 2 else "airstrike")
        db.session.execute(update(Report).where(Report.id == report.id)
                           .values(received_at=base + dt.timedelta(minutes=i)))
        ids.append(report.public_id)
    db.session.commit()
    browser = signed_in(app, verifier)
    seen: list[str] = []
    url = "/queue/?sort=newest"
    while url:
        html = browser.get(url).get_data(as_text=True)
        seen += re.findall(r'/queue/reports/([0-9a-f-]{36})', html)
        nxt = re.search(r'href="(/queue/\?[^"]*after=[^"]+)"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else ""
    assert seen == list(reversed(ids))
    html = browser.get("/queue/?incident_type=shelling&sort=newest").get_data(as_text=True)
    shown = re.findall(r'/queue/reports/([0-9a-f-]{36})', html)
    assert shown == [ids[5], ids[3], ids[1]]
    assert '<span class="count">3</span>' in html
    assert browser.get("/queue/?incident_type=teleportation").status_code == 400


def test_report_page_shows_publishable_facts_and_withholds_identities(app: Any, reporter: Any, verifier: Any) -> None:
    """The page shows what happened and with what (the anonymized account included), but no names,
    contacts, coordinates or original account."""
    report = triaged_report(app, reporter)
    html = signed_in(app, verifier).get(f"/queue/reports/{report.public_id}").get_data(as_text=True)
    for shown in ("Drone strike", "Khndzoresk", "Bayraktar TB2", "MAM-L", "MX-15D", "LOT 0419 ROKETSAN",
                  "Eyewitness", "Share anonymized", report.state.label):
        assert str(shown) in html, shown
    for withheld in ("Anahit Petrosyan", "Aram Petrosyan", "Gor Hakobyan", "+374 91 234567", "gor@example.org",
                     "39.5057", "46.4362", "t.me/example"):
        assert withheld not in html, withheld
    assert "a drone struck the bakery queue on the main street" in html, "the anonymized account is shown"
    assert "1 recorded, identity withheld" in html
    assert "Waiting for review" in html and "automatic" in html


def test_script_in_a_text_field_is_shown_as_text(app: Any, reporter: Any, verifier: Any) -> None:
    """Markup typed into a field is escaped on the verifier's pages."""
    payload = '<script>alert("x")</script>'
    report = triaged_report(app, reporter, locality=payload, markings=payload)
    browser = signed_in(app, verifier)
    for url in ("/queue/", f"/queue/reports/{report.public_id}"):
        html = browser.get(url).get_data(as_text=True)
        assert payload not in html and "&lt;script&gt;" in html
    assert report.state == ReportState.TRIAGE
