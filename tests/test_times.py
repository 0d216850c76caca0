"""Moments are shown with their time zone named (intake/web/times.py): UTC from the server, the
browser's own zone where JavaScript runs. Through real HTTP, and in Chromium set to a zone."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import pytest
from sqlalchemy import select, update

from intake.enums import Role
from intake.extensions import db
from intake.incidents import link_together
from intake.media import store_upload
from intake.models import AuditEntry, Report, User
from tests.conftest import PASSWORD, csrf_token, jpeg_bytes, make_user, sign_in
from tests.test_browser import PHONE, TIMEOUT_MS, LiveServer, browser, expect, live_server  # noqa: F401 (fixtures)
from tests.test_field import form_fields, page_of
from tests.test_verify import signed_in, triaged_report
from tests.test_workflow import act

# A report received at 03:10 UTC: 07:10 in Yerevan (UTC+4 all year, no summer time).
RECEIVED = dt.datetime(2026, 12, 2, 3, 10, 42, tzinfo=dt.UTC)
NNBSP = "\u202f"  # CLDR's narrow no-break space, before "AM" in English and "г." in Russian
SHOWN = f'<time class="moment" datetime="2026-12-02T03:10:42Z">Dec 2, 2026, 3:10{NNBSP}AM UTC</time>'
MOMENT = re.compile(r'<time class="moment" datetime="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"( data-seconds="1")?>'
                    r"([^<]*) UTC</time>")


def received_at(report_id: int, when: dt.datetime = RECEIVED) -> None:
    db.session.execute(update(Report).where(Report.id == report_id).values(received_at=when))
    db.session.commit()
    db.session.remove()


def english(when: dt.datetime, seconds: bool = False) -> str:
    """How an English page writes a UTC moment: CLDR's medium date and short (medium) time, 12-hour."""
    hour = str(int(when.strftime("%I")))
    clock = f"{hour}:{when:%M}" + (f":{when:%S}" if seconds else "")
    return f"{when:%b} {when.day}, {when.year}, {clock}{NNBSP}{when:%p}"


def moments(html: str) -> list[tuple[str, str]]:
    """Each moment on the page: (its UTC stamp, what it shows), checked to agree."""
    found = []
    for stamp, seconds, shown in MOMENT.findall(html):
        when = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
        assert shown == english(when, bool(seconds)), (stamp, shown)
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
    assert moments(mine) == [("2026-12-02T03:10:42Z", f"Dec 2, 2026, 3:10{NNBSP}AM")]


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
    assert not re.search(r"\b\d\d?:\d\d\b", re.sub(r"<time.*?</time>", "", timeline)), \
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
    assert shown and all(re.search(r" \d\d?:\d\d:\d\d\u202f[AP]M$", text) for _stamp, text in shown), \
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
        expect(moment).to_have_text(f"Dec 2, 2026, 7:10{NNBSP}AM GMT+4")
        expect(moment).to_have_attribute("title", f"Dec 2, 2026, 3:10{NNBSP}AM UTC · Asia/Yerevan")
    finally:
        context.close()


# ---- in the reader's language (Babel, CLDR): Gregorian dates, the language's own way of writing them ----

NBSP = "\u00a0"  # Russian groups digits with a no-break space
RLM = "\u200f"  # Arabic dates carry right-to-left marks around their slashes


