"""Fault tests: a report acknowledged to a field worker is never lost, whatever dies.

They run against the real PostgreSQL and Redis (INTAKE_TEST_DATABASE_URL, INTAKE_TEST_BROKER_URL) and
are skipped with the reason elsewhere (under CI=true a missing service fails the run). A worker is
killed with SIGKILL mid-pipeline, the broker's queue is flushed, the database connection of a submit
is terminated by the server, one report is sent from 20 threads at once, a report poisons the
pipeline until it is held for a coordinator, and a report is filed while the broker is unreachable.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select, text
from werkzeug.datastructures import MultiDict

from intake import create_app
from intake.dispatch import MEDIA_QUEUE, TEXT_QUEUE
from intake.enums import AttachmentStatus, JobState, ReportState, Role
from intake.extensions import db
from intake.models import Attachment, PipelineJob, Report, StateTransition, Submission, Victim
from tests.conftest import (
    ROOT,
    all_at_once,
    complete_report,
    csrf_token,
    file_accepted,
    jpeg_bytes,
    make_token,
    make_user,
    post_multipart,
    require_postgres,
    require_redis,
    sign_in,
    wait_for,
    worker_env,
)
from tests.test_field import form_fields, page_of, photo

REPORTS = "/api/v1/reports"
# The two queues (intake.dispatch), each a Redis list of that name.
QUEUE_NAMES = (TEXT_QUEUE, MEDIA_QUEUE)


def queued(broker: Any) -> int:
    """Messages waiting on the text and media queues together."""
    return sum(broker.llen(name) for name in QUEUE_NAMES)
CANARY = "CANARY-poison-5d1e"


# ---- worker processes ---------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """A Celery worker in its own process group, so SIGKILL reaches everything it started."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 60) -> None:
        wait_for(lambda: "ready." in self.log() or self.process.poll() is not None, timeout=timeout)
        if self.process.poll() is not None:
            raise AssertionError(f"worker {self.name} exited:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        """kill -9, as the OOM killer or a pulled plug would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            self.process.wait(timeout=15)


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(app: Any, app_config: dict[str, Any], instance_path: Path) -> Iterator[StartWorker]:
    """Start real worker processes with extra settings (`PIPELINE_STEP_DELAY_SECONDS=5`, …);
    every one still running at the end of the test is stopped."""
    started: list[WorkerProcess] = []

    def start(name: str, wait: bool = True, **settings: Any) -> WorkerProcess:
        env = worker_env(app_config)
        env.update({f"INTAKE_{key}": str(value) for key, value in settings.items()})
        log_path = instance_path / f"{name}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "workers.worker", "worker", "--pool", "solo",
                 "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--hostname", f"{name}@%h"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        worker = WorkerProcess(name, process, log_path)
        started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


def explain(workers: list[WorkerProcess]) -> str:
    return "\n".join(f"--- {w.name} (exit {w.process.poll()}) ---\n{w.log()[-2500:]}" for w in workers)


def wait_or_explain(predicate: Callable[[], Any], timeout: float, *workers: WorkerProcess) -> Any:
    """`wait_for`, with the workers' logs in the failure message."""
    try:
        return wait_for(predicate, timeout=timeout, interval=0.1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{explain(list(workers))}") from None


# ---- helpers ------------------------------------------------------------------------------------


def redis_client(app: Any) -> Any:
    import redis

    return redis.Redis.from_url(app.config["BROKER_URL"])


def run_sweep(app: Any) -> None:
    """One run of the periodic sweep, as celery beat would start it."""
    from workers.tasks import sweep

    with app.app_context():
        sweep.run()


def overdue(app: Any) -> list[int]:
    from intake.pipeline import due_jobs

    with app.app_context():
        return due_jobs(db.session)


def count(model: Any, *where: Any) -> int:
    db.session.rollback()  # a fresh snapshot: rows workers and other requests committed
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def triaged(report_id: int) -> int:
    return count(StateTransition, StateTransition.report_id == report_id,
                 StateTransition.to_state == ReportState.TRIAGE)


def job_of(report_id: int) -> PipelineJob:
    db.session.rollback()
    job = db.session.scalar(select(PipelineJob).where(PipelineJob.report_id == report_id))
    assert job is not None
    return job


def report_state(report_id: int) -> ReportState:
    db.session.rollback()
    state = db.session.scalar(select(Report.state).where(Report.id == report_id))
    assert state is not None
    return state


def bearer(token: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return headers


def add_photo(client: Any, token: str, public_id: str, name: str = "crater.jpg") -> None:
    response = post_multipart(client, f"{REPORTS}/{public_id}/attachments",
                              {"file": (io.BytesIO(jpeg_bytes()), name)}, headers=bearer(token))
    assert response.status_code == 201, response.get_data(as_text=True)


def report_id_of(public_id: str) -> int:
    db.session.rollback()
    report_id = db.session.scalar(select(Report.id).where(Report.public_id == public_id))
    assert report_id is not None
    return report_id


class FormReader(HTMLParser):
    """What a browser would send for one form of a page, as the page now shows it."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.values: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        elif not self.inside:
            return
        elif tag == "input":
            kind = (a.get("type") or "text").lower()
            name = a.get("name")
            if not name or kind in ("submit", "button", "file", "reset", "image"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.values.append((name, a.get("value") or ("on" if kind in ("checkbox", "radio") else "")))
        elif tag == "select":
            self._select, self._options = a.get("name"), []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value") or "", "selected" in a))
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected] or [v for v, _ in self._options[:1]]
            if chosen:
                self.values.append((self._select, chosen[0]))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            value = "".join(self._text).replace("\r\n", "\n")  # a browser drops the newline after <textarea>
            self.values.append((self._textarea, value[1:] if value.startswith("\n") else value))
            self._textarea = None


def form_on_page(html: str, form_id: str = "report-form") -> MultiDict[str, str]:
    reader = FormReader(form_id)
    reader.feed(html)
    reader.close()
    assert reader.values, f"no form #{form_id} on the page"
    return MultiDict(reader.values)


# ---- 1. a worker killed mid-pipeline --------------------------------------------------------------


@pytest.mark.worker
def test_a_worker_killed_mid_pipeline_loses_nothing_and_the_report_completes_once(
        app: Any, reporter: Any, start_worker: StartWorker) -> None:
    """kill -9 of the worker in the middle of a report's pipeline: a new worker completes it, once."""
    require_postgres()
    require_redis()
    app.config["PIPELINE_DEADLINE_SECONDS"] = 3
    broker = redis_client(app)
    # Five seconds before each step, and a short deadline: the job is overdue soon after it starts.
    first = start_worker("doomed-worker", PIPELINE_STEP_DELAY_SECONDS=5, PIPELINE_DEADLINE_SECONDS=3)
    second: WorkerProcess | None = None
    try:
        browser = app.test_client()
        sign_in(browser, reporter.email)
        _, token, submission_id = page_of(browser)
        sent = browser.post("/reports/new", data=form_fields(token, submission_id, **{"attachments-0-file": photo()}),
                            content_type="multipart/form-data")
        assert sent.status_code == 302
        db.session.rollback()
        report = db.session.scalar(select(Report))
        assert report is not None
        report_id, receipt = report.id, sent.headers["Location"]

        # The attempt is committed before the work: once it shows, the worker is inside the pipeline.
        wait_or_explain(lambda: job_of(report_id).attempts == 1, 30, first)
        first.kill()
        assert report_state(report_id) == ReportState.RECEIVED, "killed before the pipeline finished"
        assert job_of(report_id).state == JobState.PENDING
        # acks_late: the message the dead worker took is still held by Redis, unacknowledged.
        unacked = broker.hgetall("unacked")
        assert len(unacked) == 1, unacked
        original_task_id = json.loads(next(iter(unacked.values())))[0]["headers"]["id"]
        delivered_at = broker.zrange("unacked_index", 0, -1, withscores=True)[0][1]

        # The sweep dispatches the job again once its deadline (3 s after the start) has passed.
        wait_for(lambda: report_id in overdue(app), timeout=30, interval=0.2)
        run_sweep(app)
        # kombu gives an unacknowledged message back to the queue when a consumer starts (and then
        # only every ~100 s): start the new worker once the visibility timeout (5 s) has run out, so
        # the killed worker's message comes back too, besides the sweep's.
        wait_for(lambda: time.time() > delivered_at + 5.5, timeout=30)
        second = start_worker("fresh-worker", BROKER_VISIBILITY_TIMEOUT=5)

        wait_or_explain(lambda: report_state(report_id) == ReportState.TRIAGE, 60, first, second)
        wait_or_explain(lambda: f"[{original_task_id}] received" in second.log(), 30, first, second)
        # Both messages consumed and acknowledged: nothing queued, nothing held.
        wait_or_explain(lambda: queued(broker) == 0 and broker.hlen("unacked") == 0, 30, first, second)
        # The sweep's message and the dead worker's; the new worker's relay may add a third if the job
        # came due again before it started (its recovery at start): harmless, as the job runs once.
        assert len(re.findall(r"Task intake\.process_report\[[-0-9a-f]+\] received", second.log())) >= 2, \
            explain([second])

        assert triaged(report_id) == 1
        assert count(PipelineJob) == 1
        job = job_of(report_id)
        assert job.state == JobState.DONE and job.attempts == 2 and job.last_error is None
        assert count(Attachment) == 1
        db.session.rollback()
        status = db.session.scalar(select(Attachment.status))
        assert status == AttachmentStatus.INSPECTED
        assert count(Report) == 1 and count(Victim) == 2
        assert "Waiting for review" in browser.get("/my-reports").get_data(as_text=True)
        assert browser.get(receipt).status_code == 200
    finally:
        broker.close()
        first.stop()
        if second is not None:
            second.stop()


# ---- 2. the broker's queue flushed ------------------------------------------------------------------


@pytest.mark.worker
def test_a_flushed_broker_loses_no_report_the_sweep_recovers_every_one(
        app: Any, client: Any, reporter: Any, start_worker: StartWorker) -> None:
    """FLUSHDB on the broker with 10 reports queued: the relay and the sweep send them again and all
    reach triage once. Four have a photo, so they were filed (a file needs its report) and their
    pipeline was queued; the six others were still in the journal, their filing queued."""
    require_postgres()
    require_redis()
    from workers.tasks import relay_submissions

    app.config["PIPELINE_DEADLINE_SECONDS"] = 2
    token = make_token(reporter)
    public_ids = []
    for number in range(10):
        created = client.post(REPORTS, json=complete_report(locality=f"Village {number}"),
                              headers=bearer(token, f"flush-test-{number:04d}"))
        assert created.status_code == 201
        public_ids.append(created.get_json()["id"])
        if number % 3 == 0:
            add_photo(client, token, public_ids[-1])
    with app.app_context():
        assert relay_submissions(2) == 6  # what a worker's relay does every second
    broker = redis_client(app)
    try:
        assert queued(broker) == 10, "every report was dispatched"
        broker.flushdb()
        assert queued(broker) == 0
    finally:
        broker.close()
    assert count(Report) == 4 and count(Submission, Submission.report_id.is_(None)) == 6
    filed_ids = [report_id_of(public_id) for number, public_id in enumerate(public_ids) if number % 3 == 0]
    worker = start_worker("after-flush-worker", wait=False)
    wait_for(lambda: set(overdue(app)) == set(filed_ids), timeout=30, interval=0.2)
    worker.wait_ready()
    run_sweep(app)  # the pipeline jobs; the worker's relay sends the journal's rows once they are due again
    wait_or_explain(lambda: count(PipelineJob, PipelineJob.state == JobState.DONE) == 10, 60, worker)

    for public_id in public_ids:
        report_id = report_id_of(public_id)
        assert report_state(report_id) == ReportState.TRIAGE
        assert triaged(report_id) == 1
    assert count(Report) == 10 and count(PipelineJob) == 10 and count(Submission) == 10
    assert count(Submission, Submission.report_id.is_(None)) == 0
    assert count(Attachment) == 4
    assert count(Attachment, Attachment.status == AttachmentStatus.INSPECTED) == 4
    assert overdue(app) == []


# ---- 3. the database connection dies during a submit ------------------------------------------------


class ConnectionKiller:
    """Terminate, from another connection, the server process of the connection that is about to
    insert a report: the app's connection really dies in the middle of its transaction. Once.

    `statement=None` kills the connection the API's single-statement submit has just taken from its
    pool (`intake_statement_engine`), which then sends its one statement on a dead connection."""

    def __init__(self, app: Any, database_url: str, statement: str | None = "INSERT INTO REPORTS ") -> None:
        self.statement = statement
        self.engine = app.extensions["intake_engine" if statement else "intake_statement_engine"]
        self.admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
        self.killed: list[int] = []

    def __enter__(self) -> ConnectionKiller:
        if self.statement:
            event.listen(self.engine, "before_cursor_execute", self.before_cursor_execute)
        else:
            event.listen(self.engine.pool, "checkout", self.checkout)
        return self

    def __exit__(self, *_exc: object) -> None:
        if event.contains(self.engine, "before_cursor_execute", self.before_cursor_execute):
            event.remove(self.engine, "before_cursor_execute", self.before_cursor_execute)
        if event.contains(self.engine.pool, "checkout", self.checkout):
            event.remove(self.engine.pool, "checkout", self.checkout)
        self.admin.dispose()

    def before_cursor_execute(self, _conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if not self.killed and statement.lstrip().upper().startswith(self.statement or ""):
            self.kill(cursor.connection.info.backend_pid)

    def checkout(self, dbapi_connection: Any, *_args: Any) -> None:
        if not self.killed:
            self.kill(dbapi_connection.info.backend_pid)

    def kill(self, pid: int) -> None:
        self.killed.append(pid)
        with self.admin.connect() as admin:
            assert admin.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            wait_for(lambda: not admin.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                              {"pid": pid}), timeout=10, interval=0.05)


def nothing_stored() -> bool:
    return all(count(model) == 0 for model in (Submission, Report, Victim, PipelineJob, Attachment, StateTransition))


def test_a_database_dying_during_an_api_submit_stores_nothing_and_the_retry_succeeds(
        app: Any, client: Any, reporter: Any, backend: dict[str, str]) -> None:
    """The database connection dies mid-submit: 503 with Retry-After, nothing stored; the retry files one."""
    require_postgres()
    token = make_token(reporter)
    headers = bearer(token, "db-dies-mid-submit-1")
    with ConnectionKiller(app, backend["database_url"], statement=None) as killer:
        response = client.post(REPORTS, json=complete_report(), headers=headers)
    assert killer.killed, "the connection was terminated"
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers.get("Retry-After")
    body = response.get_json()
    assert body["error"] == "unavailable" and "nothing was stored" in body["message"]
    assert "Anahit" not in response.get_data(as_text=True)
    assert nothing_stored()

    retried = client.post(REPORTS, json=complete_report(), headers=headers)
    assert retried.status_code == 201, retried.get_data(as_text=True)
    again = client.post(REPORTS, json=complete_report(), headers=headers)
    assert again.status_code == 200 and again.get_json()["id"] == retried.get_json()["id"]
    assert count(Submission) == 1
    file_accepted(app)
    assert count(Report) == 1 and count(Victim) == 2 and count(PipelineJob) == 1


def test_a_database_dying_during_a_form_submit_keeps_the_form_and_the_resend_succeeds(
        app: Any, reporter: Any, backend: dict[str, str]) -> None:
    """The database connection dies as the form is sent: the page keeps what was typed and says NOT sent;
    sending that page again files one report."""
    require_postgres()
    browser = app.test_client()
    sign_in(browser, reporter.email)
    _, token, submission_id = page_of(browser)
    typed = form_fields(token, submission_id)
    with ConnectionKiller(app, backend["database_url"]) as killer:
        response = browser.post("/reports/new", data=typed)
    assert killer.killed, "the connection was terminated"
    assert response.status_code == 503
    assert response.headers.get("Retry-After")
    html = response.get_data(as_text=True)
    assert "Your report was NOT sent" in html
    for kept in ("Olena Kovalenko", "Taras Kovalenko", "Shells hit the courtyard", "+380 67 123 4567",
                 "2S19 Msta-S", "3OF45 lot 12-88", "https://t.me/example/42", "Kapytolivka"):
        assert kept in html, kept
    assert nothing_stored()

    # The field worker presses "Send report" again on the page as it is now.
    again = form_on_page(html)
    assert again["submission_id"] == submission_id
    assert again["csrf_token"] == csrf_token(html)
    assert again["victims-0-name"] == "Olena Kovalenko" and again["risk_to_source"] == "high"
    resent = browser.post("/reports/new", data=again)
    assert resent.status_code == 302, resent.get_data(as_text=True)[:3000]
    assert "/receipt" in resent.headers["Location"]
    assert browser.get(resent.headers["Location"]).status_code == 200
    assert count(Report) == 1 and count(PipelineJob) == 1
    db.session.rollback()
    report = db.session.scalar(select(Report))
    assert report is not None
    assert [v.name for v in report.victims] == ["Olena Kovalenko", "Taras Kovalenko"]
    assert report.narrative == typed["narrative"] and report.submission_id == submission_id
    assert report.witnesses[0].phone == "+380 67 123 4567"


# ---- 4. one form sent from 20 threads ----------------------------------------------------------------


def test_the_same_form_sent_from_20_threads_at_once_makes_one_report(app: Any, reporter: Any) -> None:
    """20 simultaneous sends of one form (one submission id) file one report; every answer is its receipt."""
    require_postgres()
    threads_count = 20
    browsers = []
    for _ in range(threads_count):
        browser = app.test_client()
        assert sign_in(browser, reporter.email).status_code == 302
        browsers.append(browser)
    submission_id = page_of(browsers[0])[2]
    forms = [form_fields(page_of(browser)[1], submission_id) for browser in browsers]

    def sender(browser: Any, data: dict[str, Any]) -> Any:
        def send() -> tuple[int, str | None]:
            response = browser.post("/reports/new", data=data)
            return response.status_code, response.headers.get("Location")

        return send

    results = all_at_once([sender(b, d) for b, d in zip(browsers, forms, strict=True)])
    assert len(results) == threads_count
    assert [status for status, _ in results] == [302] * threads_count, results
    assert len({location for _, location in results}) == 1
    assert count(Report) == 1 and count(Victim) == 2 and count(PipelineJob) == 1
    location = results[0][1]
    assert location is not None and "/receipt" in location
    assert browsers[-1].get(location).status_code == 200


# ---- 5. a poison report ---------------------------------------------------------------------------


class PoisonError(RuntimeError):
    pass


def test_a_poison_report_is_held_for_a_coordinator_and_retried(
        app: Any, client: Any, org: Any, reporter: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A report the pipeline fails on every time is held, without its content, for a coordinator to retry."""
    require_postgres()
    import intake.pipeline as pipeline
    from workers.tasks import process_report

    caplog.set_level(logging.DEBUG)
    app.config["PIPELINE_MAX_ATTEMPTS"] = 3
    token = make_token(reporter)
    created = client.post(REPORTS, json=complete_report(), headers=bearer(token, "poison-report-1"))
    assert created.status_code == 201
    public_id = created.get_json()["id"]
    (report_id,) = file_accepted(app)

    def poison(_session: Any, _config: Any, report: Report) -> None:
        if report.id == report_id:
            raise PoisonError(f"cannot read {CANARY} in {report.narrative}")

    monkeypatch.setattr(pipeline, "STEPS", [poison, *pipeline.STEPS])
    for attempt in (1, 2, 3, 4):
        with app.app_context():
            process_report.run(report_id)
        job = job_of(report_id)
        assert job.attempts == min(attempt, 3)
        assert job.state == (JobState.PENDING if attempt < 3 else JobState.DEAD)
        assert job.last_error == "PoisonError"
    assert report_state(report_id) == ReportState.RECEIVED
    db.session.rollback()
    row = db.session.execute(text("SELECT * FROM pipeline_jobs WHERE report_id = :id"), {"id": report_id}).one()
    assert all(CANARY not in str(value) for value in row), row
    assert CANARY not in caplog.text
    assert "PoisonError" in caplog.text

    verifier = app.test_client()
    sign_in(verifier, make_user(org, Role.VERIFIER).email)
    assert verifier.get("/queue/held").status_code == 404
    coordinator = app.test_client()
    assert sign_in(coordinator, make_user(org, Role.COORDINATOR).email).status_code == 302
    held = coordinator.get("/queue/held")
    assert held.status_code == 200
    html = held.get_data(as_text=True)
    db.session.rollback()
    receipt_code = db.session.scalar(select(Report.receipt_code).where(Report.id == report_id))
    assert receipt_code in html and "PoisonError" in html and CANARY not in html
    # A verifier may not retry either (with a valid CSRF token of their own session).
    verifier_token = csrf_token(verifier.get("/queue/").get_data(as_text=True))
    assert verifier.post(f"/queue/held/{public_id}/retry", data={"csrf_token": verifier_token}).status_code == 404
    assert job_of(report_id).state == JobState.DEAD
    retried = coordinator.post(f"/queue/held/{public_id}/retry", data={"csrf_token": csrf_token(html)})
    assert retried.status_code == 302
    job = job_of(report_id)
    assert job.state == JobState.PENDING and job.attempts == 0 and job.last_error is None
    assert receipt_code not in coordinator.get("/queue/held").get_data(as_text=True)

    monkeypatch.setattr(pipeline, "STEPS", [step for step in pipeline.STEPS if step is not poison])
    with app.app_context():
        process_report.run(report_id)
    job = job_of(report_id)
    assert job.state == JobState.DONE and job.attempts == 1 and job.last_error is None
    assert report_state(report_id) == ReportState.TRIAGE and triaged(report_id) == 1
    assert CANARY not in caplog.text


# ---- 6. the broker is unreachable -----------------------------------------------------------------


@pytest.mark.worker
def test_an_unreachable_broker_does_not_stop_intake(
        app: Any, app_config: dict[str, Any], reporter: Any, start_worker: StartWorker) -> None:
    """With the broker down a report is still accepted at once, by the API and by the form; once a
    worker is back, its relay and the sweep take both to triage."""
    require_postgres()
    require_redis()
    token = make_token(reporter)
    no_broker = create_app({**app_config, "BROKER_URL": "redis://127.0.0.1:1/0", "PIPELINE_DEADLINE_SECONDS": 2})
    try:
        started = time.monotonic()
        created = no_broker.test_client().post(REPORTS, json=complete_report(),
                                               headers=bearer(token, "no-broker-report-1"))
        api_elapsed = time.monotonic() - started
        browser = no_broker.test_client()
        sign_in(browser, reporter.email)
        _, csrf, submission_id = page_of(browser)
        started = time.monotonic()
        sent = browser.post("/reports/new", data=form_fields(csrf, submission_id))
        form_elapsed = time.monotonic() - started
    finally:
        db.dispose(no_broker)
    assert created.status_code == 201, created.get_data(as_text=True)
    assert sent.status_code == 302 and "/receipt" in sent.headers["Location"]
    assert api_elapsed < 8 and form_elapsed < 8, f"waited for the broker: {api_elapsed:.1f}, {form_elapsed:.1f} s"
    db.session.rollback()
    form_report = db.session.scalar(select(Report).where(Report.submission_id == submission_id))
    assert form_report is not None and form_report.state == ReportState.RECEIVED
    assert job_of(form_report.id).state == JobState.PENDING
    assert count(Submission, Submission.report_id.is_(None)) == 1  # the API's, in the journal

    worker = start_worker("broker-back-worker", wait=False)
    wait_for(lambda: form_report.id in overdue(app), timeout=30, interval=0.2)
    worker.wait_ready()
    # The sweep runs in the worker, as celery beat has it run: this (web) process still backs off
    # from the broker it saw fail, and must not be the one that recovers the report.
    app.extensions["celery"].send_task("intake.sweep")
    wait_or_explain(lambda: count(Report, Report.state == ReportState.TRIAGE) == 2, 60, worker)
    api_report = report_id_of(created.get_json()["id"])
    for report_id in (api_report, form_report.id):
        assert triaged(report_id) == 1
        assert job_of(report_id).state == JobState.DONE


# ---- 7. a report the reporter looks at right after sending it ---------------------------------------


@pytest.mark.worker
def test_a_report_polled_right_after_post_reaches_triage_without_waiting_for_the_sweep(
        app: Any, client: Any, reporter: Any, start_worker: StartWorker) -> None:
    """GET /api/v1/reports/<id> and My reports file a journalled submission in the web request; its
    pipeline is dispatched then too, so a real worker takes it to triage at once, not after
    PIPELINE_DEADLINE_SECONDS (the sweep). The worker's relay only runs when it starts here (an
    hour between passes): nothing but the web's dispatch can bring these reports to it."""
    worker = start_worker("polled-worker", RELAY_INTERVAL_SECONDS=3600, SWEEP_INTERVAL_SECONDS=3600)
    token = make_token(reporter)
    created = client.post(REPORTS, json=complete_report(), headers=bearer(token, "polled-report-0001"))
    assert created.status_code == 201
    public_id = created.get_json()["id"]
    polled = client.get(f"{REPORTS}/{public_id}", headers=bearer(token))
    assert polled.status_code == 200 and polled.get_json()["status"] == "received"

    browser = app.test_client()
    sign_in(browser, reporter.email)
    listed = client.post(REPORTS, json=complete_report(locality="Goris"), headers=bearer(token, "polled-report-0002"))
    assert listed.status_code == 201
    assert browser.get("/my-reports").status_code == 200
    assert count(Submission, Submission.report_id.is_(None)) == 0, "both were filed by the web"

    ids = [report_id_of(public_id), report_id_of(listed.get_json()["id"])]
    assert job_of(ids[0]).due_at is not None
    wait_or_explain(lambda: all(report_state(i) == ReportState.TRIAGE for i in ids), 45, worker)
    assert [triaged(i) for i in ids] == [1, 1]
    assert client.get(f"{REPORTS}/{public_id}", headers=bearer(token)).get_json()["status"] == "triage"


# ---- 8. intake serve under kill -9 of its worker's children and scheduler, and broker flushes -------


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (read from /proc: Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _celery_role(pid: int) -> str | None:
    """`worker` or `beat` for a `celery -A workers.worker …` process, else None."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    return argv[argv.index("workers.worker") + 1] if "workers.worker" in argv[:-1] else None


def _sigkill(pids: list[int]) -> list[int]:
    killed = []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    return killed


def _flush_broker(app: Any, instance_path: Path) -> None:
    """Everything the broker holds, gone: FLUSHDB on Redis, the filesystem transport's folders emptied."""
    if app.config["BROKER_URL"].startswith("redis"):
        broker = redis_client(app)
        try:
            broker.flushdb()
        finally:
            broker.close()
        return
    for folder in (instance_path / "broker").iterdir():
        for message in folder.iterdir():
            message.unlink(missing_ok=True)


def _http(method: str, url: str, token: str, body: dict[str, Any] | None = None,
          key: str | None = None) -> tuple[int, dict[str, Any]]:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={  # noqa: S310 (our server)
        **bearer(token, key), **({"Content-Type": "application/json"} if data else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


@pytest.mark.worker
def test_intake_serve_takes_every_acknowledged_report_to_triage_while_its_worker_processes_die(
        app: Any, app_config: dict[str, Any], reporter: Any, instance_path: Path) -> None:
    """The real `intake serve` (gunicorn, a Celery worker, Celery beat) with a short deadline and
    sweep interval, taking API reports (every third read back at once, so the web files it and
    sends its pipeline's message). Meanwhile the scheduler is SIGKILLed, the worker's children
    (its pool processes, and under the old `--beat` the scheduler with them) are SIGKILLed twice,
    and the broker is flushed twice (FLUSHDB on Redis; the filesystem broker's folders emptied). On
    the embedded default the worker runs solo, with no pool processes to kill (killing it stops
    `intake serve`, as the README says). Every acknowledged report reaches triage, exactly once,
    within PIPELINE_DEADLINE_SECONDS + 2 sweep intervals of the last fault (plus the time the
    worker needs to work off the backlog), and /healthz shows the sweep running again."""
    import socket

    deadline, sweep_interval = 8, 3
    backlog_allowance = 60.0  # the pipeline's own time for the ~24 reports, on a shared 2-core machine
    token = make_token(reporter)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = worker_env(app_config)
    env.update(INTAKE_PIPELINE_DEADLINE_SECONDS=str(deadline), INTAKE_SWEEP_INTERVAL_SECONDS=str(sweep_interval),
               INTAKE_PIPELINE_STEP_DELAY_SECONDS="0.2", INTAKE_PIPELINE_YIELD_ABOVE_PER_SECOND="0",
               INTAKE_BROKER_VISIBILITY_TIMEOUT="60")
    log_path = instance_path / "serve.log"
    intake = str(Path(sys.executable).parent / "intake")
    with open(log_path, "wb") as log:
        serve = subprocess.Popen([intake, "serve", "--host", "127.0.0.1", "--port", str(port), "--web-workers", "1",
                                  "--worker-nice", "0", "--no-worker-idle"],
                                 cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def serve_log() -> str:
        return log_path.read_text(errors="replace")[-6000:]

    def processes(role: str) -> list[int]:
        return [pid for pid in _children(serve.pid) if _celery_role(pid) == role]

    def worker_children() -> list[int]:
        return [child for pid in processes("worker") for child in _children(pid)]

    try:
        try:
            wait_for(lambda: serve.poll() is not None or "ready." in serve_log(), timeout=120)
        except AssertionError:
            raise AssertionError(f"intake serve did not start:\n{serve_log()}") from None
        assert serve.poll() is None, serve_log()
        acknowledged: dict[str, float] = {}
        faults: list[str] = []
        last_fault = time.monotonic()
        for number in range(24):
            status, body = _http("POST", f"{base}{REPORTS}", token, complete_report(locality=f"Village {number}"),
                                 key=f"serve-fault-{number:04d}")
            assert status == 201, (status, body)
            acknowledged[body["id"]] = time.monotonic()
            if number % 3 == 0:
                assert _http("GET", f"{base}{REPORTS}/{body['id']}", token)[0] == 200
            fault = {4: "scheduler", 8: "children", 12: "flush", 16: "scheduler+children", 20: "flush"}.get(number)
            if fault:
                if "scheduler" in fault:
                    faults.append(f"scheduler {_sigkill(processes('beat'))}")
                if "children" in fault:
                    faults.append(f"worker children {_sigkill(worker_children())}")
                if fault == "flush":
                    _flush_broker(app, instance_path)
                    faults.append("broker flushed")
                last_fault = time.monotonic()
            time.sleep(0.4)
        assert serve.poll() is None, f"intake serve stopped:\n{serve_log()}"

        bound = max(last_fault, *acknowledged.values()) + deadline + 2 * sweep_interval + backlog_allowance

        def left() -> list[str]:
            db.session.rollback()
            in_triage = set(db.session.scalars(select(Report.public_id).where(
                Report.public_id.in_(acknowledged), Report.state == ReportState.TRIAGE)))
            return [public_id for public_id in acknowledged if public_id not in in_triage]

        while left() and time.monotonic() < bound:
            time.sleep(0.5)
        stuck = left()
        if stuck:
            db.session.rollback()
            jobs = db.session.execute(select(Report.public_id, PipelineJob.state, PipelineJob.attempts)
                                      .join(PipelineJob).where(Report.public_id.in_(stuck))).all()
            raise AssertionError(
                f"{len(stuck)} of {len(acknowledged)} acknowledged reports not in triage "
                f"{bound - last_fault:.0f} s after the last fault ({faults}); "
                f"{len(stuck) - len(jobs)} not filed; jobs {[(j.state.value, j.attempts) for j in jobs]}\n"
                f"{serve_log()}")
        ids = [report_id_of(public_id) for public_id in acknowledged]
        assert [triaged(i) for i in ids] == [1] * len(ids)
        assert count(Submission, Submission.report_id.is_(None)) == 0
        assert count(PipelineJob, PipelineJob.state != JobState.DONE) == 0
        assert serve.poll() is None, serve_log()
        # The scheduler was started again and its sweep runs: /healthz says so.
        assert "scheduler (celery beat) stopped (killed by SIGKILL); starting it again" in log_path.read_text()
        checks = wait_for(lambda: (c := _http("GET", f"{base}/healthz", token)[1].get("checks", {}))
                          .get("sweep", {}).get("last_run_seconds_ago") is not None and c, timeout=30)
        assert checks["sweep"]["ok"] is True and checks["sweep"]["stale"] is False, checks
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(timeout=40)
            except subprocess.TimeoutExpired:
                pass
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait(timeout=30)
