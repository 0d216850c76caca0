"""Issue 12, items 9 and 13: lifting a redaction of a person is a reveal; the anonymized view (account,
descriptions, comments, reasons) is sealed under the report's data key and goes with it; every copy of a
file served is audited, and so is a coordinator's retry of held work; reasons are anonymized like comments."""

from __future__ import annotations

import io
from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text

from intake.cli import alembic_config, upgrade_database
from intake.db import Base
from intake.extensions import db
from intake.models import AuditEntry, RedactionCorrection, Report, ReviewComment
from intake.pipeline import process_report
from tests.conftest import csrf_token, jpeg_bytes
from tests.test_verify import signed_in, triaged_report
from tests.test_workflow import act, claimed, page_of

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
