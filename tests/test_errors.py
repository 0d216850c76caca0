"""Clear answers instead of 500s (issue 12, item 19): cursors and parameters out of range, actions on an
erased report, and a stored record that fails its integrity check."""

from __future__ import annotations

import base64
import json
from typing import Any

from sqlalchemy import select, text

from intake.enums import Role
from intake.extensions import db
from intake.models import AuditEntry, Report
from tests.conftest import csrf_token, make_user, sign_in
from tests.test_verify import triaged_report

HUGE = 2**70


def signed_in(app: Any, user: Any) -> Any:
    browser = app.test_client()
    assert sign_in(browser, user.email).status_code == 302
    return browser


def b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def test_queue_cursor_with_an_integer_beyond_64_bits(app: Any, reporter: Any, verifier: Any) -> None:
    """A cursor is the client's to send: one the database cannot compare is no cursor of ours — the
    first page, as for any foreign cursor."""
    report = triaged_report(app, reporter)
    browser = signed_in(app, verifier)
    for sort, values in (("priority", [HUGE, "2026-01-01T00:00:00+00:00", 1]),
                         ("priority", [1, "2026-01-01T00:00:00+00:00", -HUGE]),
                         ("newest", ["2026-01-01T00:00:00+00:00", HUGE]),
                         ("newest", ["9999-12-31T23:59:59-14:00", 1]),
                         ("occurred", ["2026-01-01", HUGE])):
        cursor = b64(json.dumps([sort, *values]))
        response = browser.get(f"/queue/?sort={sort}&after={cursor}")
        assert response.status_code == 200, (sort, values)
        assert report.public_id in response.get_data(as_text=True)


def test_incidents_cursor_out_of_range(app: Any, verifier: Any) -> None:
    browser = signed_in(app, verifier)
    for raw in (f"2026-01-01T00:00:00|{HUGE}", "9999-12-31T23:59:59-14:00|1", "2026-01-01T00:00:00|-1",
                "2026-01-01T00:00:00|²", "", "|"):
        assert browser.get(f"/incidents/?after={b64(raw)}").status_code == 200, raw
    assert browser.get("/incidents/?after=").status_code == 200
    assert browser.get("/incidents/?after=%00").status_code == 400


def test_nul_in_a_path_or_query_string(app: Any, reporter: Any, verifier: Any) -> None:
    """PostgreSQL refuses NUL in text: a path with one is nothing of ours (404), a query string with
    one is a bad request (400) — before any view looks it up."""
    report = triaged_report(app, reporter)
    browser = signed_in(app, verifier)
    assert browser.get("/queue/reports/%00").status_code == 404
    assert browser.get(f"/queue/reports/{report.public_id}%00").status_code == 404
    assert browser.get("/queue/reports/x/files/%00/copy").status_code == 404
    assert browser.get("/queue/?admin1=Syu%00nik").status_code == 400
    assert browser.get("/queue/?x%00=1").status_code == 400


def test_admin_audit_parameters_out_of_range(app: Any, org: Any) -> None:
    browser = signed_in(app, make_user(org, Role.ADMIN))
    assert browser.get("/admin/audit?before=999999999999999999999999").status_code == 400
    assert browser.get("/admin/audit?before=%C2%B2").status_code == 400  # a Unicode digit
    assert browser.get("/admin/audit?before=-1").status_code == 400
    assert browser.get("/admin/audit?before=9223372036854775807").status_code == 200
    # The calendar's last day is a date like any other: "until then" has no upper bound.
    page = browser.get("/admin/audit?until=9999-12-31")
    assert page.status_code == 200 and "Signed in" in page.get_data(as_text=True)
    assert browser.get("/admin/audit?since=9999-12-31&until=9999-12-31").status_code == 200
    assert browser.get("/admin/audit?since=0001-01-01").status_code == 200
    for bad in ("10000-01-01", "2026-02-30", "%2B2026-01-01", "2026-1-1", "%EF%BC%92026-01-01"):
        assert browser.get(f"/admin/audit?until={bad}").status_code == 400, bad


