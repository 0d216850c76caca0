"""Issue 12, items 9 and 13: lifting a redaction of a person is a reveal; the anonymized view (account,
descriptions, comments, reasons) is sealed under the report's data key and goes with it; every copy of a
file served is audited, and so is a coordinator's retry of held work; reasons are anonymized like comments."""

from __future__ import annotations

import io
from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text, update

from intake.cli import alembic_config, upgrade_database
from intake.db import Base
from intake.enums import JobState, Role
from intake.extensions import db
from intake.models import AuditEntry, PipelineJob, RedactionCorrection, Report, ReviewComment
from intake.pipeline import process_report
from tests.conftest import csrf_token, jpeg_bytes, make_user
from tests.test_verify import signed_in, triaged_report
from tests.test_workflow import act, claimed, grade, page_of

NARRATIVE = ("At 06:40 Gor Hakobyan called from +374 91 234567: a Bayraktar TB2 hit the bakery queue in Goris, "
             "two killed. His neighbour Anahit Petrosyan died at the Goris Medical Centre.")
# A word no anonymizer takes for a name: it stays in the anonymized text, so it shows where that text is kept.
MISSED = "Quillcanary"


def everything(app: Any) -> str:
    """Every row of every table, as text: what someone reading a dump of the database would search."""
    engine = create_engine(app.config["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return "".join(repr(conn.execute(text(f"SELECT * FROM {table.name}")).all())  # noqa: S608 (ours)
                           for table in Base.metadata.sorted_tables)
    finally:
        engine.dispose()


def run_pipeline(app: Any, report_id: int) -> None:
    with app.app_context():
        process_report(db.session, app.config, report_id)
        db.session.commit()


def entries(action: str) -> list[AuditEntry]:
    db.session.remove()
    found = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))
    db.session.remove()
    return found


def lift(browser: Any, report: Report, placeholder: str, reason: str = "") -> Any:
    token = csrf_token(page_of(browser, report))
    return browser.post(f"/queue/reports/{report.public_id}/redactions",
                        data={"lift-csrf_token": token, "action": "lift", "lift-placeholder": placeholder,
                              "lift-reason": reason})


# ---- item 9 ---------------------------------------------------------------------------------------


def test_lifting_a_person_is_a_reveal_for_a_reason_and_the_name_stays_sealed_and_goes_with_erasure(
        app: Any, reporter: Any, verifier: Any) -> None:
    report = triaged_report(app, reporter, narrative=NARRATIVE)
    browser = signed_in(app, verifier)
    assert "Hakobyan" not in page_of(browser, report)
    # Without a reason: the form comes back with an error, nothing is stored or audited.
    refused = lift(browser, report, "[PERSON-1]")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "shows who or where someone is: say why" in html and '<details class="corrections" open>' in html
    with app.app_context():
        assert db.session.scalars(select(RedactionCorrection)).all() == []
    assert entries("report.revealed") == [] and entries("report.anonymization_corrected") == []

    reason = "To match the caller with the hospital's list"
    assert lift(browser, report, "[PERSON-1]", reason).status_code == 302
    (entry,) = entries("report.revealed")
    assert entry.target_id == report.public_id and entry.actor_id == verifier.public_id
    assert entry.detail == {"fields": "lifted_redaction", "placeholder": "[PERSON-1]", "type": "PERSON",
                            "occurrences": 1, "reason": reason}
    assert entries("report.anonymization_corrected") == [], "a reveal, not a correction"
    run_pipeline(app, report.id)
    shown = page_of(browser, report)
    assert "Gor Hakobyan called" in shown and "[PHONE-1]" in shown
    # Shown to verifiers, but written nowhere in the clear: not in any column of any table.
    dump = everything(app)
    assert "Hakobyan" not in dump and "called from" not in dump

    from intake.keys import erase_report

    with app.app_context():
        erase_report(db.session, app.config, db.session.get(Report, report.id))
        db.session.commit()
    erased = browser.get(f"/queue/reports/{report.public_id}")
    assert erased.status_code == 200
    html = erased.get_data(as_text=True)
    assert "were erased under the retention rules" in html and "Hakobyan" not in html
    assert "Hakobyan" not in everything(app)
    with app.app_context():
        assert db.session.get(Report, report.id).narrative_anonymized is None  # type: ignore[union-attr]
    # An erased report has nothing left to correct: said clearly, not an error page.
    refused = lift(browser, report, "[PERSON-1]", reason)
    assert refused.status_code == 410 and "nothing to correct" in refused.get_data(as_text=True)


def test_lifting_words_hidden_as_something_else_is_a_plain_correction(app: Any, reporter: Any,
                                                                     verifier: Any) -> None:
    report = triaged_report(app, reporter, narrative=NARRATIVE)
    browser = signed_in(app, verifier)
    token = csrf_token(page_of(browser, report))
    hidden = browser.post(f"/queue/reports/{report.public_id}/redactions",
                          data={"hide-csrf_token": token, "action": "hide", "hide-surface": "Goris",
                                "hide-entity_type": "OTHER"})
    assert hidden.status_code == 302
    run_pipeline(app, report.id)
    with app.app_context():
        assert "[OTHER-1]" in (db.session.get(Report, report.id).narrative_anonymized or "")  # type: ignore[union-attr]
    assert lift(browser, report, "[OTHER-1]").status_code == 302
    assert [e.detail["kind"] for e in entries("report.anonymization_corrected")] == ["add", "remove"]
    assert entries("report.revealed") == []


