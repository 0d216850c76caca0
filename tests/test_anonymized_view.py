"""The anonymized view the workers make: account, pseudonyms, coarse place — and verifiers' corrections."""

from __future__ import annotations

import csv
import io
from typing import Any

import h3
from sqlalchemy import select

from intake.enums import Role
from intake.extensions import db
from intake.models import AuditEntry, PipelineJob, RedactionCorrection, Report
from intake.pipeline import process_report
from tests.conftest import csrf_token, make_org, make_user
from tests.test_encryption import raw_rows
from tests.test_verify import signed_in, triaged_report

NARRATIVE = ("At 06:40 Gor Hakobyan called from +374 91 234567: a Bayraktar TB2 hit the bakery queue in Goris, "
             "two killed. His neighbour Anahit Petrosyan died at the Goris Medical Centre.")


def fresh(public_id: str) -> Report:
    db.session.remove()
    report = db.session.scalar(select(Report).where(Report.public_id == public_id))
    assert report is not None
    return report


def run_pipeline(app: Any, report_id: int) -> None:
    with app.app_context():
        process_report(db.session, app.config, report_id)
        db.session.commit()


def test_the_workers_make_an_anonymized_account_that_keeps_the_facts(app: Any, reporter: Any, verifier: Any) -> None:
    report = triaged_report(app, reporter, narrative=NARRATIVE)
    with app.app_context():
        again = fresh(report.public_id)
        text = again.narrative_anonymized or ""
        for gone in ("Gor Hakobyan", "234567", "Anahit Petrosyan"):
            assert gone not in text, gone
        for kept in ("06:40", "Bayraktar TB2", "bakery queue", "Goris", "two killed"):
            assert kept in text, kept
        assert "[PERSON-1]" in text and "[PHONE-1]" in text
        assert again.location_cell == h3.latlng_to_cell(39.5057, 46.4362, 8)
        assert again.anonymized_at is not None and again.narrative_language == "en"
        pseudonyms = [v.pseudonym for v in again.victims]
        assert all(p and p.startswith("PERSON-") for p in pseudonyms) and len(set(pseudonyms)) == 2
    page = signed_in(app, verifier).get(f"/queue/reports/{report.public_id}").get_data(as_text=True)
    assert '<mark class="redaction" title="PERSON">[PERSON-1]</mark>' in page
    assert "Gor Hakobyan" not in page and "39.5057" not in page
    assert f'within cell <bdi dir="ltr">{h3.latlng_to_cell(39.5057, 46.4362, 8)}</bdi>' in page


def test_the_same_person_has_the_same_pseudonym_across_an_organisations_reports(app: Any, org: Any,
                                                                                reporter: Any) -> None:
    first = triaged_report(app, reporter)
    second = triaged_report(app, reporter, victims=[{"name": "Անահիտ Պետրոսյան", "harm": "killed"}])
    outsider = make_user(make_org("Other NGO"), Role.REPORTER)
    third = triaged_report(app, outsider)
    with app.app_context():
        mine = fresh(first.public_id).victims[0].pseudonym
        assert mine and fresh(second.public_id).victims[0].pseudonym == mine, "Armenian script, same person"
        assert fresh(third.public_id).victims[0].pseudonym != mine, "another organisation, another key"
    assert "Petrosyan" not in raw_rows(app, "SELECT * FROM victims")


def test_a_language_without_ner_is_flagged_for_a_careful_look(app: Any, reporter: Any, verifier: Any) -> None:
    report = triaged_report(app, reporter, narrative="Գորիսում անօդաչու սարքը հարվածեց հացի հերթին։",
                            narrative_language="hy")
    with app.app_context():
        assert (fresh(report.public_id).anonymization or {}).get("needs_review") is True
    page = signed_in(app, verifier).get(f"/queue/reports/{report.public_id}").get_data(as_text=True)
    assert "Needs a careful look" in page


def correct(browser: Any, report: Report, **fields: str) -> Any:
    page = browser.get(f"/queue/reports/{report.public_id}").get_data(as_text=True)
    prefix = "hide" if fields.get("action") == "hide" else "lift"
    return browser.post(f"/queue/reports/{report.public_id}/redactions",
                        data={f"{prefix}-csrf_token": csrf_token(page), **fields})


def test_verifiers_hide_more_and_lift_redactions_and_the_next_run_applies_it(app: Any, reporter: Any,
                                                                            verifier: Any) -> None:
    report = triaged_report(app, reporter, narrative=NARRATIVE)
    browser = signed_in(app, verifier)
    hidden = correct(browser, report, action="hide", **{"hide-surface": "bakery queue", "hide-entity_type": "OTHER"})
    assert hidden.status_code == 302
    with app.app_context():
        job = db.session.scalar(select(PipelineJob).where(PipelineJob.report_id == report.id))
        assert job is not None and job.state.value == "pending", "the workers owe the report a new run"
    run_pipeline(app, report.id)
    with app.app_context():
        text = fresh(report.public_id).narrative_anonymized or ""
        assert "bakery queue" not in text and "[OTHER-1]" in text
    lifted = correct(browser, report, action="lift", **{"lift-placeholder": "[PERSON-1]",
                                                        "lift-reason": "To call him back about the time"})
    assert lifted.status_code == 302
    run_pipeline(app, report.id)
    with app.app_context():
        again = fresh(report.public_id)
        text = again.narrative_anonymized or ""
        assert "Gor Hakobyan" in text and "[OTHER-1]" in text and "[PHONE-1]" in text
        kinds = [(c.kind, c.entity_type, c.surface) for c in again.redaction_corrections]
        assert ("add", "OTHER", "bakery queue") in kinds and ("remove", "PERSON", "Gor Hakobyan") in kinds
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "report.anonymization_corrected"))
        assert [e.detail["kind"] for e in entries] == ["add"], "lifting a name is a reveal (test_sealed_views)"
    # The corrections are evaluation data, but sealed: the words themselves are not in the table or the log.
    assert "bakery" not in raw_rows(app, "SELECT * FROM redaction_corrections")
    assert "bakery" not in raw_rows(app, "SELECT * FROM audit_log")


def test_a_correction_without_words_keeps_the_page_and_stores_nothing(app: Any, reporter: Any,
                                                                      verifier: Any) -> None:
    report = triaged_report(app, reporter, narrative=NARRATIVE)
    browser = signed_in(app, verifier)
    refused = correct(browser, report, action="hide", **{"hide-surface": "", "hide-entity_type": "PERSON"})
    assert refused.status_code == 422 and "This field is required" in refused.get_data(as_text=True)
    unknown = correct(browser, report, action="lift", **{"lift-placeholder": "[PERSON-99]"})
    assert unknown.status_code == 422
    with app.app_context():
        assert db.session.scalars(select(RedactionCorrection)).all() == []


def test_exports_get_a_coarser_cell_and_the_hour_only(app: Any, org: Any, reporter: Any) -> None:
    report = triaged_report(app, reporter, narrative=NARRATIVE)
    response = signed_in(app, make_user(org, Role.COORDINATOR)).get("/queue/export.csv?state=triage")
    (row,) = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert row["report_id"] == report.public_id
    assert row["location_cell"] == h3.cell_to_parent(h3.latlng_to_cell(39.5057, 46.4362, 8), 6)
    assert row["occurred_time"] == "06:00:00"
    # People as harm, sex, age band and status: Anahit's exact age (34) becomes the 30–44 band.
    assert row["victims"] == "killed:female:30-44:civilian; injured:male:5-11:unknown"
    assert "34" not in row["victims"]
    assert "Hakobyan" not in response.get_data(as_text=True)
