"""A reporter learns of a verifier's question: first on *My reports* and in the menu, and, if they
asked for it, by an e-mail or a webhook notice that carries nothing of the report."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from intake import notices
from intake.extensions import db
from intake.models import InfoRequest
from tests.conftest import ROOT, csrf_token, sign_in, wait_for, worker_env
from tests.test_verify import triaged_report
from tests.test_workflow import act, claimed

QUESTION = "Which street was the second strike on, and did anyone see the drone?"
PUBLIC_URL = "https://intake.example.org"
SECRET = "webhook-secret-" + "s" * 24


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reporter_browser(app: Any, reporter: Any) -> Any:
    browser = app.test_client()
    assert sign_in(browser, reporter.email).status_code == 302
    return browser


def opt_in(browser: Any) -> None:
    token = csrf_token(browser.get("/my-reports").get_data(as_text=True))
    assert browser.post("/my-reports/notices", data={"csrf_token": token, "notify": "on"}).status_code == 302


# ---- My reports and the menu ----------------------------------------------------------------------


def test_waiting_reports_come_first_and_the_menu_counts_them(app: Any, org: Any, reporter: Any,
                                                             verifier: Any) -> None:
    asked, browser = claimed(app, reporter, verifier, locality="Khndzoresk")
    newer = triaged_report(app, reporter, locality="Berkaber")
    me = reporter_browser(app, reporter)
    page = me.get("/my-reports").get_data(as_text=True)
    assert "My reports (1 question to answer)" not in page
    assert page.index(newer.receipt_code) < page.index(asked.receipt_code)
    assert act(browser, asked, "question", "question", question=QUESTION).status_code == 302
    page = me.get("/my-reports").get_data(as_text=True)
    assert "My reports (1 question to answer)" in page  # the menu, on every page
    assert "My reports (1 question to answer)" in me.get("/reports/new").get_data(as_text=True)
    assert page.index(asked.receipt_code) < page.index(newer.receipt_code)  # waiting first, though older
    # No notice is offered on an instance that has no way to send one.
    assert "Tell me" not in page
    assert me.post("/my-reports/notices", data={"csrf_token": csrf_token(page), "notify": "on"}).status_code == 400


# ---- notices through the real worker --------------------------------------------------------------


class Mailbox:
    """What a real local SMTP server (aiosmtpd) received."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802  (aiosmtpd's name)
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


class Hook:
    """A local webhook receiver: answers 500 to the first call (the worker must retry), then 200."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, str]] = []


@pytest.fixture
def webhook() -> Iterator[tuple[str, Hook]]:
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.calls.append((body, self.headers.get(notices.SIGNATURE_HEADER, "")))
            self.send_response(500 if len(hook.calls) == 1 else 204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", hook
    finally:
        server.shutdown()
        server.server_close()


NOTICE_SETTINGS = ("PUBLIC_URL", "SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_FROM", "NOTIFY_WEBHOOK_URL",
                   "NOTIFY_WEBHOOK_SECRET", "NOTIFY_RETRY_SECONDS")


@pytest.fixture
def app_config(app_config: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    """The suite's settings; for a test that runs the SMTP server, notices by e-mail and webhook too."""
    if "smtp_server" not in request.fixturenames:
        return app_config
    smtp_port, _ = request.getfixturevalue("smtp_server")
    url, _ = request.getfixturevalue("webhook")
    return {**app_config, "PUBLIC_URL": PUBLIC_URL, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_port,
            "SMTP_SECURITY": "none", "SMTP_FROM": "intake@example.org", "NOTIFY_WEBHOOK_URL": url,
            "NOTIFY_WEBHOOK_SECRET": SECRET, "NOTIFY_RETRY_SECONDS": 1}


@pytest.fixture
def notice_worker(app: Any, app_config: dict[str, Any], instance_path: Path) -> Iterator[Path]:
    """A real Celery worker (as tests.conftest.worker) that has the notice settings in its environment."""
    env = worker_env(app_config)
    env.update({f"INTAKE_{name}": str(app_config[name]) for name in NOTICE_SETTINGS})
    log_path = instance_path / "worker.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.worker", "worker", "--pool", "solo", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--hostname", "notice-worker@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # Slow to start on a busy machine: it builds the anonymizer's models before it is ready.
        wait_for(lambda: b"ready." in log_path.read_bytes() or process.poll() is not None, timeout=180)
        assert process.poll() is None, log_path.read_text()[-3000:]
        yield log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.worker