def erased_report(app: Any, reporter: Any) -> Report:
    from intake.keys import erase_report

    report = triaged_report(app, reporter)
    with app.app_context():
        erase_report(db.session, app.config, db.session.get(Report, report.id))
        db.session.commit()
    return report


def test_actions_on_an_erased_report_answer_410(app: Any, org: Any, reporter: Any, verifier: Any) -> None:
    """Claiming or commenting on a report whose data key was erased needs what is gone: 410 Gone with
    a page that says so, and nothing stored."""
    report = erased_report(app, reporter)
    browser = signed_in(app, verifier)
    token = csrf_token(browser.get(f"/queue/reports/{report.public_id}").get_data(as_text=True))
    before = db.session.scalar(select(text("count(*)")).select_from(AuditEntry))
    db.session.rollback()
    for action, data in (("claim", {}), ("comments", {"comment-text": "Looked at the place today."})):
        response = browser.post(f"/queue/reports/{report.public_id}/{action}",
                                data={"csrf_token": token, "comment-csrf_token": token, **data})
        assert response.status_code == 410, action
        assert "originals were erased" in response.get_data(as_text=True)
    assert db.session.scalar(select(text("count(*)")).select_from(AuditEntry)) == before


def tamper(app: Any, report: Report) -> None:
    """Flip one byte of the report's sealed document in the database, as a damaged disk or someone
    with write access would."""
    engine = app.extensions["intake_engine"]
    with engine.begin() as conn:
        blob = bytearray(conn.execute(text("SELECT sealed FROM reports WHERE id = :i"), {"i": report.id}).scalar_one())
        blob[-5] ^= 0x01
        conn.execute(text("UPDATE reports SET sealed = :b WHERE id = :i"), {"b": bytes(blob), "i": report.id})


def test_a_sealed_record_that_fails_its_check(app: Any, org: Any, reporter: Any, verifier: Any) -> None:
    """A report whose sealed document was altered: a page that says the stored record failed its
    integrity check (a 500: the server's record is at fault, not the request), nothing of the record
    shown, and an audit entry naming the record by id only."""
    report = triaged_report(app, reporter)
    tamper(app, report)
    app.config["PROPAGATE_UNEXPECTED"] = True  # any other error still raises in the test
    browser = signed_in(app, verifier)
    response = browser.get(f"/queue/reports/{report.public_id}")
    if response.status_code == 200:  # the page may not need the sealed document: revealing does
        token = csrf_token(response.get_data(as_text=True))
        response = browser.post(f"/queue/reports/{report.public_id}/reveal",
                                data={"reveal-csrf_token": token, "reveal-what": "location",
                                      "reveal-reason": "Checking the witness list for the follow-up call."})
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "failed its integrity check" in html and "logged and audited" in html
    assert "Petrosyan" not in html and "Hakobyan" not in html
    [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "record.integrity_failed"))
    assert entry.target_type == "report" and entry.target_id == report.public_id
    assert entry.actor_id == verifier.public_id and entry.organisation_id == org.id


def test_a_sealed_record_that_fails_its_check_through_the_api(app: Any, reporter: Any) -> None:
    from tests.conftest import make_token

    report = triaged_report(app, reporter)
    token = make_token(reporter)
    tamper(app, report)
    response = app.test_client().get(f"/api/v1/reports/{report.public_id}",
                                     headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 500 and response.get_json()["error"] == "integrity_failure"
    assert "Petrosyan" not in response.get_data(as_text=True)


def test_nul_in_a_forms_id_field(app: Any, reporter: Any, verifier: Any) -> None:
    """A report's id in a hidden field that is no id of ours (a NUL, which PostgreSQL refuses) is a bad
    request, refused before any lookup."""
    report = triaged_report(app, reporter)
    browser = signed_in(app, verifier)
    token = csrf_token(browser.get(f"/queue/reports/{report.public_id}").get_data(as_text=True))
    for data in ({"report": "a\x00b"}, {"report": report.public_id, "other": "a\x00b"},
                 {"report": report.public_id, "incident": "a\x00b"}):
        assert browser.post("/incidents/link", data={"csrf_token": token, **data}).status_code == 400, data
