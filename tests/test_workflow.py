"""The verification workflow through the real HTTP interface: claims and their idle expiry, the
checklist and grades with a second sign-off, reasons, duplicates, the timeline, questions to the
reporter, and the queue's tabs, filters, sorts and pages. Every action is audited and the audit
chain stays intact."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

from sqlalchemy import select, text, update

from intake.enums import JobState, ReportState, Role
from intake.extensions import db
from intake.models import (
    Assessment,
    AuditEntry,
    InfoRequest,
    PipelineJob,
    Report,
    ReviewComment,
    StateTransition,
    User,
    utcnow,
)
from tests.conftest import all_at_once, csrf_token, jpeg_bytes, make_org, make_user, post_multipart
from tests.test_audit import run  # noqa: F401  (the CLI fixture)
from tests.test_verify import signed_in, triaged_report

COMMENT = "Nurse Shushan Avetisyan says the second strike hit the ambulance at 07:10."
QUESTION = "Could you photograph the tail fin from the other side, where the lot number is?"
ANSWER = "The fin is now at the school yard; here is the other side, the lot number reads 0419."


# ---- helpers ------------------------------------------------------------------------------------


def page_of(browser: Any, report: Any) -> str:
    response = browser.get(f"/queue/reports/{report.public_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def act(browser: Any, report: Any, action: str, prefix: str = "", **fields: Any) -> Any:
    """POST one of the report page's forms, with the page's CSRF token, as a person would."""
    token = csrf_token(page_of(browser, report))
    key = f"{prefix}-csrf_token" if prefix else "csrf_token"
    data = {key: token, **{(f"{prefix}-{name}" if prefix else name): value for name, value in fields.items()}}
    return browser.post(f"/queue/reports/{report.public_id}/{action}", data=data)


def grade(browser: Any, report: Any, grade_value: str, reliability: str = "B", action: str = "grade",
          reason: str = "", **checks: Any) -> Any:
    fields: dict[str, Any] = {"independent_sources": checks.pop("independent_sources", 2), "grade": grade_value,
                              "source_reliability": reliability, "reason": reason}
    fields.update({name: "y" for name, ticked in checks.items() if ticked})
    token = csrf_token(page_of(browser, report))
    data = {"assess-csrf_token": token, "action": action, **{f"assess-{k}": v for k, v in fields.items()}}
    return browser.post(f"/queue/reports/{report.public_id}/assessment", data=data)


def fresh(report: Any) -> Report:
    db.session.remove()
    found = db.session.scalar(select(Report).where(Report.id == report.id))
    assert found is not None
    return found


def audit_actions(report: Any) -> list[str]:
    db.session.remove()
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.target_id == report.public_id)
                                 .order_by(AuditEntry.seq))
    actions = [entry.action for entry in entries]
    db.session.remove()
    return actions


def claimed(app: Any, reporter: Any, verifier: Any, **overrides: Any) -> tuple[Report, Any]:
    report = triaged_report(app, reporter, **overrides)
    browser = signed_in(app, verifier)
    assert act(browser, report, "claim").status_code == 302
    return report, browser


# ---- claims -------------------------------------------------------------------------------------


def test_claim_release_and_reassign(app: Any, org: Any, reporter: Any, verifier: Any) -> None:
    """A verifier claims a report from triage, others cannot take it from them, the claimant releases
    it, and a coordinator reassigns it to another verifier of the organisation (never outside it)."""
    report = triaged_report(app, reporter)
    browser = signed_in(app, verifier)
    assert "Claim for review" in page_of(browser, report)
    before = utcnow()
    response = act(browser, report, "claim")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/queue/reports/{report.public_id}")
    row = fresh(report)
    assert row.state == ReportState.IN_REVIEW and row.claimed_by_id == verifier.id
    assert row.claimed_at is not None and row.claimed_at >= before and row.last_activity_at == row.claimed_at
    step = row.transitions[-1]
    assert (step.from_state, step.to_state, step.actor_id, step.assignee_id) == (
        ReportState.TRIAGE, ReportState.IN_REVIEW, verifier.id, verifier.id)

    other = make_user(org, Role.VERIFIER)
    other_browser = signed_in(app, other)
    refused = act(other_browser, report, "claim")
    assert refused.status_code == 409 and "Only a report waiting for review can be claimed" in refused.get_data(
        as_text=True)
    assert act(other_browser, report, "release").status_code == 409
    assert fresh(report).claimed_by_id == verifier.id
    assert "Release to triage" not in page_of(other_browser, report)

    assert act(browser, report, "release").status_code == 302
    row = fresh(report)
    assert row.state == ReportState.TRIAGE and row.claimed_by_id is None and row.claimed_at is None

    assert act(browser, report, "claim").status_code == 302
    coordinator = make_user(org, Role.COORDINATOR)
    boss = signed_in(app, coordinator)
    # A verifier cannot reassign; a coordinator cannot hand the report outside the organisation.
    assert act(browser, report, "reassign", "reassign", assignee=other.public_id).status_code == 404
    outsider = make_user(make_org("Other NGO"), Role.VERIFIER)
    assert act(boss, report, "reassign", "reassign", assignee=outsider.public_id).status_code == 422
    assert "Reassign" in page_of(boss, report)
    response = act(boss, report, "reassign", "reassign", assignee=other.public_id)
    assert response.status_code == 302
    row = fresh(report)
    assert row.state == ReportState.IN_REVIEW and row.claimed_by_id == other.id
    step = row.transitions[-1]
    assert (step.from_state, step.to_state, step.actor_id, step.assignee_id) == (
        ReportState.IN_REVIEW, ReportState.IN_REVIEW, coordinator.id, other.id)
    assert act(browser, report, "release").status_code == 409, "the former claimant no longer holds it"
    assert audit_actions(report) == ["report.claimed", "report.claim_released", "report.claimed",
                                     "report.claim_reassigned"]
    db.session.remove()
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "report.claim_reassigned")).one()
    assert entry.detail == {"assignee": other.public_id, "previous": verifier.public_id}
    assert entry.actor_id == coordinator.public_id


def test_two_verifiers_claiming_at_once_one_gets_it(app: Any, org: Any, reporter: Any, verifier: Any) -> None:
    """Both press "claim" at the same moment: one holds the claim, the other is told, one step recorded."""
    report = triaged_report(app, reporter)
    browsers = [signed_in(app, verifier), signed_in(app, make_user(org, Role.VERIFIER))]
    tokens = [csrf_token(page_of(b, report)) for b in browsers]
    url = f"/queue/reports/{report.public_id}/claim"
    results = all_at_once([lambda b=b, t=t: b.post(url, data={"csrf_token": t}).status_code
                           for b, t in zip(browsers, tokens, strict=True)])
    assert sorted(results) == [302, 409]
    row = fresh(report)
    assert row.state == ReportState.IN_REVIEW
    assert [t.to_state for t in row.transitions].count(ReportState.IN_REVIEW) == 1
    assert audit_actions(report) == ["report.claimed"]


def test_idle_claim_returns_to_triage_through_the_beat_task(app: Any, org: Any, reporter: Any,
                                                            verifier: Any) -> None:
    """A claim idle past CLAIM_IDLE_SECONDS goes back to triage (audited as the system); a recent
    claim and a grade awaiting sign-off stay; running the task again changes nothing."""
    from workers.tasks import expire_claims

    assert "expire-idle-claims" in app.extensions["celery"].conf.beat_schedule
    assert app.config["CLAIM_IDLE_SECONDS"] == 8 * 3600
    idle, browser = claimed(app, reporter, verifier)
    recent = triaged_report(app, reporter)
    assert act(browser, recent, "claim").status_code == 302
    pending = triaged_report(app, reporter)
    assert act(browser, pending, "claim").status_code == 302
    assert grade(browser, pending, "confirmed").status_code == 302
    long_ago = utcnow() - dt.timedelta(hours=9)
    db.session.execute(update(Report).where(Report.id.in_([idle.id, pending.id])).values(last_activity_at=long_ago))
    db.session.commit()

    assert expire_claims() == 1
    row = fresh(idle)
    assert row.state == ReportState.TRIAGE and row.claimed_by_id is None
    step = row.transitions[-1]
    assert (step.from_state, step.to_state, step.actor_id) == (ReportState.IN_REVIEW, ReportState.TRIAGE, None)
    assert fresh(recent).state == ReportState.IN_REVIEW and fresh(recent).claimed_by_id == verifier.id
    assert fresh(pending).state == ReportState.IN_REVIEW and fresh(pending).sign_off_pending
    db.session.remove()
    (entry,) = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "report.claim_expired")).all()
    assert entry.actor_id is None and entry.target_id == idle.public_id
    assert entry.detail == {"claimant": verifier.public_id, "idle_seconds": 8 * 3600}
    db.session.remove()
    assert expire_claims() == 0
    assert "the claim expired without activity" in page_of(browser, idle)


def test_reading_the_report_keeps_the_claim_alive(app: Any, reporter: Any, verifier: Any) -> None:
    report, browser = claimed(app, reporter, verifier)
    long_ago = utcnow() - dt.timedelta(hours=7)
    db.session.execute(update(Report).where(Report.id == report.id).values(last_activity_at=long_ago))
    db.session.commit()
    page_of(browser, report)
    row = fresh(report)
    assert row.last_activity_at is not None and row.last_activity_at > long_ago + dt.timedelta(hours=6)


# ---- checklist, grade, sign-off -----------------------------------------------------------------


def test_checklist_is_saved_and_a_grade_verifies(app: Any, reporter: Any, verifier: Any) -> None:
    report, browser = claimed(app, reporter, verifier)
    response = grade(browser, report, "", "", action="save", location_verified=True, weapon_checked=True,
                     independent_sources=3)
    assert response.status_code == 302
    row = fresh(report)
    assert (row.location_verified, row.time_verified, row.media_authentic, row.weapon_checked,
            row.independent_sources) == (True, False, False, True, 3)
    assert row.state == ReportState.IN_REVIEW and row.grade is None
    html = page_of(browser, report)
    assert "2 of 4 checks" in html and "3 independent sources" in html

    # Grading asks for a grade and a reliability; what was ticked stays ticked.
    refused = grade(browser, report, "", "", time_verified=True)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "Choose a grade." in html and "Rate the source" in html
    assert re.search(r'id="assess-time_verified"[^>]*checked|checked[^>]*id="assess-time_verified"', html)

    assert grade(browser, report, "fair", "B", location_verified=True, time_verified=True).status_code == 302
    row = fresh(report)
    assert row.state == ReportState.VERIFIED and row.grade.value == "fair" and row.source_reliability.value == "B"
    assert row.claimed_by_id is None
    (assessment,) = row.assessments
    assert assessment.assessed_by_id == verifier.id and assessment.location_verified and assessment.time_verified
    assert assessment.independent_sources == 2 and assessment.signed_off_at is None
    assert audit_actions(report)[-2:] == ["report.checklist_saved", "report.graded"]


def chosen(html: str, select_id: str) -> str | None:
    """The value of the option shown chosen in a select of the page."""
    block = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', html, re.S)
    assert block, f"no select #{select_id}"
    option = re.search(r'<option (?:selected value="([^"]*)"|value="([^"]*)" selected)', block.group(1))
    return (option.group(1) or option.group(2)) if option else None


def test_save_checklist_keeps_the_grade_already_chosen(app: Any, reporter: Any, verifier: Any) -> None:
    """"Save checklist" with a grade chosen: the checks are saved, and the grade and reliability stay
    chosen on the form (not in force) until "Grade"."""
    report, browser = claimed(app, reporter, verifier)
    html = page_of(browser, report)
    assert chosen(html, "assess-grade") in (None, "") and chosen(html, "assess-source_reliability") in (None, "")
    saved = grade(browser, report, "weak", "C", action="save", location_verified=True, independent_sources=1)
    assert saved.status_code == 302
    html = page_of(browser, report)
    assert "Checklist saved." in html
    assert (chosen(html, "assess-grade"), chosen(html, "assess-source_reliability")) == ("weak", "C")
    assert re.search(r'id="assess-location_verified"[^>]*checked|checked[^>]*id="assess-location_verified"', html)
    row = fresh(report)
    assert row.state == ReportState.IN_REVIEW and row.grade is None and row.source_reliability is None, \
        "a saved choice is not a grade"
    # Saved again with another choice, and with none: the form follows what was chosen last.
    assert grade(browser, report, "fair", "", action="save").status_code == 302
    html = page_of(browser, report)
    assert chosen(html, "assess-grade") == "fair" and chosen(html, "assess-source_reliability") in (None, "")

    assert grade(browser, report, "fair", "B").status_code == 302
    row = fresh(report)
    assert row.state == ReportState.VERIFIED and row.grade is not None and row.grade.value == "fair"
    assert row.draft_grade is None and row.draft_source_reliability is None
    assert audit_actions(report)[-3:] == ["report.checklist_saved", "report.checklist_saved", "report.graded"]


def test_confirmed_waits_for_a_different_person_to_sign_off(app: Any, org: Any, reporter: Any,
                                                            verifier: Any) -> None:
    report, browser = claimed(app, reporter, verifier)
    assert grade(browser, report, "confirmed", "A", location_verified=True, media_authentic=True).status_code == 302
    row = fresh(report)
    assert row.state == ReportState.IN_REVIEW and row.sign_off_pending and row.grade is None
    html = page_of(browser, report)
    assert "awaiting a second sign-off" in html and "you cannot sign off your own grade" in html
    assert "Sign off: confirmed" not in html

    refused = act(browser, report, "sign-off")
    assert refused.status_code == 409
    assert "You gave this grade yourself" in refused.get_data(as_text=True)
    assert fresh(report).state == ReportState.IN_REVIEW and fresh(report).sign_off_pending

    second = make_user(org, Role.VERIFIER)
    second_browser = signed_in(app, second)
    listing = second_browser.get("/queue/?tab=sign_off").get_data(as_text=True)
    assert report.public_id in listing
    assert "Sign off: confirmed" in page_of(second_browser, report)
    assert act(second_browser, report, "sign-off").status_code == 302
    row = fresh(report)
    assert row.state == ReportState.VERIFIED and row.grade.value == "confirmed" and not row.sign_off_pending
    (assessment,) = row.assessments
    assert assessment.assessed_by_id == verifier.id and assessment.signed_off_by_id == second.id
    assert row.transitions[-1].actor_id == second.id
    assert act(second_browser, report, "sign-off").status_code == 409, "signed once"
    assert audit_actions(report)[-2:] == ["report.graded", "report.grade_signed_off"]
    db.session.remove()
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "report.grade_signed_off")).one()
    assert entry.actor_id == second.public_id and entry.detail == {"grade": "confirmed",
                                                                   "graded_by": verifier.public_id}


def test_a_coordinator_may_sign_off_but_a_regrade_replaces_what_waits(app: Any, org: Any, reporter: Any,
                                                                      verifier: Any) -> None:
    report, browser = claimed(app, reporter, verifier)
    assert grade(browser, report, "confirmed", "A").status_code == 302
    assert grade(browser, report, "confirmed", "B").status_code == 302
    coordinator = signed_in(app, make_user(org, Role.COORDINATOR))
    assert act(coordinator, report, "sign-off").status_code == 302
    row = fresh(report)
    assert row.state == ReportState.VERIFIED and row.source_reliability.value == "B"
    assert [a.signed_off_at is not None for a in row.assessments] == [False, True]


# ---- reasons ------------------------------------------------------------------------------------


def test_reject_reopen_and_downgrade_need_a_reason_and_keep_what_was_typed(app: Any, org: Any, reporter: Any,
                                                                          verifier: Any) -> None:
    report, browser = claimed(app, reporter, verifier)
    refused = act(browser, report, "reject", "reject", reason="meh")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "meh</textarea>" in html and "between 5 and 2000 characters" in html
    assert '<details open>' in html and fresh(report).state == ReportState.IN_REVIEW
    assert act(browser, report, "reject", "reject", reason="   ").status_code == 422
    assert act(browser, report, "reject", "reject",
               reason="The photos predate the event: found in a 2023 post").status_code == 302
    row = fresh(report)
    assert row.state == ReportState.REJECTED and row.transitions[-1].reason.startswith("The photos predate")
    # A reason may quote someone: it is sealed with the report, not written in the clear.
    raw = repr(db.session.execute(text("SELECT * FROM state_transitions")).all())
    assert "photos predate" not in raw
    db.session.remove()

    coordinator = make_user(org, Role.COORDINATOR)
    boss = signed_in(app, coordinator)
    assert act(browser, report, "reopen", "reopen", reason="A verifier may not reopen").status_code == 404
    refused = act(boss, report, "reopen", "reopen", reason="")
    assert refused.status_code == 422 and "Say why." in refused.get_data(as_text=True)
    assert act(boss, report, "reopen", "reopen", reason="The 2023 post was a different strike").status_code == 302
    row = fresh(report)
    assert row.state == ReportState.IN_REVIEW and row.claimed_by_id == coordinator.id
    assert row.transitions[-1].reason == "The 2023 post was a different strike"

    # Graded confirmed and signed off, then lowered: the coordinator's downgrade needs a reason.
    assert grade(boss, report, "confirmed", "A").status_code == 302
    assert act(browser, report, "sign-off").status_code == 302
    refused = act(boss, report, "downgrade", "downgrade", grade="weak", reason="")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert re.search(r'<option selected value="weak">|<option value="weak" selected>', html)
    assert fresh(report).grade.value == "confirmed"
    assert act(boss, report, "downgrade", "downgrade", grade="weak",
               reason="Second source withdrew the account").status_code == 302
    row = fresh(report)
    assert row.state == ReportState.VERIFIED and row.grade.value == "weak"
    assert row.assessments[-1].reason == "Second source withdrew the account"
    assert act(boss, report, "downgrade", "downgrade", grade="fair", reason="Raising it").status_code == 422

    # After a reopening, grading lower than the grade in force is a downgrade too.
    assert act(boss, report, "reopen", "reopen", reason="New footage arrived").status_code == 302
    refused = grade(boss, report, "discounted", "E", location_verified=True)
    assert refused.status_code == 422 and "Lowering the grade needs a reason" in refused.get_data(as_text=True)
    assert grade(boss, report, "discounted", "E", reason="Footage shows a military depot").status_code == 302
    assert fresh(report).grade.value == "discounted"
    actions = audit_actions(report)
    assert actions.count("report.reopened") == 2 and "report.downgraded" in actions and "report.rejected" in actions


def test_mark_duplicate(app: Any, org: Any, reporter: Any, verifier: Any) -> None:
    original = triaged_report(app, reporter)
    foreign = triaged_report(app, make_user(make_org("Other NGO")))
    report, browser = claimed(app, reporter, verifier)
    refused = act(browser, report, "duplicate", "duplicate", original=foreign.receipt_code)
    assert refused.status_code == 422 and "No report of your organisation" in refused.get_data(as_text=True)
    assert foreign.receipt_code in refused.get_data(as_text=True), "what was typed stays"
    assert act(browser, report, "duplicate", "duplicate", original=report.receipt_code).status_code == 409
    assert act(browser, report, "duplicate", "duplicate", original=original.receipt_code.lower()).status_code == 302
    row = fresh(report)
    assert row.state == ReportState.DUPLICATE and row.duplicate_of_id == original.id
    assert original.receipt_code in page_of(browser, report)
    assert audit_actions(report)[-1] == "report.duplicate"


def test_a_duplicate_of_something_that_is_no_receipt_code(app: Any, org: Any, reporter: Any, verifier: Any) -> None:
    """What cannot be a receipt code (a NUL character, which PostgreSQL refuses in a query, or text
    of another shape) is answered at the field, with what was typed kept, before any look-up."""
    report, browser = claimed(app, reporter, verifier)
    for typed in ("38XN\x00C6A0", "nul\x00byte", "not a code at all"):
        refused = act(browser, report, "duplicate", "duplicate", original=typed)
        html = refused.get_data(as_text=True)
        assert refused.status_code == 422, typed
        assert "A receipt code has eight letters and digits" in html, typed
    assert act(browser, report, "duplicate", "duplicate", original="not a code at all").status_code == 422
    assert "not a code at all" in html, "what was typed stays"
    assert fresh(report).state == ReportState.IN_REVIEW


# ---- the timeline and comments --------------------------------------------------------------------


def test_timeline_shows_transitions_grades_sign_offs_and_sealed_comments(app: Any, org: Any, reporter: Any,
                                                                         verifier: Any) -> None:
    report, browser = claimed(app, reporter, verifier)
    assert act(browser, report, "comments", "comment", text=COMMENT).status_code == 302
    assert grade(browser, report, "confirmed", "A").status_code == 302
    second = signed_in(app, make_user(org, Role.VERIFIER, "second@example.org"))
    assert act(second, report, "sign-off").status_code == 302
    # Until the workers have made its anonymized version, the comment (it names a nurse) is withheld.
    html = page_of(second, report)
    assert COMMENT not in html and "withheld until the workers have made its anonymized version" in html
    from intake.pipeline import process_report

    with app.app_context():
        process_report(db.session, app.config, report.id)
        db.session.commit()
    html = page_of(second, report)
    timeline = html[html.index('id="timeline"'):]
    anonymized = '<mark class="redaction" title="PERSON">[PERSON-'
    assert COMMENT not in timeline and "Avetisyan" not in timeline
    assert "says the second strike hit the ambulance at 07:10." in timeline and anonymized in timeline
    for shown in ("Waiting for review → In review", 'claim held by <bdi dir="ltr">verifier@example.org</bdi>',
                  "Graded Confirmed, source A", "Confirmed grade signed off (you)", "In review → Verified (you)",
                  "Received → Waiting for review (automatic)"):
        assert shown in timeline, shown
    assert timeline.index(anonymized) < timeline.index("Graded Confirmed") < timeline.index("signed off")
    # The comment is sealed in the database and absent from the audit log.
    raw = db.session.execute(text("SELECT sealed FROM review_comments")).scalar_one()
    assert COMMENT.encode() not in bytes(raw) and b"Avetisyan" not in bytes(raw)
    db.session.remove()
    assert db.session.scalars(select(ReviewComment)).one().text == COMMENT
    assert all("Avetisyan" not in str(entry.detail) for entry in db.session.scalars(select(AuditEntry)))
    db.session.remove()
    # Any verifier of the organisation may comment; a reporter may not.
    assert act(second, report, "comments", "comment", text="Agree").status_code == 302
    assert act(second, report, "comments", "comment", text="").status_code == 422


# ---- asking the reporter --------------------------------------------------------------------------


def test_ask_back_answered_from_my_reports_with_text_and_a_photo(app: Any, org: Any, reporter: Any,
                                                                 verifier: Any) -> None:
    report, browser = claimed(app, reporter, verifier)
    assert act(browser, report, "question", "question", question=QUESTION).status_code == 302
    row = fresh(report)
    assert row.state == ReportState.NEEDS_INFO and row.claimed_by_id is None
    raw = db.session.execute(text("SELECT sealed FROM info_requests")).scalar_one()
    assert QUESTION.encode() not in bytes(raw)
    db.session.remove()
    # The question is new free text: the workers owe the report a run that anonymizes it.
    job_before = db.session.scalars(select(PipelineJob).where(PipelineJob.report_id == report.id)).one()
    assert job_before.state == JobState.PENDING
    db.session.remove()
    from intake.pipeline import process_report

    with app.app_context():
        process_report(db.session, app.config, report.id)
        db.session.commit()
    db.session.remove()
    job_before = db.session.scalars(select(PipelineJob).where(PipelineJob.report_id == report.id)).one()
    generation_before = job_before.generation
    assert job_before.state == JobState.DONE
    db.session.remove()

    mine = signed_in(app, reporter)
    listing = mine.get("/my-reports").get_data(as_text=True)
    assert QUESTION in listing and f"/reports/{report.public_id}/answer" in listing
    # Nobody else may see or answer the question: another reporter of the organisation, and a verifier.
    for other in (signed_in(app, make_user(org, Role.REPORTER)), browser):
        assert other.get(f"/reports/{report.public_id}/answer").status_code == 404
        token = csrf_token(other.get("/reports/new").get_data(as_text=True))
        assert other.post(f"/reports/{report.public_id}/answer",
                          data={"csrf_token": token, "answer": "not mine"}).status_code == 404

    form = mine.get(f"/reports/{report.public_id}/answer").get_data(as_text=True)
    assert QUESTION in form and 'enctype="multipart/form-data"' in form
    token = csrf_token(form)
    refused = post_multipart(mine, f"/reports/{report.public_id}/answer",
                             {"csrf_token": token, "answer": ANSWER, "files": (io.BytesIO(b"MZ\x90\x00"), "a.exe")})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "a.exe was not accepted" in html and ANSWER in html
    assert fresh(report).state == ReportState.NEEDS_INFO

    response = post_multipart(mine, f"/reports/{report.public_id}/answer",
                              {"csrf_token": token, "answer": ANSWER,
                               "files": (io.BytesIO(jpeg_bytes((80, 60))), "fin.jpg")})
    assert response.status_code == 302 and "/my-reports" in response.headers["Location"]
    row = fresh(report)
    assert row.state == ReportState.TRIAGE and len(row.attachments) == 1
    assert row.transitions[-1].actor_id == reporter.id
    request = db.session.scalars(select(InfoRequest)).one()
    assert request.answer == ANSWER and request.files_added == 1 and request.answered_at is not None
    job = db.session.scalars(select(PipelineJob).where(PipelineJob.report_id == report.id)).one()
    assert job.state == JobState.PENDING and job.generation == generation_before + 1
    raw = db.session.execute(text("SELECT sealed FROM info_requests")).scalar_one()
    assert ANSWER.encode() not in bytes(raw)
    db.session.remove()
    assert mine.get(f"/reports/{report.public_id}/answer").status_code == 302, "nothing left to answer"

    # The verifier sees the answer once the workers have run again on what is new (anonymized: it names
    # nobody, so it reads as written).
    with app.app_context():
        process_report(db.session, app.config, report.id)
        db.session.commit()
    db.session.remove()
    html = page_of(browser, report)
    timeline = html[html.index('id="timeline"'):]
    assert QUESTION in timeline and ANSWER in timeline and "with 1 new file" in timeline
    assert "More information needed → Waiting for review (the reporter)" in timeline
    assert audit_actions(report)[-2:] == ["report.info_requested", "report.info_answered"]


# ---- the queue ------------------------------------------------------------------------------------


def ids_in(html: str) -> list[str]:
    return re.findall(r'href="/queue/reports/([0-9a-f-]{36})"', html)


def walk(browser: Any, url: str) -> list[str]:
    seen: list[str] = []
    while url:
        html = browser.get(url).get_data(as_text=True)
        seen += ids_in(html)
        nxt = re.search(r'rel="next" href="([^"]+)"', html)
        url = nxt.group(1).replace("&amp;", "&") if nxt else ""
    return seen


def test_queue_priority_sort_pages_and_other_sorts(app: Any, reporter: Any, verifier: Any) -> None:
    """Priority: most killed and injured first, then the report waiting longest; every sort pages
    with its own cursor, without repeats or gaps."""
    app.config["QUEUE_PAGE_SIZE"] = 2
    base = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    made = []
    # (killed men, injured boys, minutes after base, occurred day)
    for killed, injured, minutes, day in [(0, 0, 0, 5), (3, 1, 5, 2), (1, 0, 1, 9), (3, 1, 2, 1), (0, 4, 3, 7),
                                          (0, 0, 4, 3), (2, 2, 6, 4)]:
        # No people listed one by one: the priority counts the larger of the table and the list.
        report = triaged_report(app, reporter, killed={"men": killed}, injured={"boys": injured},
                                occurred_on=f"2026-04-{day:02d}", victims=[])
        db.session.execute(update(Report).where(Report.id == report.id)
                           .values(received_at=base + dt.timedelta(minutes=minutes)))
        made.append((report.public_id, killed + injured, minutes, day))
    db.session.commit()
    totals = dict(db.session.execute(select(Report.public_id, Report.casualty_total)).all())
    assert totals == {m[0]: m[1] for m in made}, "the stored total follows the counts"
    db.session.remove()
    browser = signed_in(app, verifier)
    by_priority = [m[0] for m in sorted(made, key=lambda m: (-m[1], m[2]))]
    assert walk(browser, "/queue/") == by_priority
    assert walk(browser, "/queue/?sort=newest") == [m[0] for m in sorted(made, key=lambda m: -m[2])]
    assert walk(browser, "/queue/?sort=oldest") == [m[0] for m in sorted(made, key=lambda m: m[2])]
    assert walk(browser, "/queue/?sort=occurred") == [m[0] for m in sorted(made, key=lambda m: -m[3])]
    # A cursor of another sort, or garbage, starts from the top instead of failing.
    first = browser.get("/queue/?sort=newest&after=bm9uc2Vuc2U").get_data(as_text=True)
    assert ids_in(first) == [m[0] for m in sorted(made, key=lambda m: -m[2])][:2]


def test_queue_tabs_count_and_filters_narrow(app: Any, org: Any, reporter: Any, verifier: Any) -> None:
    app.config["QUEUE_PAGE_SIZE"] = 50
    shelling = triaged_report(app, reporter, incident_type="shelling", admin1="Tavush", delivery_platform="artillery",
                              munition_type="152 mm shell", munition_model="", occurred_on="2026-02-10")
    drone = triaged_report(app, reporter, occurred_on="2026-03-14")  # Syunik, drone, MAM-L
    with_file = triaged_report(app, reporter, occurred_on="2026-03-20")
    from intake.media import store_upload

    with app.app_context():
        store_upload(db.session, app.config, io.BytesIO(jpeg_bytes()), "a.jpg", reporter,
                     report=db.session.get(Report, with_file.id))
        db.session.commit()
    browser = signed_in(app, verifier)
    other = make_user(org, Role.VERIFIER)
    other_browser = signed_in(app, other)
    mine = triaged_report(app, reporter)
    assert act(browser, mine, "claim").status_code == 302
    theirs = triaged_report(app, reporter)
    assert act(other_browser, theirs, "claim").status_code == 302
    verified = triaged_report(app, reporter)
    assert act(browser, verified, "claim").status_code == 302
    assert grade(browser, verified, "weak", "C").status_code == 302
    rejected = triaged_report(app, reporter)
    assert act(browser, rejected, "claim").status_code == 302
    assert act(browser, rejected, "reject", "reject", reason="Not civilian harm at all").status_code == 302

    html = browser.get("/queue/").get_data(as_text=True)
    counts = dict(re.findall(r'tab=(\w+)[^"]*"[^>]*>[^<]+<span class="count">(\d+)</span>', html))
    assert counts == {"triage": "3", "mine": "1", "sign_off": "0", "needs_info": "0", "verified": "1",
                      "rejected": "1"}
    # Above the cap a tab says so instead of counting every report on every page view.
    app.config["QUEUE_COUNT_CAP"] = 2
    capped = browser.get("/queue/").get_data(as_text=True)
    assert re.search(r'tab=triage[^"]*"[^>]*>[^<]+<span class="count">2\+</span>', capped)
    assert re.search(r'tab=verified[^"]*"[^>]*>[^<]+<span class="count">1</span>', capped)
    app.config["QUEUE_COUNT_CAP"] = 1000
    assert ids_in(browser.get("/queue/?tab=mine").get_data(as_text=True)) == [mine.public_id]
    assert ids_in(other_browser.get("/queue/?tab=mine").get_data(as_text=True)) == [theirs.public_id]
    assert ids_in(browser.get("/queue/?tab=verified").get_data(as_text=True)) == [verified.public_id]
    assert ids_in(browser.get("/queue/?tab=rejected").get_data(as_text=True)) == [rejected.public_id]

    def shown(query: str) -> set[str]:
        response = browser.get(f"/queue/?{query}")
        assert response.status_code == 200, query
        return set(ids_in(response.get_data(as_text=True)))

    assert shown("incident_type=shelling") == {shelling.public_id}
    assert shown("admin1=tavush") == {shelling.public_id}
    assert shown("delivery_platform=artillery") == {shelling.public_id}
    assert shown("munition=mam-l") == {drone.public_id, with_file.public_id}
    assert shown("munition=152") == {shelling.public_id}
    assert shown("munition=100%25") == set()
    assert shown("occurred_from=2026-03-01&occurred_to=2026-03-15") == {drone.public_id}
    assert shown("has_media=yes") == {with_file.public_id}
    assert shown("has_media=no") == {shelling.public_id, drone.public_id}
    assert shown("tab=verified&grade=weak") == {verified.public_id}
    assert shown("tab=verified&grade=fair") == set()
    assert shown(f"tab=mine&claimed_by={verifier.public_id}") == {mine.public_id}
    filtered = browser.get("/queue/?incident_type=shelling").get_data(as_text=True)
    assert 'tab=triage&amp;incident_type=shelling' in filtered and '<span class="count">1</span>' in filtered
    for bad in ("tab=nope", "grade=excellent", "occurred_from=yesterday", "sort=random", "has_media=maybe",
                "claimed_by=" + make_user(make_org("Elsewhere"), Role.VERIFIER).public_id):
        assert browser.get(f"/queue/?{bad}").status_code == 400, bad


# ---- the audit chain ------------------------------------------------------------------------------


def test_every_action_is_audited_and_the_chain_stays_intact(app: Any, org: Any, reporter: Any, verifier: Any,
                                                           run: Any) -> None:  # noqa: F811
    report, browser = claimed(app, reporter, verifier)
    act(browser, report, "comments", "comment", text=COMMENT)
    grade(browser, report, "", "", action="save", location_verified=True)
    act(browser, report, "question", "question", question=QUESTION)
    reporter_browser = signed_in(app, reporter)
    token = csrf_token(reporter_browser.get(f"/reports/{report.public_id}/answer").get_data(as_text=True))
    post_multipart(reporter_browser, f"/reports/{report.public_id}/answer", {"csrf_token": token, "answer": ANSWER})
    act(browser, report, "claim")
    grade(browser, report, "fair", "C")
    assert audit_actions(report) == ["report.claimed", "report.commented", "report.checklist_saved",
                                     "report.info_requested", "report.info_answered", "report.claimed",
                                     "report.graded"]
    db.session.remove()
    steps = db.session.scalars(select(StateTransition).where(StateTransition.report_id == report.id)).all()
    assert len(steps) == 7  # received, triage, claim, needs_info, triage, claim, verified
    assert db.session.scalars(select(Assessment)).one().grade.value == "fair"
    assert db.session.scalars(select(User).where(User.id == verifier.id)).one()
    db.session.remove()
    result = run("audit", "verify")
    assert result.exit_code == 0 and "Audit log intact" in result.output
