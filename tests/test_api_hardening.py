"""The API under abuse (issue 12, items 15, 17 and 18): files only while a report is open to them,
the bearer token before the body, a JSON body far below the upload cap, and rate limits and quotas
that a real field team never meets, answered 429 with Retry-After."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from intake.enums import ReportState
from intake.extensions import db
from intake.models import Attachment, AuditEntry, Report
from tests.conftest import complete_report, jpeg_bytes, make_token
from tests.test_api import REPORTS, bearer, upload
from tests.test_verify import signed_in, triaged_report
from tests.test_workflow import QUESTION, act, claimed, page_of


def _attachments_of(report: Report) -> int:
    db.session.remove()
    return db.session.scalar(select(func.count()).select_from(Attachment)  # type: ignore[return-value]
                             .where(Attachment.report_id == report.id))


def _audited(report: Report, action: str) -> list[AuditEntry]:
    db.session.remove()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.target_id == report.public_id,
                                                           AuditEntry.action == action)))


# ---- item 18: files only while the report is being filed or answers a question ----------------------


def test_files_are_refused_once_the_report_is_with_the_verifiers(app: Any, reporter: Any) -> None:
    """A triaged, in-review or verified report takes no new file: 409 with a clear message, nothing stored."""
    token = make_token(reporter)
    report = triaged_report(app, reporter)
    client = app.test_client()
    for state in (ReportState.TRIAGE, ReportState.IN_REVIEW, ReportState.VERIFIED, ReportState.REJECTED):
        db.session.execute(update(Report).where(Report.id == report.id).values(state=state))
        db.session.commit()
        response = upload(client, token, report.public_id, jpeg_bytes())
        assert response.status_code == 409, (state, response.get_json())
        body = response.get_json()
        assert body["error"] == "report_closed_to_files" and body["report_status"] == state.value
        assert "no longer open to new files" in body["message"]
    assert _attachments_of(report) == 0
    assert _audited(report, "report.attachment_added") == []


def test_files_while_filing_and_while_answering_a_question_are_audited_and_on_the_timeline(
        app: Any, reporter: Any, verifier: Any) -> None:
    token = make_token(reporter)
    client = app.test_client()
    # Being filed: accepted, and audited like every file added after the report itself.
    created = client.post(REPORTS, json=complete_report(),
                          headers={**bearer(token), "Idempotency-Key": "key-late-0001"})
    assert created.status_code == 201
    early = upload(client, token, created.get_json()["id"], jpeg_bytes((32, 32)))
    assert early.status_code == 201, early.get_json()

    # Answering a question: accepted, audited, and on the verifiers' timeline.
    report, browser = claimed(app, reporter, verifier)
    assert act(browser, report, "question", "question", question=QUESTION).status_code == 302
    late = upload(client, token, report.public_id, jpeg_bytes((40, 30)))
    assert late.status_code == 201, late.get_json()
    assert _attachments_of(report) == 1
    (entry,) = _audited(report, "report.attachment_added")
    assert entry.detail["attachment"] == late.get_json()["id"] and entry.detail["state"] == "needs_info"
    html = page_of(signed_in(app, verifier), report)
    assert "File added by the reporter after filing" in html and "image/jpeg" in html
