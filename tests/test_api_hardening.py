"""The API under abuse (issue 12, items 15, 17 and 18): files only while a report is open to them,
the bearer token before the body, a JSON body far below the upload cap, and rate limits and quotas
that a real field team never meets, answered 429 with Retry-After."""

from __future__ import annotations

import contextlib
import io
import socket
import time
from collections.abc import Iterator
from pathlib import Path
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
    """A report a verifier took up (in review, verified, rejected …), or one waiting in triage for longer
    than the filing window, takes no new file: 409 with a clear message, nothing stored."""
    import datetime as dt

    token = make_token(reporter)
    report = triaged_report(app, reporter)
    client = app.test_client()
    late = report.received_at - dt.timedelta(seconds=app.config["ATTACHMENT_WINDOW_SECONDS"] + 60)
    for state, received_at in ((ReportState.IN_REVIEW, report.received_at), (ReportState.VERIFIED, report.received_at),
                               (ReportState.REJECTED, report.received_at), (ReportState.DUPLICATE, report.received_at),
                               (ReportState.TRIAGE, late)):
        db.session.execute(update(Report).where(Report.id == report.id).values(state=state, received_at=received_at))
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

    # Waiting in triage, nobody has taken it up, within the filing window: the files that follow a
    # report on a slow link are still part of its filing.
    waiting = triaged_report(app, reporter)
    assert upload(client, token, waiting.public_id, jpeg_bytes((36, 36))).status_code == 201

    # Answering a question: accepted, audited, and on the verifiers' timeline.
    report, browser = claimed(app, reporter, verifier)
    assert act(browser, report, "question", "question", question=QUESTION).status_code == 302
    late = upload(client, token, report.public_id, jpeg_bytes((40, 30)))
    assert late.status_code == 201, late.get_json()
    assert _attachments_of(report) == 1
    (entry,) = _audited(report, "report.attachment_added")
    assert entry.detail["attachment"] == late.get_json()["id"] and entry.detail["state"] == "needs_info"
    html = page_of(signed_in(app, verifier), report)
    assert "File added by the reporter after the report reached the verifiers" in html and "image/jpeg" in html


# ---- item 17: the token before the body, a JSON cap, and idle clients ------------------------------


