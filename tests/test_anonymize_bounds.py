"""What one report may ask of the anonymizer (issue 12, item 14): no lock held across the slow step,
and bounds on the work, refused at intake and applied again by the worker."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from intake import audit
from intake.anonymization import TOO_LONG, pseudonym_key
from intake.enums import Channel
from intake.extensions import db
from intake.models import Organisation, Report
from intake.pipeline import process_report
from intake.reports import submit_report
from intake.schema import MAX_KNOWN_IDENTIFIERS, MAX_WITNESSES, ReportIn
from tests.conftest import complete_report, make_org, make_token, make_user, service_missing
from tests.test_api import REPORTS, bearer

# ---- bounds at intake -----------------------------------------------------------------------------


def _witness(index: int, **extra: Any) -> dict[str, Any]:
    return {"name": f"Witness {index} Hakobyan", "relation": "neighbour", **extra}


def test_too_many_witnesses_or_known_identifiers_are_refused_at_intake(client: Any, reporter: Any) -> None:
    token = make_token(reporter)

    def submit(key: str, **overrides: Any) -> Any:
        return client.post(REPORTS, json=complete_report(**overrides),
                           headers={**bearer(token), "Idempotency-Key": key})

    too_many_witnesses = submit("key-bounds-01", witnesses=[_witness(i) for i in range(MAX_WITNESSES + 1)])
    assert too_many_witnesses.status_code == 422
    assert too_many_witnesses.get_json()["errors"]["witnesses"] == [f"Too many entries: at most {MAX_WITNESSES}."]

    victims = [{"name": f"Victim {i} Petrosyan", "harm": "killed"} for i in range(200)]
    witnesses = [_witness(i, phone=f"+374 91 {i:06}") for i in range(30)]  # 200 + 30 + 30 = 260
    too_many_known = submit("key-bounds-02", victims=victims, witnesses=witnesses)
    assert too_many_known.status_code == 422, too_many_known.get_json()
    (message,) = too_many_known.get_json()["errors"]["victims"]
    assert f"At most {MAX_KNOWN_IDENTIFIERS} names, phone numbers and e-mails" in message
    assert "Petrosyan" not in str(too_many_known.get_json())

    too_long = submit("key-bounds-03", narrative="x" * 50_001)
    assert too_long.status_code == 422 and "narrative" in too_long.get_json()["errors"]
    # At the limits, accepted.
    assert submit("key-bounds-04", victims=victims, witnesses=witnesses[:25]).status_code == 201


def test_the_worker_bounds_a_report_that_passed_before_the_limits(app: Any, reporter: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows stored before the bounds existed: the deny-list is cut and an overlong account withheld."""
    import intake.anonymization as anonymization

    with app.test_request_context():
        submission = submit_report(db.session, reporter, ReportIn.model_validate(complete_report()), Channel.API,
                                   "sub-bounded-1")
        db.session.commit()
        report_id = submission.report.id
    monkeypatch.setattr(anonymization, "MAX_KNOWN_IDENTIFIERS", 2)
    monkeypatch.setattr(anonymization, "MAX_NARRATIVE_CHARS", 20)
    with app.app_context():
        process_report(db.session, app.config, report_id)
        db.session.commit()
        report = db.session.get(Report, report_id)
        assert report is not None
        assert report.narrative_anonymized == TOO_LONG
        reasons = report.anonymization["reasons"]
        assert any("only the first 2 known names" in r for r in reasons)
        assert any("withheld, not anonymized" in r for r in reasons)
        assert report.anonymization["needs_review"] is True


# ---- no lock across the slow step -----------------------------------------------------------------


class _SlowEngine:
    """The text engine as a crafted report makes it: slow (here on purpose, for a few seconds)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.started = seconds, threading.Event()

    def anonymize(self, text: str, **_kwargs: Any) -> Any:
        from intake.anonymize import Result

        self.started.set()
        time.sleep(self.seconds)
        return Result(text=text, entities=[], pseudonyms={}, needs_review=False, review_reasons=[])


def _audited_write(app: Any, organisation_id: int) -> float:
    """An audited write as every verifier action makes one, timed to its commit."""
    started = time.monotonic()
    with app.app_context():
        audit.record("test.write", actor=None, organisation_id=organisation_id, target_type="report",
                     target_id="x", session=db.session)
        db.session.commit()
        db.session.remove()
    return time.monotonic() - started


def test_audited_writes_do_not_wait_for_a_slow_anonymization(app: Any, backend: dict[str, str], org: Any,
                                                              reporter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    if not backend["database_url"].startswith("postgresql"):
        service_missing("row locks are PostgreSQL's: set INTAKE_TEST_DATABASE_URL")
    import intake.anonymize as anonymize

    slow = _SlowEngine(6.0)
    monkeypatch.setattr(anonymize, "get_engine", lambda: slow)
    other = make_org("Another NGO")
    make_user(other)
    with app.test_request_context():
        submission = submit_report(db.session, reporter, ReportIn.model_validate(complete_report()), Channel.API,
                                   f"sub-slow-{dt.datetime.now().timestamp()}")
        db.session.commit()
        report_id = submission.report.id
    db.session.remove()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                process_report(db.session, app.config, report_id)
                db.session.commit()
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert slow.started.wait(60), "the anonymization never started"
        same = _audited_write(app, org.id)
        different = _audited_write(app, other.id)
    finally:
        worker.join(60)
    assert errors == []
    assert same < 2.0, f"an audited write of the same organisation waited {same:.1f} s"
    assert different < 2.0, f"an audited write of another organisation waited {different:.1f} s"
    # The key was made once and kept.
    with app.app_context():
        stored = db.session.scalar(select(Organisation.pseudonym_key_wrapped).where(Organisation.id == org.id))
        assert stored is not None
        assert pseudonym_key(db.session, org.id) == pseudonym_key(db.session, org.id)