def test_notice_by_email_and_webhook_says_only_that_a_question_waits(
        app: Any, org: Any, reporter: Any, verifier: Any, smtp_server: tuple[int, Mailbox],
        webhook: tuple[str, Hook], notice_worker: Path) -> None:
    """The reporter opts in on My reports; the verifier's question reaches a real SMTP server as an
    e-mail to the account address, and the webhook (signed; its first answer, a 500, is retried),
    through the real worker. Neither carries the question, the narrative, a name or a place; the
    worker's log has no address."""
    _, mailbox = smtp_server
    _, hook = webhook
    me = reporter_browser(app, reporter)
    assert "Tell me by e-mail" in me.get("/my-reports").get_data(as_text=True)
    opt_in(me)
    report, browser = claimed(app, reporter, verifier, locality="Khndzoresk")
    assert act(browser, report, "question", "question", question=QUESTION).status_code == 302

    wait_for(lambda: mailbox.messages and len(hook.calls) >= 2, timeout=60)
    envelope = mailbox.messages[0]
    assert envelope.rcpt_tos == [reporter.email]
    mail = envelope.content.decode()
    assert f"{PUBLIC_URL}/my-reports" in mail and "Subject: A question waits for you" in mail
    body, signature = hook.calls[-1]
    assert signature == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    event = json.loads(body)
    assert event["event"] == "question.waiting" and event["url"] == f"{PUBLIC_URL}/my-reports"
    assert event["user"] == reporter.public_id
    for secret in ("Khndzoresk", "second strike", report.public_id, report.receipt_code,
                   *[victim.name for victim in report.victims if victim.name]):
        assert secret not in mail and secret not in body.decode(), secret
    # Sent once: noted on the question, and the same task run again sends nothing more.
    wait_for(lambda: db.session.scalar(select(InfoRequest.notified_at)) is not None, timeout=30)
    db.session.remove()
    assert len(mailbox.messages) == 1
    log = notice_worker.read_text()
    assert "notice not sent (HTTPError); try 1 of 9" in log and "notice sent (webhook+e-mail)" in log
    assert reporter.email not in log and "@example.org" not in log.replace("intake@example.org", "")


def test_no_notice_without_the_reporters_consent(app: Any, org: Any, reporter: Any, verifier: Any,
                                                 smtp_server: tuple[int, Mailbox]) -> None:
    """A question to a reporter who did not opt in owes no notice, nor does one already answered."""
    report, browser = claimed(app, reporter, verifier)
    assert act(browser, report, "question", "question", question=QUESTION).status_code == 302
    with app.app_context():
        request_id = db.session.scalar(select(InfoRequest.id))
        assert notices.notice_due(db.session, app.config, request_id) is None
        db.session.rollback()
    opt_in(reporter_browser(app, reporter))
    with app.app_context():
        due = notices.notice_due(db.session, app.config, request_id)
        assert due is not None and due.email == reporter.email and due.webhook
        notices.mark_sent(db.session, request_id)
        db.session.commit()
        assert notices.notice_due(db.session, app.config, request_id) is None


@pytest.mark.worker
def test_a_notice_lost_with_the_broker_is_sent_by_the_sweep(
        app: Any, org: Any, reporter: Any, verifier: Any, smtp_server: tuple[int, Mailbox],
        webhook: tuple[str, Hook], notice_worker: Path) -> None:
    """A question asked while the web process sees the broker down queues no notice; once the notice
    is overdue, the sweep (run by the worker, as beat has it) queues it again and the reporter is told,
    once; a sweep after that owes nothing."""
    from intake import dispatch

    _, mailbox = smtp_server
    me = reporter_browser(app, reporter)
    opt_in(me)
    report, browser = claimed(app, reporter, verifier, locality="Khndzoresk")
    dispatch._broker_down_until = time.monotonic() + 3600  # as after a failed send: the web process backs off
    try:
        assert act(browser, report, "question", "question", question=QUESTION).status_code == 302
    finally:
        dispatch._broker_down_until = 0.0
    time.sleep(3)
    assert mailbox.messages == [] and db.session.scalar(select(InfoRequest.notified_at)) is None
    with app.app_context():
        assert notices.owed(db.session, app.config) == [], "not yet overdue: its message may still be on its way"
        db.session.rollback()
    asked = db.session.scalar(select(InfoRequest.asked_at))
    db.session.execute(update(InfoRequest).values(asked_at=asked - dt.timedelta(minutes=20)))
    db.session.commit()

    app.extensions["celery"].send_task("intake.sweep")
    wait_for(lambda: len(mailbox.messages) == 1, timeout=60)
    assert mailbox.messages[0].rcpt_tos == [reporter.email]
    wait_for(lambda: db.session.scalar(select(InfoRequest.notified_at)) is not None, timeout=30)
    db.session.remove()
    log = notice_worker.read_text()
    assert "sweep: 1 question notice(s) owed, 1 queued again" in log
    app.extensions["celery"].send_task("intake.sweep")
    time.sleep(5)
    assert len(mailbox.messages) == 1, "told once"
    assert reporter.email not in log


def test_an_owed_notice_is_queued_again_at_most_once_per_resend_interval(
        app: Any, org: Any, reporter: Any, verifier: Any, smtp_server: tuple[int, Mailbox]) -> None:
    opt_in(reporter_browser(app, reporter))
    report, browser = claimed(app, reporter, verifier)
    assert act(browser, report, "question", "question", question=QUESTION).status_code == 302
    with app.app_context():
        asked = db.session.scalar(select(InfoRequest.asked_at))
        later = asked + dt.timedelta(minutes=16)
        request_id = db.session.scalar(select(InfoRequest.id))
        assert notices.owed(db.session, app.config, now=later) == [request_id]
        db.session.commit()
        assert notices.owed(db.session, app.config, now=later + dt.timedelta(hours=1)) == []
        assert notices.owed(db.session, app.config, now=later + dt.timedelta(hours=3, minutes=1)) == [request_id]
        db.session.commit()
        # A week after the question, it only waits on My reports.
        assert notices.owed(db.session, app.config, now=asked + dt.timedelta(days=7, minutes=1)) == []
        notices.mark_sent(db.session, request_id)
        db.session.commit()
        assert notices.owed(db.session, app.config, now=later + dt.timedelta(hours=7)) == []