class CountingStream(io.BytesIO):
    """A request body that records how much of it the app read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.data, self.read_bytes = data, 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.read_bytes += len(chunk)
        return chunk

    def read1(self, size: int | None = -1) -> bytes:
        return self.read(size)

    def readline(self, size: int | None = -1) -> bytes:
        chunk = super().readline(size)
        self.read_bytes += len(chunk)
        return chunk

    def readinto(self, buffer: Any) -> int:
        count = super().readinto(buffer)
        self.read_bytes += count
        return count


def _post_stream(client: Any, stream: CountingStream, token: str | None, *, length: bool = True) -> Any:
    headers = {"Idempotency-Key": "key-stream-01", "Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    overrides = {} if length else {"wsgi.input_terminated": True}
    return client.post(REPORTS, input_stream=stream, content_length=len(stream.data) if length else None,
                       headers=headers, environ_overrides=overrides)


def test_an_unknown_token_is_refused_before_the_body_is_read(app: Any, org: Any, reporter: Any) -> None:
    """401 for a missing, malformed or unknown token and 404 for one that may not submit, with nothing read."""
    from intake.enums import Role
    from tests.conftest import make_user

    client = app.test_client()
    body = json_body(complete_report())
    admin_token = make_token(make_user(org, Role.ADMIN))
    for token, status in ((None, 401), ("x", 401), ("intake_" + "A" * 40, 401), (admin_token, 404)):
        stream = CountingStream(body)
        response = _post_stream(client, stream, token)
        assert response.status_code == status, (token, response.get_json())
        assert stream.read_bytes == 0, token
    # A valid token's report is read and accepted as before.
    stream = CountingStream(body)
    assert _post_stream(client, stream, make_token(reporter)).status_code == 201
    assert stream.read_bytes == len(body)


def json_body(report: dict[str, Any], pad: int = 0) -> bytes:
    import json

    if pad:
        report = {**report, "narrative": "x" * pad}
    return json.dumps(report).encode()


def test_a_json_body_over_the_cap_is_refused_413_without_being_parsed(app: Any, reporter: Any) -> None:
    token = make_token(reporter)
    client = app.test_client()
    cap = app.config["API_MAX_JSON_BYTES"]
    assert cap <= 1024 * 1024 < app.config["MAX_CONTENT_LENGTH"] // 50
    big = json_body(complete_report(), pad=cap)
    # Announced by Content-Length: refused before a byte is read.
    stream = CountingStream(big)
    response = _post_stream(client, stream, token)
    assert response.status_code == 413 and stream.read_bytes == 0
    assert response.get_json()["error"] == "too_large" and response.get_json()["max_bytes"] == cap
    # Sent without a length (chunked): refused once the cap is passed, not read to the end.
    stream = CountingStream(big)
    response = _post_stream(client, stream, token, length=False)
    assert response.status_code == 413, response.get_data()
    assert stream.read_bytes <= cap + 64 * 1024
    # A report at the schema's limits still fits.
    assert _post_stream(client, CountingStream(json_body(complete_report(), pad=50_000)), token).status_code == 201


# ---- item 15: reports per token and per user, bytes per user and day ------------------------------------


def _submit(client: Any, token: str, key: str) -> Any:
    return client.post(REPORTS, json=complete_report(), headers={**bearer(token), "Idempotency-Key": key})


def test_reports_per_token_and_per_user_are_limited_with_retry_after(app: Any, reporter: Any) -> None:
    app.config.update(API_REPORTS_PER_TOKEN="3 per minute", REPORTS_PER_USER="5 per minute")
    client = app.test_client()
    first, second = make_token(reporter), make_token(reporter)
    assert [_submit(client, first, f"key-tok1-{i:04}").status_code for i in range(3)] == [201] * 3
    refused = _submit(client, first, "key-tok1-0003")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.get_json()["error"] == "too_many_requests"
    # Another token of the same user has its own count, up to the user's.
    assert [_submit(client, second, f"key-tok2-{i:04}").status_code for i in range(2)] == [201] * 2
    assert _submit(client, second, "key-tok2-0002").status_code == 429
    db.session.remove()
    from intake.models import Submission

    assert db.session.scalar(select(func.count()).select_from(Submission)) == 5


def test_the_defaults_leave_a_field_team_alone(app: Any) -> None:
    from intake.quotas import limits_of

    per_token = {item.get_expiry(): item.amount for item in limits_of(app.config, "API_REPORTS_PER_TOKEN")}
    per_user = {item.get_expiry(): item.amount for item in limits_of(app.config, "REPORTS_PER_USER")}
    assert per_token[60] >= 60 and per_token[3600] >= 600 and per_user[60] >= per_token[60]
    assert app.config["UPLOAD_BYTES_PER_USER_PER_DAY"] >= 40 * app.config["MAX_REPORT_BYTES"]


def test_bytes_uploaded_per_user_and_day_are_limited(app: Any, reporter: Any) -> None:
    token = make_token(reporter)
    client = app.test_client()
    photos = [jpeg_bytes((60 + i, 40)) for i in range(3)]
    app.config["UPLOAD_BYTES_PER_USER_PER_DAY"] = len(photos[0]) + len(photos[1]) + 10
    created = _submit(client, token, "key-bytes-001")
    public_id = created.get_json()["id"]
    assert upload(client, token, public_id, photos[0]).status_code == 201
    assert upload(client, token, public_id, photos[1]).status_code == 201
    refused = upload(client, token, public_id, photos[2])
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "bytes" in refused.get_json()["message"]
    report = db.session.scalar(select(Report).where(Report.public_id == public_id))
    assert _attachments_of(report) == 2


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _gunicorn(app_config: dict[str, Any], instance_path: Any, **env: str) -> Iterator[tuple[int, Path]]:
    """Real gunicorn as `intake serve` runs it (two worker processes), answering /sign-in; yields its
    port and the path of its log (stdout and stderr)."""
    import subprocess
    import sys

    from intake.cli import web_command
    from tests.conftest import ROOT, wait_for, worker_env

    port = _free_port()
    log_path = instance_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(web_command(Path(sys.executable).parent, "127.0.0.1", port, 2), cwd=ROOT,
                                  env={**worker_env(app_config), **env}, stdout=log, stderr=subprocess.STDOUT)

    def answers() -> bool:
        try:
            return _sign_in_page(port, 2) == 200
        except OSError:
            return False

    try:
        wait_for(answers, timeout=60)
        yield port, log_path
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _sign_in_page(port: int, timeout: float) -> int:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/sign-in")
        return connection.getresponse().status
    finally:
        connection.close()


def test_idle_clients_do_not_occupy_every_web_worker(app: Any, app_config: dict[str, Any], reporter: Any,
                                                     instance_path: Any) -> None:
    """Connections that send part of their headers, or headers announcing a body that never comes,
    and then nothing: with fewer of them than threads, /sign-in still answers at once."""
    token = make_token(reporter)
    idle: list[socket.socket] = []
    with _gunicorn(app_config, instance_path) as (port, _log):
        try:
            for index in range(4):
                sock = socket.create_connection(("127.0.0.1", port))
                if index % 2:
                    sock.sendall(b"GET /sign-in HTTP/1.1\r\nHost: x\r\n")  # headers never finished
                else:
                    sock.sendall(f"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                 f"Authorization: Bearer {token}\r\nContent-Length: 5000\r\n\r\n{{".encode())
                idle.append(sock)
            time.sleep(1.0)  # every idle connection has reached a worker
            started = time.monotonic()
            assert _sign_in_page(port, 10) == 200
            assert time.monotonic() - started < 5
        finally:
            for sock in idle:
                sock.close()


READ_TIMEOUT = 2.0


def _answer_of(sock: socket.socket, deadline: float) -> bytes | None:
    """What the server sent on `sock` before closing it, or None if it had not closed it by `deadline`."""
    received = b""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return None
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data
    return None


def test_stalled_clients_are_cut_off_after_the_read_timeout(app: Any, app_config: dict[str, Any], reporter: Any,
                                                            instance_path: Any) -> None:
    """Stalled connections (QA's, found with 2 × 8 threads, now 2 × 32: 48 that send half their headers, 16
    that announce a sign-in form and send none of it; and API requests that stop after a byte of their
    JSON, or in the middle of a file going to the sealed spool) each hold a thread for one read
    timeout: the server closes every one of them, and /sign-in answers again. The stalled bodies are
    answered 408, the headers not at all; nothing of the requests is logged or stored, and no
    traceback."""
    token = make_token(reporter)
    half_headers = b"GET /sign-in HTTP/1.1\r\nHost: x\r\n"
    no_form = (b"POST /sign-in HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
               b"Content-Length: 100\r\n\r\n")
    half_json = (f"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Authorization: Bearer {token}\r\nIdempotency-Key: key-stalled-0001\r\n"
                 f"Content-Length: 5000\r\n\r\n{{\"narrative\": \"Secret-Narrative-Words").encode()
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    public_id = _submit(app.test_client(), token, "key-spooled-001").get_json()["id"]
    boundary, upload_body = encode_multipart(
        {"file": FileStorage(io.BytesIO(jpeg_bytes() + bytes(700_000)), filename="photo.jpg")})
    half_upload = (f"POST {REPORTS}/{public_id}/attachments HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
                   f"Content-Length: {len(upload_body)}\r\n\r\n").encode() + upload_body[:200_000]
    stalled: list[tuple[bytes, socket.socket]] = []
    with _gunicorn(app_config, instance_path, INTAKE_WEB_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT)) as (port, log):
        try:
            for payload in [half_headers] * 48 + [no_form] * 16 + [half_json, half_upload] * 2:
                sock = socket.create_connection(("127.0.0.1", port))
                sock.sendall(payload)
                stalled.append((payload, sock))
            started = time.monotonic()
            # 68 connections, more than the 2 × 32 threads: each thread frees itself after READ_TIMEOUT
            # and takes the next; without the read timeout none is ever closed.
            deadline = started + 4 * 5 * READ_TIMEOUT
            answers = [(payload, _answer_of(sock, deadline)) for payload, sock in stalled]
            assert all(answer is not None for _payload, answer in answers), (
                "stalled connections left open", [p[:20] for p, a in answers if a is None], log.read_text()[-3000:])
            elapsed = time.monotonic() - started
            assert elapsed >= READ_TIMEOUT * 0.9  # a thread read for the whole timeout before giving up
            for payload, answer in answers:
                assert answer is not None
                if payload is half_headers:
                    assert answer == b""
                else:
                    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
                    assert b"Connection: close" in answer
                    if payload is not no_form:
                        assert b'"error":"request_timeout"' in answer.replace(b" ", b"")
            started = time.monotonic()
            assert _sign_in_page(port, 10) == 200
            assert time.monotonic() - started < 2
        finally:
            for _payload, sock in stalled:
                sock.close()
        text = log.read_text()
        assert "Traceback" not in text and "Error handling request" not in text and "Socket error" not in text
        assert "Secret-Narrative-Words" not in text and "/sign-in" not in text
    report = db.session.scalar(select(Report).where(Report.public_id == public_id))
    assert report is not None and _attachments_of(report) == 0  # the half-sent file (in the sealed spool) left nothing


def test_a_slow_client_that_keeps_sending_is_never_cut_off(app: Any, app_config: dict[str, Any], reporter: Any,
                                                           instance_path: Any) -> None:
    """The read timeout bounds each read, not the request: a report's JSON trickling in at 2 KB/s (a
    phone on a 2G link) for three times the timeout is received and accepted."""
    import json

    token = make_token(reporter)
    body = json.dumps(complete_report(narrative="At dawn a drone struck the bakery queue. " * 300)).encode()
    assert len(body) >= 12_000
    with _gunicorn(app_config, instance_path, INTAKE_WEB_READ_TIMEOUT_SECONDS=str(READ_TIMEOUT)) as (port, _log):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            started = time.monotonic()
            sock.sendall(f"POST {REPORTS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         f"Authorization: Bearer {token}\r\nIdempotency-Key: key-trickle-0001\r\n"
                         f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n".encode())
            for offset in range(0, len(body), 500):
                time.sleep(0.25)
                sock.sendall(body[offset:offset + 500])
            assert time.monotonic() - started > 3 * READ_TIMEOUT
            answer = _answer_of(sock, time.monotonic() + 30)
    assert answer is not None and answer.startswith(b"HTTP/1.1 201 "), (answer or b"")[:300]


def test_the_read_timeout_comes_from_the_environment() -> None:
    import pytest

    from intake.serving import DEFAULT_READ_TIMEOUT_SECONDS, read_timeout_seconds

    assert read_timeout_seconds({}) == DEFAULT_READ_TIMEOUT_SECONDS == 15
    assert read_timeout_seconds({"INTAKE_WEB_READ_TIMEOUT_SECONDS": " 2.5 "}) == 2.5
    for wrong in ("0", "-1", "abc", "7200"):
        with pytest.raises(RuntimeError, match="INTAKE_WEB_READ_TIMEOUT_SECONDS"):
            read_timeout_seconds({"INTAKE_WEB_READ_TIMEOUT_SECONDS": wrong})


def test_the_form_shares_the_per_user_limit_and_the_byte_quota(app: Any, reporter_client: Any) -> None:
    """The web form counts against the same per-user limits, and keeps what was typed when refused."""
    from tests.test_field import form_fields, page_of, photo, report_count

    app.config.update(REPORTS_PER_USER="2 per minute")
    for _round in range(2):
        _, token, submission_id = page_of(reporter_client)
        assert reporter_client.post("/reports/new", data=form_fields(token, submission_id)).status_code == 302
    _, token, submission_id = page_of(reporter_client)
    refused = reporter_client.post("/reports/new", data=form_fields(token, submission_id, locality="Zolote"))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    html = refused.get_data(as_text=True)
    assert "more reports in a short time than the server accepts" in html and 'value="Zolote"' in html
    assert report_count() == 2

    app.config.update(REPORTS_PER_USER="", UPLOAD_BYTES_PER_USER_PER_DAY=len(jpeg_bytes()) + 10)
    _, token, submission_id = page_of(reporter_client)
    data = form_fields(token, submission_id, latitude="123", **{"attachments-0-file": photo("one.jpg")})
    assert reporter_client.post("/reports/new", data=data, content_type="multipart/form-data").status_code == 422
    _, token, submission_id = page_of(reporter_client)
    data = form_fields(token, submission_id, **{"attachments-0-file": photo("two.jpg", jpeg_bytes((70, 50)))})
    response = reporter_client.post("/reports/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "two.jpg was not accepted: this account has uploaded as much as it may in one day" in \
        response.get_data(as_text=True)


def test_an_answers_files_count_against_the_byte_quota(app: Any, reporter: Any, verifier: Any) -> None:
    from tests.conftest import csrf_token, post_multipart
    from tests.test_workflow import ANSWER

    report, browser = claimed(app, reporter, verifier)
    assert act(browser, report, "question", "question", question=QUESTION).status_code == 302
    app.config["UPLOAD_BYTES_PER_USER_PER_DAY"] = 100
    mine = signed_in(app, reporter)
    token = csrf_token(mine.get(f"/reports/{report.public_id}/answer").get_data(as_text=True))
    refused = post_multipart(mine, f"/reports/{report.public_id}/answer",
                             {"csrf_token": token, "answer": ANSWER, "files": (io.BytesIO(jpeg_bytes()), "fin.jpg")})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "fin.jpg was not accepted: this account has uploaded as much as it may in one day" in html
    assert ANSWER in html and _attachments_of(report) == 0


def test_an_answer_file_the_report_already_has_is_said_not_silently_dropped(app: Any, reporter: Any,
                                                                            verifier: Any) -> None:
    """The same photo sent again with an answer is not stored twice; the reporter is told so, since
    the verifier will not see a new file."""
    from tests.conftest import csrf_token, post_multipart
    from tests.test_workflow import ANSWER

    report, browser = claimed(app, reporter, verifier)
    assert act(browser, report, "question", "question", question=QUESTION).status_code == 302
    mine = signed_in(app, reporter)
    same = jpeg_bytes((44, 33))
    token = csrf_token(mine.get(f"/reports/{report.public_id}/answer").get_data(as_text=True))
    sent = post_multipart(mine, f"/reports/{report.public_id}/answer",
                          {"csrf_token": token, "answer": ANSWER,
                           "files": [(io.BytesIO(same), "tail.jpg"), (io.BytesIO(same), "tail-again.jpg")]})
    assert sent.status_code == 302
    assert _attachments_of(report) == 1
    page = mine.get(sent.headers["Location"]).get_data(as_text=True)
    assert "\u2068tail-again.jpg\u2069 is already part of this report" in page  # isolated in any direction
    assert "tail.jpg is already" not in page