def test_the_anonymized_account_descriptions_and_comments_are_sealed_at_rest(app: Any, reporter: Any,
                                                                            verifier: Any) -> None:
    """What the anonymizer misses is shown to verifiers but kept only sealed in the database."""
    from intake.media import store_upload

    report, browser = claimed(app, reporter, verifier, narrative=f"The {MISSED} crater is three metres wide.")
    with app.app_context():
        store_upload(db.session, app.config, io.BytesIO(jpeg_bytes()), "a.jpg", reporter,
                     report=db.session.get(Report, report.id), description=f"Crater by {MISSED} street")
        db.session.commit()
    assert act(browser, report, "comments", "comment", text=f"Seen again by {MISSED} at noon").status_code == 302
    run_pipeline(app, report.id)
    html = page_of(browser, report)
    assert f"The {MISSED} crater" in html and f"by {MISSED} at noon" in html and f"by {MISSED} street" in html
    assert MISSED not in everything(app)
    with app.app_context():
        comment = db.session.scalars(select(ReviewComment)).one()
        assert comment.text_anonymized == f"Seen again by {MISSED} at noon"


def test_duplicates_still_compare_the_sealed_accounts(app: Any, reporter: Any, verifier: Any) -> None:
    from intake.models import DuplicateSuggestion

    story = ("At dawn a drone struck the bakery queue on the main street, then a second one hit the people "
             "who came to help, and the fire spread to the pharmacy next door.")
    first = triaged_report(app, reporter, narrative=story)
    second = triaged_report(app, reporter, narrative=story)
    with app.app_context():
        suggestion = db.session.scalar(select(DuplicateSuggestion).where(
            DuplicateSuggestion.report_id == second.id, DuplicateSuggestion.candidate_id == first.id))
        assert suggestion is not None and "similar_account" in suggestion.reasons


def test_the_migration_seals_clear_anonymized_text_and_drops_its_columns(app: Any, reporter: Any,
                                                                        verifier: Any) -> None:
    """A database of before 0015c (the anonymized texts in plain columns): `intake db upgrade` moves them
    into the rows' sealed documents, drops the columns, and they read back the same."""
    report, browser = claimed(app, reporter, verifier, narrative=f"The {MISSED} crater is wide.")
    assert act(browser, report, "comments", "comment", text=f"By {MISSED} again").status_code == 302
    run_pipeline(app, report.id)
    url = app.config["DATABASE_URL"]
    with app.app_context():
        # Back to what 0014 stored: the values in plain columns, not in the sealed documents.
        for row, field, table in ((db.session.get(Report, report.id), "narrative_anonymized", "reports"),
                                  (db.session.scalars(select(ReviewComment)).one(), "text_anonymized",
                                   "review_comments")):
            assert row is not None
            value = row.sealed_document().pop(field)
            row.mark_sealed_changed()
            db.session.commit()
            db.session.execute(text(f"ALTER TABLE {table} ADD COLUMN {field} TEXT"))
            db.session.execute(text(f"UPDATE {table} SET {field} = :v"), {"v": value})  # noqa: S608 (ours)
            db.session.commit()
        for table in ("attachments", "info_requests"):
            for field in {"attachments": ("description_anonymized",),
                          "info_requests": ("question_anonymized", "answer_anonymized")}[table]:
                db.session.execute(text(f"ALTER TABLE {table} ADD COLUMN {field} TEXT"))
        db.session.commit()
        db.session.remove()
    assert MISSED in everything(app)
    config = alembic_config(url)
    before = ScriptDirectory.from_config(config).get_revision("0015c").down_revision
    command.stamp(config, str(before))
    db.dispose()
    upgrade_database(url, "0015c", app=app)
    command.stamp(config, "head")
    engine = create_engine(url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("reports")}
        assert "narrative_anonymized" not in columns
    finally:
        engine.dispose()
    assert MISSED not in everything(app)
    with app.app_context():
        again = db.session.get(Report, report.id)
        assert again is not None and again.narrative_anonymized == f"The {MISSED} crater is wide."
        assert db.session.scalars(select(ReviewComment)).one().text_anonymized == f"By {MISSED} again"


# ---- item 13 --------------------------------------------------------------------------------------


