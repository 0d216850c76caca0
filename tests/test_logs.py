"""No name, phone, e-mail, exact coordinate or narrative text reaches a log record (security.md, 1 and 2)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select

from intake.extensions import db
from intake.models import Report
from intake.pipeline import process_report, start_job
from tests.conftest import complete_report, jpeg_bytes, make_token, sign_in
from tests.test_field import form_fields, page_of
from tests.test_pipeline import database_unreachable

CANARIES = {
    "name": "Zvartnotsyan Canaryvictim",
    "witness": "Witnesscanary Melikyan",
    "phone": "+374 99 817 263",
    "email": "canary.witness@example.net",
    "narrative": "canary-narrative-7c1e the roof fell on the kitchen",
    "latitude": "39.918273",
    "longitude": "44.827364",
    "link": "https://t.me/canary_channel/998877",
    "description": "canary-description-4d2f",
}


def assert_no_canary(records: list[logging.LogRecord]) -> None:
    assert records, "something was logged"
    for record in records:
        text = " ".join([record.getMessage(), str(record.args), record.exc_text or "", str(record.__dict__)])
        for kind, canary in CANARIES.items():
            assert canary not in text, f"{kind} leaked into {record.name}: {record.getMessage()[:120]}"


def canary_form(token: str, submission_id: str, **extra: Any) -> dict[str, Any]:
    return form_fields(token, submission_id, narrative=CANARIES["narrative"], latitude=CANARIES["latitude"],
                       longitude=CANARIES["longitude"], **{
                           "victims-0-name": CANARIES["name"], "witnesses-0-name": CANARIES["witness"],
                           "witnesses-0-phone": CANARIES["phone"], "witnesses-0-email": CANARIES["email"],
                           "links-0-url": CANARIES["link"], "attachments-0-description": CANARIES["description"],
                           **extra})


def canary_report() -> dict[str, Any]:
    return complete_report(
        narrative=CANARIES["narrative"], latitude=float(CANARIES["latitude"]),
        longitude=float(CANARIES["longitude"]),
        victims=[{"name": CANARIES["name"], "harm": "killed"}],
        witnesses=[{"name": CANARIES["witness"], "phone": CANARIES["phone"], "email": CANARIES["email"]}],
        links=[{"url": CANARIES["link"]}])


def test_submitting_processing_and_failing_logs_no_report_content(app: Any, reporter: Any,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """Every log record of a day's work (good, bad and failed submissions, the pipeline) is free of canaries."""
    caplog.set_level(logging.DEBUG)
    browser = app.test_client()
    sign_in(browser, reporter.email)
    # Web form: refused (future date), then sent with a photo; then the database goes away mid-submit.
    _, token, submission_id = page_of(browser)
    refused = browser.post("/reports/new", data=canary_form(token, submission_id, occurred_on="2999-01-01"))
    assert refused.status_code == 422
    sent = browser.post("/reports/new", data=canary_form(token, submission_id, **{
        "attachments-0-file": (io.BytesIO(jpeg_bytes()), f"{CANARIES['name']}.jpg")}),
        content_type="multipart/form-data")
    assert sent.status_code == 302
    _, token, other_submission = page_of(browser)
    with database_unreachable(app):
        assert browser.post("/reports/new", data=canary_form(token, other_submission)).status_code == 503
    # JSON API: invalid (bad e-mail that is itself a canary), then accepted.
    api = app.test_client()
    headers = {"Authorization": f"Bearer {make_token(reporter)}", "Idempotency-Key": "k-log-canary"}
    bad = canary_report()
    bad["witnesses"][0]["email"] = CANARIES["email"].replace("@", " at ")
    assert api.post("/api/v1/reports", json=bad, headers=headers).status_code == 422
    assert api.post("/api/v1/reports", json=canary_report(), headers=headers).status_code == 201
    # The pipeline, as the worker runs it.
    with app.app_context():
        for report_id in db.session.scalars(select(Report.id)).all():
            start_job(db.session, report_id, 8, 300)
            process_report(db.session, app.config, report_id)
        db.session.commit()
    assert_no_canary(caplog.records)