def test_a_russian_page_writes_dates_and_moments_in_russian(reporter_client: Any) -> None:
    _, token, submission_id = page_of(reporter_client)
    sent = reporter_client.post("/reports/new", data=form_fields(token, submission_id))
    assert sent.status_code == 302
    report = db.session.scalar(select(Report))
    assert report is not None
    received_at(report.id)
    mine = reporter_client.get("/my-reports", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert 'lang="ru"' in mine
    assert (f'<time class="moment" datetime="2026-12-02T03:10:42Z">2 дек. 2026{NNBSP}г., 03:10 UTC</time>'
            in mine), "medium date, 24-hour time, the zone named"
    assert f"14 мар. 2026{NNBSP}г." in mine, "the event's date (2026-03-14) as Russian writes it"
    assert "2026-03-14" not in mine and "Mar 14" not in mine
    receipt = reporter_client.get(sent.headers["Location"], headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert f"2 дек. 2026{NNBSP}г., 03:10 UTC</time>" in receipt and f"14 мар. 2026{NNBSP}г." in receipt

    english_page = reporter_client.get("/my-reports", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert f"Sent {SHOWN}" in english_page and "Mar 14, 2026" in english_page, "the same moment and day in English"


def test_an_arabic_page_writes_gregorian_dates(app: Any, reporter: Any, verifier: Any) -> None:
    report = triaged_report(app, reporter)
    received_at(report.id)
    queue = signed_in(app, verifier).get("/queue/", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert 'lang="ar"' in queue
    # Gregorian day/month/year as CLDR writes them for Arabic, Latin digits (CLDR's default for "ar").
    assert f"02{RLM}/12{RLM}/2026، 3:10 ص UTC</time>" in queue
    assert f"14{RLM}/03{RLM}/2026" in queue, "the event's date, 2026-03-14"
    # 14 March 2026 is 25 Ramadan 1447 and 2 December 2026 is in Jumada al-Akhirah 1448: no Hijri year.
    assert "1447" not in queue and "1448" not in queue and "رمضان" not in queue


def test_counts_and_figures_are_written_as_the_language_writes_numbers(app: Any, org: Any, reporter: Any,
                                                                        verifier: Any) -> None:
    first = triaged_report(app, reporter, killed={"men": 1200, "women": 34})
    second = triaged_report(app, reporter, locality="Khndzoresk village")
    with app.test_request_context():
        actor = db.session.get(User, verifier.id)
        incident = link_together(db.session, actor, db.session.get(Report, first.id), db.session.get(Report, second.id))
        db.session.commit()
        incident_id = incident.public_id
    db.session.remove()
    browser_ = signed_in(app, verifier)
    token = csrf_token(browser_.get(f"/incidents/{incident_id}").get_data(as_text=True))
    recorded = browser_.post(f"/incidents/{incident_id}/figures", data={
        "csrf_token": token, "killed": "1234", "injured": "2", "missing": "0", "note": "Hospital list"})
    assert recorded.status_code == 302
    russian = {"Accept-Language": "ru"}
    page = browser_.get(f"/queue/reports/{first.public_id}", headers=russian).get_data(as_text=True)
    assert f"<td>1{NBSP}200</td>" in page and f"<td>1{NBSP}234</td>" in page, "the report's casualty table"
    incident_page = browser_.get(f"/incidents/{incident_id}", headers=russian).get_data(as_text=True)
    assert f"<td>1{NBSP}234</td>" in incident_page, "reconciled figures"
    listing = browser_.get("/incidents/", headers=russian).get_data(as_text=True)
    assert f"<td>1{NBSP}234</td>" in listing
    assert "<td>1234</td>" not in listing
    az = browser_.get("/incidents/", headers={"Accept-Language": "az"}).get_data(as_text=True)
    assert "<td>1.234</td>" in az
    english_page = browser_.get("/incidents/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<td>1,234</td>" in english_page


def test_file_sizes_and_limits_in_the_readers_language(app: Any, reporter: Any, verifier: Any,
                                                       reporter_client: Any) -> None:
    report = triaged_report(app, reporter)
    content = jpeg_bytes((200, 120)) + b"\x00" * (2_600_000)
    with app.app_context():
        store_upload(db.session, app.config, io.BytesIO(content), "IMG_0042.jpg", reporter,
                     report=db.session.get(Report, report.id))
        db.session.commit()
    browser_ = signed_in(app, verifier)
    page = browser_.get(f"/queue/reports/{report.public_id}", headers={"Accept-Language": "uk"}).get_data(as_text=True)
    assert "image/jpeg · 2,5 МБ ·" in page, "the file's size, unit and decimal comma in Ukrainian"
    page = browser_.get(f"/queue/reports/{report.public_id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "image/jpeg · 2.5 MB ·" in page

    app.config["MAX_FILE_BYTES"] = 2_621_440  # 2.5 MB
    form = reporter_client.get("/reports/new", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    help_text = re.search(r'<p class="help">[^<]*2,5[^<]*</p>', form)
    assert help_text and "2.5" not in form, "the limit with a decimal comma"
    assert "2.5" in reporter_client.get("/reports/new", headers={"Accept-Language": "en"}).get_data(as_text=True)


@pytest.mark.browser
def test_the_browser_writes_its_zone_in_the_pages_language(browser: Any, live_server: LiveServer,  # noqa: F811
                                                          app: Any, reporter: Any) -> None:
    report = triaged_report(app, reporter)
    received_at(report.id)
    for language, shown in (("ru", f"2 дек. 2026{NNBSP}г., 07:10 GMT+4"),
                            # Chromium carries no Armenian date data: numbers, not English words.
                            ("hy", "2026-12-02 07:10 GMT+4")):
        context = browser.new_context(base_url=live_server.url, timezone_id="Asia/Yerevan",
                                      **{**PHONE, "locale": language})
        context.set_default_timeout(TIMEOUT_MS)
        try:
            page = context.new_page()
            page.goto("/sign-in")
            page.locator("#email").fill(reporter.email)
            page.locator("#password").fill(PASSWORD)
            page.locator("form.narrow button[type=submit]").click()
            page.goto("/my-reports")
            moment = page.locator('time.moment[datetime="2026-12-02T03:10:42Z"]')
            expect(moment).to_have_text(shown)
            expect(moment).to_have_attribute("title", re.compile(r"UTC · Asia/Yerevan$"))
        finally:
            context.close()
