"""The outbox of pipeline jobs and the answers given when the database is unreachable."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from intake.db import make_engine
from intake.enums import JobState, ReportState
from intake.extensions import db
from intake.media import store_upload
from intake.models import PipelineJob, Report, Submission, utcnow
from intake.pipeline import process_report, start_job
from tests.conftest import complete_report, file_accepted, jpeg_bytes, make_token, sign_in
from tests.test_field import form_fields, page_of
from tests.test_workers import file_report, queued_messages
from workers.tasks import relay_submissions


def job_of(report_id: int) -> PipelineJob:
    db.session.expire_all()
    job = db.session.scalar(select(PipelineJob).where(PipelineJob.report_id == report_id))
    assert job is not None
    return job


def dispatched_ids(app: Any) -> list[int]:
    """Report ids of the process_report messages now waiting on the broker."""
    ids = []
    for raw in queued_messages(app):
        headers = json.loads(raw).get("headers", {})
        if headers.get("task") == "intake.process_report":
            ids.append(int(headers["argsrepr"].strip("[]")))
    return ids


def test_a_new_report_is_owed_a_run_in_the_same_transaction(app: Any, reporter: Any) -> None:
    """Filing a report writes its pending job, due after the deadline; the run marks it done."""
    before = dt.datetime.now(dt.UTC)
    report = file_report(app, reporter)
    job = job_of(report.id)
    assert job.state == JobState.PENDING and job.attempts == 0
    deadline = app.config["PIPELINE_DEADLINE_SECONDS"]
    assert before + dt.timedelta(seconds=deadline - 5) < job.due_at < before + dt.timedelta(seconds=deadline + 60)
    with app.app_context():
        assert start_job(db.session, report.id, 8, deadline)
        process_report(db.session, app.config, report.id)
        db.session.commit()
    assert job_of(report.id).state == JobState.DONE and job_of(report.id).attempts == 1


def test_a_new_file_owes_the_report_another_run(app: Any, client: Any, reporter: Any) -> None:
    """A file added through the API after processing makes the job pending again, and it is dispatched."""
    token = make_token(reporter)
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post("/api/v1/reports", json=complete_report(),
                          headers={**headers, "Idempotency-Key": "k-new-file"})
    (report_id,) = file_accepted(app)
    with app.app_context():
        start_job(db.session, report_id, 8, 300)
        process_report(db.session, app.config, report_id)
        db.session.commit()
    assert job_of(report_id).state == JobState.DONE
    upload = client.post(f"/api/v1/reports/{created.get_json()['id']}/attachments", headers=headers,
                         data={"file": (io.BytesIO(jpeg_bytes()), "later.jpg")}, content_type="multipart/form-data")
    assert upload.status_code == 201
    assert job_of(report_id).state == JobState.PENDING
    # The filing task runs the first pipeline itself; the new file is a message of its own.
    assert dispatched_ids(app).count(report_id) == 1


def test_the_sweep_dispatches_only_overdue_jobs_and_gives_them_a_new_deadline(app: Any, reporter: Any) -> None:
    """An overdue job is dispatched again and postponed; a job within its deadline is left alone."""
    from workers.tasks import sweep

    overdue, recent = file_report(app, reporter), file_report(app, reporter)
    assert job_of(recent.id).due_at > dt.datetime.now(dt.UTC)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    db.session.execute(update(PipelineJob).where(PipelineJob.report_id == overdue.id).values(due_at=past))
    db.session.commit()
    with app.app_context():
        sweep.run()
    assert dispatched_ids(app) == [overdue.id]
    assert job_of(overdue.id).due_at > dt.datetime.now(dt.UTC)
    with app.app_context():
        sweep.run()  # the postponed job is not sent again on the next sweep
    assert dispatched_ids(app) == [overdue.id]


def test_a_job_whose_worker_keeps_dying_is_held_for_a_coordinator(app: Any, reporter: Any) -> None:
    """After the maximum number of starts without finishing, the job is held as dead, not run again."""
    report = file_report(app, reporter)
    limit = app.config["PIPELINE_MAX_ATTEMPTS"]
    with app.app_context():
        for _ in range(limit):
            assert start_job(db.session, report.id, limit, 300)  # each start "dies" before finishing
            db.session.commit()
        assert not start_job(db.session, report.id, limit, 300)
        db.session.commit()
    job = job_of(report.id)
    assert job.state == JobState.DEAD and "worker lost" in (job.last_error or "")
    assert db.session.get(Report, report.id).state == ReportState.RECEIVED  # stored, waiting, not lost


def test_a_file_stored_in_a_transaction_that_rolls_back_is_removed(app: Any, reporter: Any) -> None:
    """Nothing half-written stays on disk: the file of an upload whose row was never committed is gone."""
    report = file_report(app, reporter)
    with app.app_context():
        store_upload(db.session, app.config, io.BytesIO(jpeg_bytes()), "x.jpg", reporter, report=report)
        assert [p for p in Path(app.config["UPLOAD_PATH"]).rglob("*") if p.is_file()]
        db.session.rollback()
    assert [p for p in Path(app.config["UPLOAD_PATH"]).rglob("*") if p.is_file()] == []


@contextmanager
def database_unreachable(app: Any) -> Iterator[None]:
    """Point the app at a database that cannot be reached, as when its server has gone away (every
    engine of the app: the sessions' and the API submit's)."""
    names = ("intake_engine", "intake_statement_engine")
    working = {name: app.extensions[name] for name in names}
    if working["intake_engine"].dialect.name == "postgresql":
        dead = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    else:
        dead = make_engine("sqlite:////nonexistent-folder/intake.sqlite3")
    app.extensions.update(dict.fromkeys(names, dead))
    try:
        yield
    finally:
        app.extensions.update(working)
        dead.dispose()


def report_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Report)) or 0


def test_the_form_keeps_everything_when_the_database_is_unreachable(app: Any, reporter: Any) -> None:
    """The form says the report was NOT sent, keeps what was typed, and the same page sends it later."""
    browser = app.test_client()
    sign_in(browser, reporter.email)
    _, token, submission_id = page_of(browser)
    data = form_fields(token, submission_id)
    with database_unreachable(app):
        response = browser.post("/reports/new", data=data)
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    html = response.get_data(as_text=True)
    assert "NOT sent" in html
    for kept in ("Olena Kovalenko", "Shells hit the courtyard", "+380 67 123 4567", "3OF45 lot 12-88"):
        assert kept in html
    assert report_count() == 0
    retry = browser.post("/reports/new", data=data)
    assert retry.status_code == 302 and report_count() == 1


def test_the_api_answers_503_with_retry_after_when_the_database_is_unreachable(app: Any, client: Any,
                                                                               reporter: Any) -> None:
    """A client is told to retry later with the same key; the retry makes exactly one report."""
    token = make_token(reporter)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-db-down-1"}
    with database_unreachable(app):
        response = client.post("/api/v1/reports", json=complete_report(), headers=headers)
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert response.get_json()["error"] == "unavailable"
    assert report_count() == 0
    assert client.post("/api/v1/reports", json=complete_report(), headers=headers).status_code == 201
    assert client.post("/api/v1/reports", json=complete_report(), headers=headers).status_code == 200
    assert report_count() == 1


def test_other_pages_say_the_service_is_unavailable(app: Any, reporter: Any) -> None:
    """Any page answers a clear 503 while the database is away, without a stack trace."""
    browser = app.test_client()
    sign_in(browser, reporter.email)
    with database_unreachable(app):
        response = browser.get("/my-reports")
    assert response.status_code == 503
    assert "unavailable just now" in response.get_data(as_text=True)


def test_intake_succeeds_quickly_while_the_broker_is_unreachable(app_config: dict[str, Any], reporter: Any,
                                                                 monkeypatch: Any) -> None:
    """With the broker down, reports are accepted; after the first failure nobody waits for the broker."""
    from intake import create_app, dispatch

    app = create_app({**app_config, "BROKER_URL": "redis://127.0.0.1:1/0"})
    celery = app.extensions["celery"]
    tries: list[str] = []
    real_send, real_depth = celery.send_task, dispatch._queue_depth

    def counting_send(*args: Any, **kwargs: Any) -> Any:
        tries.append("send")
        return real_send(*args, **kwargs)

    def counting_depth(*args: Any) -> int:
        tries.append("queue length")
        return real_depth(*args)

    celery.send_task = counting_send
    monkeypatch.setattr(dispatch, "_queue_depth", counting_depth)
    client = app.test_client()
    token = make_token(reporter)
    for n in range(3):
        response = client.post("/api/v1/reports", json=complete_report(),
                               headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"k-broker-down-{n}"})
        assert response.status_code == 201
    assert tries == []  # the API publishes nothing: its journal row is the outbox
    with app.app_context():
        assert relay_submissions(300) == 0
        assert relay_submissions(300) == 0
    # The relay asked the broker how full the queue is, found it down, and did not try it again.
    assert tries == ["queue length"]
    db.session.expire_all()
    entries = db.session.scalars(select(Submission)).all()
    assert len(entries) == 3
    # Nothing went out, so everything stays due for the relay's next pass.
    assert all(e.report_id is None and e.due_at is not None and e.due_at <= utcnow() for e in entries)


def test_the_relay_and_the_sweep_keep_the_queue_to_its_limit(app: Any, client: Any, reporter: Any) -> None:
    """The relay sends no more than the queue has room for, and the sweep sends no overdue job while
    the queue is full; what waits stays owed in the database and goes out once there is room."""
    from workers.tasks import sweep

    app.config["DISPATCH_QUEUE_LIMIT"] = 3
    token = make_token(reporter)
    for n in range(5):
        response = client.post("/api/v1/reports", json=complete_report(),
                               headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"k-queue-limit-{n}"})
        assert response.status_code == 201
    with app.app_context():
        assert relay_submissions(300) == 3
        assert relay_submissions(300) == 0  # the queue is full
    assert len(queued_messages(app)) == 3
    db.session.expire_all()
    waiting = db.session.scalars(select(Submission).where(Submission.due_at <= utcnow())).all()
    assert len(waiting) == 2, "the two not sent are still due"

    overdue = file_report(app, reporter)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    db.session.execute(update(PipelineJob).where(PipelineJob.report_id == overdue.id).values(due_at=past))
    db.session.commit()
    with app.app_context():
        sweep.run()
    assert dispatched_ids(app) == [] and len(queued_messages(app)) == 3
    assert job_of(overdue.id).due_at < utcnow(), "still overdue: the next sweep sends it"

    purge_queue(app)  # the workers took what was waiting
    with app.app_context():
        sweep.run()  # the two journal rows (its relay pass), then the overdue job
    assert dispatched_ids(app) == [overdue.id] and len(queued_messages(app)) == 3


def purge_queue(app: Any, queue: str | None = None) -> None:
    celery = app.extensions["celery"]
    with celery.connection_for_write() as connection:
        connection.default_channel.queue_purge(queue or celery.conf.task_default_queue)
    if queue is None:
        assert queued_messages(app) == []


def test_work_owed_during_a_run_is_not_marked_done_by_that_run(app: Any, reporter: Any, monkeypatch: Any) -> None:
    """A file added while the pipeline runs leaves the job pending, so the file still gets its own run."""
    from sqlalchemy.orm import Session

    from intake import pipeline

    report = file_report(app, reporter)
    # The upload's own request loaded the report and its job before the worker counted its start:
    # what it holds in memory (attempts 0) is stale by the time it owes the new work.
    upload = Session(bind=app.extensions["intake_engine"])
    stale = upload.get(Report, report.id)
    assert stale is not None and stale.job is not None and stale.job.attempts == 0
    upload.rollback()

    def a_file_arrives_meanwhile(session: Any, config: Any, subject: Report) -> None:
        pipeline.owe_work(upload, stale, 300)
        upload.commit()

    monkeypatch.setattr(pipeline, "STEPS", [*pipeline.STEPS, a_file_arrives_meanwhile])
    try:
        with app.app_context():
            assert start_job(db.session, report.id, 8, 300)
            db.session.commit()
            process_report(db.session, app.config, report.id)
            db.session.commit()
    finally:
        upload.close()
    job = job_of(report.id)
    assert job.state == JobState.PENDING and job.attempts == 0
    assert db.session.get(Report, report.id).state == ReportState.TRIAGE


def test_a_data_error_in_a_run_is_a_poison_report_not_a_retry(app: Any, reporter: Any, monkeypatch: Any) -> None:
    """Only a database that is away is retried; any other database error is recorded by class and held."""
    from sqlalchemy.exc import DataError

    from intake import pipeline
    from workers.tasks import process_report as task

    report = file_report(app, reporter)

    def bad_data(session: Any, config: Any, subject: Report) -> None:
        raise DataError("UPDATE reports SET …", {"narrative": "canary-value-3e9a"}, Exception("value too long"))

    monkeypatch.setattr(pipeline, "STEPS", [bad_data])
    app.config["PIPELINE_MAX_ATTEMPTS"] = 1
    with app.app_context():
        task.run(report.id)  # does not raise: nothing for Celery to retry or print
    job = job_of(report.id)
    assert job.state == JobState.DEAD and job.last_error == "DataError"


def test_workers_wait_while_reports_arrive_in_a_burst_and_not_beyond_their_limit(
        app: Any, client: Any, reporter: Any) -> None:
    """Accepting comes first: while reports arrive faster than PIPELINE_YIELD_ABOVE_PER_SECOND, a
    worker waits before its next task, until the rate over the last seconds falls below it; a burst
    that does not end holds a task back no longer than PIPELINE_YIELD_MAX_SECONDS."""
    from intake.pipeline import ArrivalRate, yield_to_intake

    # A burst from one token, far past its rate limits (intake.quotas): they are not what this measures.
    app.config.update(API_REPORTS_PER_TOKEN="", REPORTS_PER_USER="")
    token = make_token(reporter)
    sent = iter(range(10_000))

    def submit(count: int) -> None:
        for _ in range(count):
            key = f"k-burst-{next(sent)}"
            response = client.post("/api/v1/reports", json=complete_report(),
                                   headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})
            assert response.status_code == 201

    now = [1000.0]
    burst = {"seconds": 4, "per_second": 25}

    def sleep(seconds: float) -> None:  # time passes, and the burst goes on while it lasts
        now[0] += seconds
        if burst["seconds"] > 0:
            burst["seconds"] -= 1
            submit(burst["per_second"])

    config = {**app.config, "PIPELINE_YIELD_ABOVE_PER_SECOND": 20, "PIPELINE_YIELD_MAX_SECONDS": 30}
    rate = ArrivalRate(window=5)
    with app.app_context():
        assert yield_to_intake(db.session, config, rate, clock=lambda: now[0], sleep=sleep) == 0  # all quiet
        now[0] += 1
        submit(25)  # a burst begins: 25 reports in the last second
        waited = yield_to_intake(db.session, config, rate, clock=lambda: now[0], sleep=sleep)
        # Four more seconds at 25/s; then, one second after the burst, the last five seconds still
        # held 20/s (not below 20), and one second later 15/s.
        assert waited == 6
        assert yield_to_intake(db.session, config, rate, clock=lambda: now[0], sleep=sleep) == 0

        burst["seconds"] = 1000  # a burst that does not end
        now[0] += 10
        submit(25)
        rate = ArrivalRate(window=5)  # a worker process just started
        assert yield_to_intake(db.session, config, rate, clock=lambda: now[0], sleep=sleep) == 0  # no rate yet
        now[0] += 1
        submit(25)
        assert yield_to_intake(db.session, config, rate, clock=lambda: now[0], sleep=sleep) == 30

        burst["seconds"] = 0
        off = {**config, "PIPELINE_YIELD_ABOVE_PER_SECOND": 0}  # workers on machines of their own
        now[0] += 1
        submit(50)
        assert yield_to_intake(db.session, off, rate, clock=lambda: now[0], sleep=sleep) == 0