def test_an_unexpected_error_is_logged_by_type_only(app_config: dict[str, Any], reporter: Any,
                                                    caplog: pytest.LogCaptureFixture, monkeypatch: Any) -> None:
    """A crash inside a view logs its exception class, not its message, and the page shows neither."""
    from intake import create_app
    from intake.web import field

    app = create_app({**app_config, "PROPAGATE_UNEXPECTED": False})
    caplog.set_level(logging.DEBUG)

    def explode(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError(f"could not handle {CANARIES['name']} at {CANARIES['latitude']}")

    monkeypatch.setattr(field, "submit_report", explode)
    browser = app.test_client()
    sign_in(browser, reporter.email)
    _, token, submission_id = page_of(browser)
    response = browser.post("/reports/new", data=canary_form(token, submission_id))
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert CANARIES["name"] not in page and "RuntimeError" not in page and "Traceback" not in page
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)
    assert_no_canary(caplog.records)


def test_a_database_error_names_the_sql_but_never_the_values(app: Any, reporter: Any) -> None:
    """The text of a database error (what Celery and tracebacks print) holds no bound values."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with app.app_context():
        try:
            db.session.execute(text("INSERT INTO organisations (id, public_id, name, created_at) "
                                    "VALUES (:id, :pid, :name, CURRENT_TIMESTAMP)"),
                               {"id": reporter.organisation_id, "pid": CANARIES["phone"], "name": CANARIES["name"]})
            db.session.flush()
        except DBAPIError as exc:
            db.session.rollback()
            message = str(exc)
        else:  # pragma: no cover - the duplicate id must be refused
            raise AssertionError("the duplicate primary key was accepted")
    assert "INSERT INTO organisations" in message
    assert CANARIES["name"] not in message and CANARIES["phone"] not in message


@contextmanager
def records_of(name: str, level: int) -> Iterator[tuple[logging.Logger, list[logging.LogRecord]]]:
    """The logger `name` at `level`, with a handler added after the app was made that keeps every record it
    is given; both undone afterwards."""
    captured: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    logger, handler = logging.getLogger(name), Keep()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield logger, captured
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def test_the_log_filter_is_installed_once_however_many_apps_are_made(app_config: dict[str, Any]) -> None:
    """Creating apps again (tests, CLI commands) does not wrap the record factory again and again."""
    from intake import create_app

    create_app(app_config)
    factory = logging.getLogRecordFactory()
    for _ in range(3):
        create_app(app_config)
    assert logging.getLogRecordFactory() is factory


def test_a_child_loggers_record_loses_its_arguments_wherever_it_goes(app: Any) -> None:
    """A library's child logger (here Pillow's TIFF reader, at a level someone turned on) reaches a handler
    added after the app was made with its values withheld."""
    with records_of("sqlalchemy.engine.Engine.child", logging.DEBUG) as (child, captured):
        child.debug("Value: %s", CANARIES["name"])
    assert captured and CANARIES["name"] not in captured[0].getMessage()
    assert "arguments withheld" in captured[0].getMessage()


def test_a_task_line_names_the_task_and_its_time_but_not_what_it_returned_or_raised(app: Any) -> None:
    """Celery's trace lines keep the task's name, id and run time and withhold its result and error."""
    with records_of("celery.app.trace", logging.INFO) as (trace, captured):
        trace.info("Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s",
                   {"name": "intake.process_report", "id": "42-abc", "runtime": 0.25,
                    "return_value": CANARIES["name"]})
        trace.error("Task %(name)s[%(id)s] %(description)s: %(exc)s",
                    {"name": "intake.process_report", "id": "43-abc", "description": "raised unexpected",
                     "exc": f"ValueError('{CANARIES['phone']}')"})
    lines = [record.getMessage() for record in captured]
    assert lines[0] == "Task intake.process_report[42-abc] succeeded in 0.25s: [withheld]"
    assert lines[1] == "Task intake.process_report[43-abc] [withheld]: [withheld]"
    assert not any(CANARIES["name"] in line or CANARIES["phone"] in line for line in lines)