def test_every_cleaned_copy_served_is_audited(app: Any, reporter: Any, verifier: Any) -> None:
    from intake.media import store_upload
    from intake.models import Attachment

    report = triaged_report(app, reporter)
    with app.app_context():
        store_upload(db.session, app.config, io.BytesIO(jpeg_bytes()), "a.jpg", reporter,
                     report=db.session.get(Report, report.id))
        db.session.commit()
    run_pipeline(app, report.id)
    with app.app_context():
        attachment = db.session.scalars(select(Attachment)).one()
        assert attachment.derivative_storage_name is not None
        file_id, copy_sha = attachment.public_id, attachment.derivative_sha256
    browser = signed_in(app, verifier)
    url = f"/queue/reports/{report.public_id}/files/{file_id}/copy"
    assert f'src="{url}"' in page_of(browser, report)
    assert entries("report.copy_served") == [], "showing the page is not yet serving the copy"
    served = browser.get(url)
    assert served.status_code == 200 and served.data
    (entry,) = entries("report.copy_served")
    assert entry.actor_id == verifier.public_id and entry.target_type == "attachment" and entry.target_id == file_id
    assert entry.detail == {"report": report.public_id, "copy": "image/jpeg", "sha256": copy_sha, "shown": "inline"}
    browser.get(url)
    assert len(entries("report.copy_served")) == 2, "every time"


def test_a_coordinators_retry_of_held_processing_is_audited(app: Any, org: Any, reporter: Any) -> None:
    report = triaged_report(app, reporter)
    with app.app_context():
        db.session.execute(update(PipelineJob).where(PipelineJob.report_id == report.id)
                           .values(state=JobState.DEAD, last_error="PoisonError"))
        db.session.commit()
    coordinator = make_user(org, Role.COORDINATOR)
    browser = signed_in(app, coordinator)
    held = browser.get("/queue/held").get_data(as_text=True)
    retried = browser.post(f"/queue/held/{report.public_id}/retry", data={"csrf_token": csrf_token(held)})
    assert retried.status_code == 302
    (entry,) = entries("report.processing_retried")
    assert entry.actor_id == coordinator.public_id and entry.target_id == report.public_id


def test_reasons_are_shown_anonymized_and_the_original_only_through_the_reveal(app: Any, org: Any,
                                                                                reporter: Any,
                                                                                verifier: Any) -> None:
    report, browser = claimed(app, reporter, verifier)
    reason = "Gor Hakobyan now says it was another day"
    assert act(browser, report, "reject", "reject", reason=reason).status_code == 302
    timeline = page_of(browser, report).split('id="timeline"')[1]
    assert "Hakobyan" not in timeline and "withheld until the workers have made its anonymized version" in timeline
    run_pipeline(app, report.id)
    coordinator = make_user(org, Role.COORDINATOR)
    boss = signed_in(app, coordinator)
    assert act(boss, report, "reopen", "reopen", reason="Anahit Petrosyan's sister called back").status_code == 302
    assert grade(boss, report, "fair", "B").status_code == 302
    assert act(boss, report, "downgrade", "downgrade", grade="weak",
               reason="Aram Petrosyan withdrew his account").status_code == 302
    run_pipeline(app, report.id)
    page = page_of(boss, report)
    timeline = page.split('id="timeline"')[1]
    for name in ("Hakobyan", "Petrosyan"):
        assert name not in timeline, name
    assert "now says it was another day" in timeline and "withdrew his account" in timeline
    assert '<mark class="redaction" title="PERSON">[PERSON-' in timeline
    assert "Hakobyan" not in everything(app) and "withdrew" not in everything(app)
    # The original reason is shown through the audited reveal of the account.
    revealed = boss.post(f"/queue/reports/{report.public_id}/reveal",
                         data={"reveal-csrf_token": csrf_token(page), "reveal-what": "account",
                               "reveal-reason": "Checking who withdrew the account"})
    assert revealed.status_code == 200
    assert reason in revealed.get_data(as_text=True).split('id="timeline"')[1]
    assert [e.detail["fields"] for e in entries("report.revealed")] == ["account"]


def test_a_coordinators_retry_of_a_held_submission_is_audited(app: Any, org: Any, reporter: Any) -> None:
    from intake.models import Submission
    from intake.submissions import start_filing
    from tests.conftest import complete_report, make_token
    from tests.test_journal import bearer

    sent = app.test_client().post("/api/v1/reports", json=complete_report(),
                                  headers=bearer(make_token(reporter), "held-retry-audit"))
    assert sent.status_code == 201
    with app.app_context():
        entry_id, public_id = db.session.execute(select(Submission.id, Submission.public_id)).one()
        limit = app.config["PIPELINE_MAX_ATTEMPTS"]
        while start_filing(db.session, entry_id, limit, 300) is not None:
            db.session.commit()
        db.session.commit()
    coordinator = make_user(org, Role.COORDINATOR)
    browser = signed_in(app, coordinator)
    held = browser.get("/queue/held").get_data(as_text=True)
    assert sent.get_json()["receipt_code"] in held
    retried = browser.post(f"/queue/held/submissions/{public_id}/retry", data={"csrf_token": csrf_token(held)})
    assert retried.status_code == 302
    (entry,) = entries("submission.filing_retried")
    assert entry.actor_id == coordinator.public_id and entry.target_id == public_id
    assert entry.organisation_id == org.id
