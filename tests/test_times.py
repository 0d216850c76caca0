"""Moments are shown with their time zone named (intake/web/times.py): UTC from the server, the
browser's own zone where JavaScript runs. Through real HTTP, and in Chromium set to a zone."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select, update

from intake.enums import Role
from intake.extensions import db
from intake.incidents import link_together
from intake.models import AuditEntry, Report, User
from tests.conftest import PASSWORD, make_user, sign_in
from tests.test_browser import PHONE, TIMEOUT_MS, LiveServer, browser, expect, live_server  # noqa: F401 (fixtures)
from tests.test_field import form_fields, page_of
from tests.test_verify import signed_in, triaged_report
from tests.test_workflow import act

# A report received at 03:10 UTC: 07:10 in Yerevan (UTC+4 all year, no summer time).
RECEIVED = dt.datetime(2026, 12, 2, 3, 10, 42, tzinfo=dt.UTC)
SHOWN = '<time class="moment" datetime="2026-12-02T03:10:42Z">2026-12-02 03:10 UTC</time>'
MOMENT = re.compile(r'<time class="moment" datetime="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"( data-seconds="1")?>'
                    r"(\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)?) UTC</time>")


def received_at(report_id: int, when: dt.datetime = RECEIVED) -> None:
    db.session.execute(update(Report).where(Report.id == report_id).values(received_at=when))
    db.session.commit()
    db.session.remove()


def moments(html: str) -> list[tuple[str, str]]:
    """Each moment on the page: (its UTC stamp, what it shows), checked to agree."""
    found = []
    for stamp, _seconds, shown in MOMENT.findall(html):
        when = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
        assert shown == when.strftime("%Y-%m-%d %H:%M:%S" if len(shown) > 16 else "%Y-%m-%d %H:%M"), (stamp, shown)
        found.append((stamp, shown))
    return found


def test_reporter_sees_times_in_utc_named(reporter_client: Any) -> None:
    _, token, submission_id = page_of(reporter_client)
    sent = reporter_client.post("/reports/new", data=form_fields(token, submission_id))
    assert sent.status_code == 302
    report = db.session.scalar(select(Report))
    assert report is not None
    received_at(report.id)
    receipt = reporter_client.get(sent.headers["Location"]).get_data(as_text=True)
    assert SHOWN in receipt
    mine = reporter_client.get("/my-reports").get_data(as_text=True)
    assert f"Sent {SHOWN}" in mine
    assert moments(mine) == [("2026-12-02T03:10:42Z", "2026-12-02 03:10")]


def test_verifier_and_admin_pages_name_the_zone_of_every_time(app: Any, org: Any, reporter: Any,
                                                               verifier: Any) -> None:
    first = triaged_report(app, reporter)
    second = triaged_report(app, reporter, locality="Khndzoresk village")
    received_at(first.id)
    with app.test_request_context():
        incident = link_together(db.session, db.session.get(User, verifier.id), db.session.get(Report, first.id),
                                 db.session.get(Report, second.id))
        db.session.commit()
        incident_id = incident.public_id
    db.session.remove()
    browser_ = signed_in(app, verifier)
    queue = browser_.get("/queue/").get_data(as_text=True)
    assert SHOWN in queue and len(moments(queue)) == 2

    assert act(browser_, first, "claim").status_code == 302
    page = browser_.get(f"/queue/reports/{first.public_id}").get_data(as_text=True)
    assert f"received {SHOWN} via" in page
    claim = re.search(r"since (<time[^>]*>[^<]*</time>)", page)
    assert claim and MOMENT.fullmatch(claim.group(1)), "the claim's time is named"
    timeline = page.split('id="timeline"', 1)[1]
    assert len(moments(timeline)) >= 2, "every timeline entry carries its moment"
    assert not re.search(r"\b\d\d:\d\d\b", re.sub(r"<time.*?</time>", "", timeline)), \
        "no time in the timeline outside a named moment"

    incident_page = browser_.get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert re.search(r"created <time class=\"moment\"", incident_page)
    listing = browser_.get("/incidents/").get_data(as_text=True)
    assert len(moments(listing)) == 1

    admin = make_user(org, Role.ADMIN, "times.admin@example.org")
    other = app.test_client()
    assert sign_in(other, admin.email).status_code == 302
    audit = other.get("/admin/audit").get_data(as_text=True)
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.organisation_id == org.id)).all()
    shown = moments(audit)
    assert shown and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", text) for _stamp, text in shown), \
        "the audit log shows seconds"
    stamps = {stamp for stamp, _text in shown}
    assert {e.at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for e in entries[-5:]} <= stamps
    assert "When (UTC)" not in audit


@pytest.mark.browser
def test_the_browser_shows_its_own_zone_named(browser: Any, live_server: LiveServer,  # noqa: F811
                                             app: Any, reporter: Any) -> None:
    report = triaged_report(app, reporter)
    received_at(report.id)
    context = browser.new_context(base_url=live_server.url, timezone_id="Asia/Yerevan", **PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto("/sign-in")
        page.get_by_label("E-mail").fill(reporter.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("navigation", name="Main").get_by_role("link", name="My reports").click()
        moment = page.locator('time.moment[datetime="2026-12-02T03:10:42Z"]')
        expect(moment).to_have_text("2026-12-02 07:10 GMT+4")
        expect(moment).to_have_attribute("title", "2026-12-02 03:10 UTC · Asia/Yerevan")
    finally:
        context.close()
