"""Resumable uploads (tus 1.0.0) against a real server, with a real tus client (tuspy).

A report is filed over the API; its photo then arrives in pieces through `/api/v1/uploads`, across
a connection cut mid-body and a server restart, and appears on the report with its SHA-256.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select, update
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.uploader import Uploader
from werkzeug.serving import make_server

from intake import create_app
from intake.enums import Role
from intake.extensions import db
from intake.models import Attachment, Organisation, PipelineJob, ResumableUpload, User, utcnow
from tests.conftest import (
    ROOT,
    complete_report,
    csrf_token,
    make_org,
    make_token,
    make_user,
    sign_in,
    wait_for,
    worker_env,
)

TUS = {"Tus-Resumable": "1.0.0"}


class Sha256Uploader(Uploader):
    """tuspy sends sha1 checksums by default; this server takes sha256 only."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


# ---- a live server ------------------------------------------------------------------------------


class Live:
    """The app served on 127.0.0.1 from a thread; `restart` serves a freshly created app on the
    same port (nothing of the first one's memory survives), `patches` the Upload-Offset of every
    PATCH as it arrived."""

    def __init__(self, app: Any, app_config: dict[str, Any]) -> None:
        self.app = app
        self.app_config = app_config
        self.patches: list[int] = []
        self.port = 0
        self._serve()

    def _serve(self) -> None:
        def recorded(environ: dict[str, Any], start_response: Any) -> Any:
            if environ["REQUEST_METHOD"] == "PATCH":
                self.patches.append(int(environ.get("HTTP_UPLOAD_OFFSET", "-1")))
            return self.app(environ, start_response)

        self.server = make_server("127.0.0.1", self.port, recorded, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, name="tus-server", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()

    def restart(self) -> None:
        self.stop()
        db.session.remove()
        self.app = create_app(self.app_config)
        self._serve()


@pytest.fixture
def live(app: Any, app_config: dict[str, Any]) -> Iterator[Live]:
    server = Live(app, app_config)
    try:
        yield server
    finally:
        server.stop()


class CuttingProxy:
    """A TCP relay to the server that cuts the first PATCH's connection after `cut_after` bytes
    of it have gone through: the link dropping mid-photo."""

    def __init__(self, target_port: int, cut_after: int) -> None:
        self.target_port = target_port
        self.cut_after = cut_after
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(downstream,), daemon=True).start()

    def _relay(self, downstream: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))

        def back() -> None:
            try:
                while data := upstream.recv(65536):
                    downstream.sendall(data)
            except OSError:
                pass
            finally:
                downstream.close()

        threading.Thread(target=back, daemon=True).start()
        sent = 0
        cutting = False
        try:
            while data := downstream.recv(65536):
                if sent == 0 and data.startswith(b"PATCH") and self.cuts == 0:
                    cutting = True
                if cutting and sent + len(data) >= self.cut_after:
                    upstream.sendall(data[: self.cut_after - sent])
                    self.cuts += 1
                    break
                upstream.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for end in (upstream, downstream):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()

    def close(self) -> None:
        self._stopped = True
        self.listener.close()


# ---- helpers ------------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def photo(canary: str = "", size: tuple[int, int] = (640, 480)) -> bytes:
    """A real JPEG of noise (so it does not compress to nothing), with `canary` in its EXIF."""
    from PIL import Image

    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    exif = image.getexif()
    if canary:
        exif[0x010E] = canary  # ImageDescription
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


def file_report(base_url: str, token: str) -> str:
    response = requests.post(f"{base_url}/api/v1/reports", json=complete_report(),
                             headers={**bearer(token), "Idempotency-Key": secrets.token_hex(8)}, timeout=30)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def uploader(base_url: str, token: str, data: bytes, report: str, **kwargs: Any) -> Sha256Uploader:
    client = tus_client.TusClient(f"{base_url}/api/v1/uploads", headers=bearer(token))
    return Sha256Uploader(file_stream=io.BytesIO(data), client=client,
                          metadata={"filename": "crater.jpg", "report": report}, **kwargs)


def attachments(base_url: str, token: str, report: str) -> list[dict[str, Any]]:
    response = requests.get(f"{base_url}/api/v1/reports/{report}", headers=bearer(token), timeout=30)
    assert response.status_code == 200, response.text
    return list(response.json()["attachments"])


def files_under(folder: Path) -> Iterator[Path]:
    return (path for path in folder.rglob("*") if path.is_file())


def no_file_holds(folder: Path, needle: bytes) -> bool:
    return not any(needle in path.read_bytes() for path in files_under(folder))


@pytest.fixture
def token(app: Any) -> str:
    with app.app_context():
        org = make_org()
        return make_token(make_user(org, Role.REPORTER))


# ---- the protocol, with a real client -------------------------------------------------------------


def test_a_photo_sent_in_pieces_with_checksums_arrives_whole_with_its_sha256(live: Live, token: str) -> None:
    data = photo()
    report = file_report(live.url, token)
    sender = uploader(live.url, token, data, report, chunk_size=100_000, upload_checksum=True)
    sender.upload()
    assert len(live.patches) == -(-len(data) // 100_000) >= 3
    files = attachments(live.url, token, report)
    assert [(f["sha256"], f["size"], f["media_type"]) for f in files] == [
        (hashlib.sha256(data).hexdigest(), len(data), "image/jpeg")]
    with live.app.app_context():
        # Stored as the attachment endpoint stores a file: owed its inspection in the same transaction.
        attachment = db.session.scalar(select(Attachment))
        assert attachment is not None and attachment.original_filename == "crater.jpg"
        job = db.session.scalar(select(PipelineJob).where(PipelineJob.report_id == attachment.report_id))
        assert job is not None and job.generation >= 2
        upload = db.session.scalar(select(ResumableUpload))
        assert upload is not None and upload.status == "complete" and upload.attachment_id == attachment.id
    # The partial file went with completion; HEAD still tells a client that all of it arrived.
    assert not list((Path(live.app.config["UPLOAD_PATH"]) / "partial").iterdir())
    head = requests.head(sender.url, headers={**TUS, **bearer(token)}, timeout=30)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == str(len(data))
    assert head.headers["Intake-Attachment"] == files[0]["id"]


def test_metadata_gives_the_file_its_description_and_time_taken(live: Live, token: str) -> None:
    """`description` and `captured_at` in Upload-Metadata, as the attachment endpoint's form fields
    (the web form's rows send them so)."""
    data = photo()
    report = file_report(live.url, token)
    client = tus_client.TusClient(f"{live.url}/api/v1/uploads", headers=bearer(token))
    Sha256Uploader(file_stream=io.BytesIO(data), client=client, chunk_size=200_000, metadata={
        "filename": "crater.jpg", "report": report, "description": "The crater, from the north",
        "captured_at": "2026-03-01T14:30"}).upload()
    [stored] = attachments(live.url, token, report)
    assert stored["captured_at"].startswith("2026-03-01T14:30")
    with live.app.app_context():
        attachment = db.session.scalar(select(Attachment))
        assert attachment is not None and attachment.description == "The crater, from the north"
    refused = requests.post(f"{live.url}/api/v1/uploads", headers={
        **TUS, **bearer(token), "Upload-Length": "10",
        "Upload-Metadata": f"report {base64.b64encode(report.encode()).decode()},captured_at "
                           f"{base64.b64encode(b'yesterday').decode()}"}, timeout=30)
    assert refused.status_code == 400 and "captured_at" in refused.json()["message"]


def test_a_connection_cut_mid_body_keeps_what_arrived_and_the_client_resumes_from_there(
        live: Live, token: str) -> None:
    data = photo(size=(900, 700))
    assert len(data) > 600_000
    report = file_report(live.url, token)
    proxy = CuttingProxy(live.port, cut_after=300_000)
    try:
        sender = uploader(f"http://127.0.0.1:{proxy.port}", token, data, report, retries=10, retry_delay=1)
        sender.upload()
    finally:
        proxy.close()
    assert proxy.cuts == 1
    # The first PATCH started at 0 and was cut; the next resumed past 0, where the server's HEAD
    # said the kept bytes ended — not from the start.
    assert live.patches[0] == 0
    resumed = [offset for offset in live.patches[1:] if offset > 0]
    assert resumed and 100_000 < resumed[0] < 300_000, live.patches
    files = attachments(live.url, token, report)
    assert [f["sha256"] for f in files] == [hashlib.sha256(data).hexdigest()]


def test_an_upload_resumes_after_a_server_restart_and_nothing_partial_is_plain_on_disk(
        live: Live, token: str, instance_path: Path) -> None:
    canary = "CANARY-" + secrets.token_hex(8)
    data = photo(canary)
    report = file_report(live.url, token)
    sender = uploader(live.url, token, data, report, chunk_size=64_000)
    half = len(data) // 2
    sender.upload(stop_at=half)
    assert 0 < sender.offset < len(data)
    partial = list((instance_path / "uploads" / "partial").iterdir())
    assert len(partial) == 1 and partial[0].stat().st_size > sender.offset
    assert no_file_holds(instance_path, canary.encode()), "a partial upload's bytes are plain on disk"
    assert no_file_holds(instance_path, data[1000:1064])
    live.restart()
    # A new client that knows only the upload's URL (as a phone that restarted) asks where it is.
    again = uploader(live.url, token, data, report, chunk_size=64_000)
    again.url = sender.url
    again.offset = again.get_offset()
    assert again.offset == sender.offset
    again.upload()
    assert [f["sha256"] for f in attachments(live.url, token, report)] == [hashlib.sha256(data).hexdigest()]


def test_a_checksum_that_does_not_match_is_460_and_nothing_of_the_body_counts(live: Live, token: str) -> None:
    data = photo()
    report = file_report(live.url, token)
    sender = uploader(live.url, token, data, report)
    sender.set_url(sender.create_url())
    wrong = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()
    response = requests.patch(sender.url, data=data[:50_000], timeout=30, headers={
        **TUS, **bearer(token), "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
        "Upload-Checksum": f"sha256 {wrong}"})
    assert response.status_code == 460
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert sender.get_offset() == 0
    # sha1 (tuspy's default) is not offered: 400, not silently unchecked.
    plain = Uploader(file_stream=io.BytesIO(data), url=sender.url, upload_checksum=True,
                     client=tus_client.TusClient(f"{live.url}/api/v1/uploads", headers=bearer(token)))
    with pytest.raises(TusUploadFailed) as refused:
        plain.upload()
    assert refused.value.status_code == 400
    # The offset must be the server's: 409 otherwise.
    response = requests.patch(sender.url, data=data[:10], timeout=30, headers={
        **TUS, **bearer(token), "Upload-Offset": "5", "Content-Type": "application/offset+octet-stream"})
    assert response.status_code == 409
    sender.upload()
    assert [f["sha256"] for f in attachments(live.url, token, report)] == [hashlib.sha256(data).hexdigest()]


def test_another_users_upload_is_not_found(live: Live, app: Any, token: str) -> None:
    data = photo()
    report = file_report(live.url, token)
    sender = uploader(live.url, token, data, report)
    sender.set_url(sender.create_url())
    with app.app_context():
        outsider = make_token(make_user(make_org(), Role.REPORTER))
        owner = db.session.scalar(select(User).join(ResumableUpload, ResumableUpload.uploaded_by_id == User.id))
        assert owner is not None
        same_org = db.session.get(Organisation, owner.organisation_id)
        assert same_org is not None
        colleague = make_token(make_user(same_org, Role.REPORTER))
    for other in (outsider, colleague):
        headers = {**TUS, **bearer(other)}
        assert requests.head(sender.url, headers=headers, timeout=30).status_code == 404
        assert requests.patch(sender.url, data=data[:10], timeout=30, headers={
            **headers, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}).status_code == 404
        assert requests.delete(sender.url, headers=headers, timeout=30).status_code == 404
        # Nor may they upload to a report that is not theirs.
        meta = f"report {base64.b64encode(report.encode()).decode()}"
        created = requests.post(f"{live.url}/api/v1/uploads", timeout=30,
                                headers={**headers, "Upload-Length": "100", "Upload-Metadata": meta})
        assert created.status_code == 404
    assert sender.get_offset() == 0
    assert requests.head(sender.url, headers={**TUS}, timeout=30).status_code == 401


def test_discovery_limits_and_termination(live: Live, token: str) -> None:
    options = requests.options(f"{live.url}/api/v1/uploads", timeout=30)
    assert options.status_code == 204
    assert options.headers["Tus-Resumable"] == "1.0.0"
    assert options.headers["Tus-Version"] == "1.0.0"
    assert set(options.headers["Tus-Extension"].split(",")) == {"creation", "termination", "checksum", "expiration"}
    assert options.headers["Tus-Checksum-Algorithm"] == "sha256"
    assert options.headers["Tus-Max-Size"] == str(live.app.config["MAX_FILE_BYTES"])
    report = file_report(live.url, token)
    meta = f"report {base64.b64encode(report.encode()).decode()},filename {base64.b64encode(b'a.jpg').decode()}"
    headers = {**TUS, **bearer(token), "Upload-Metadata": meta}
    too_big = requests.post(f"{live.url}/api/v1/uploads", timeout=30,
                            headers={**headers, "Upload-Length": str(live.app.config["MAX_FILE_BYTES"] + 1)})
    assert too_big.status_code == 413 and too_big.headers["Tus-Resumable"] == "1.0.0"
    no_version = requests.post(f"{live.url}/api/v1/uploads", timeout=30,
                               headers={**bearer(token), "Upload-Metadata": meta, "Upload-Length": "10"})
    assert no_version.status_code == 412
    created = requests.post(f"{live.url}/api/v1/uploads", timeout=30, headers={**headers, "Upload-Length": "1000"})
    assert created.status_code == 201 and "Upload-Expires" in created.headers
    url = live.url + created.headers["Location"]
    assert requests.delete(url, headers={**TUS, **bearer(token)}, timeout=30).status_code == 204
    assert requests.head(url, headers={**TUS, **bearer(token)}, timeout=30).status_code == 410
    assert not list((Path(live.app.config["UPLOAD_PATH"]) / "partial").iterdir())


def test_an_expired_upload_answers_410_and_the_sweep_removes_it_and_its_file(
        live: Live, app: Any, token: str, instance_path: Path) -> None:
    from workers.tasks import sweep

    data = photo()
    report = file_report(live.url, token)
    sender = uploader(live.url, token, data, report, chunk_size=50_000)
    sender.upload(stop_at=50_000)
    partial = instance_path / "uploads" / "partial"
    assert len(list(partial.iterdir())) == 1
    with app.app_context():
        db.session.execute(update(ResumableUpload).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()
    with pytest.raises(TusCommunicationError):
        sender.get_offset()  # HEAD: 410, no offset
    assert requests.head(sender.url, headers={**TUS, **bearer(token)}, timeout=30).status_code == 410
    with app.app_context():
        sweep.run()
        assert db.session.scalar(select(ResumableUpload)) is None
    assert not list(partial.iterdir())
    assert requests.head(sender.url, headers={**TUS, **bearer(token)}, timeout=30).status_code == 404


# ---- the browser session -----------------------------------------------------------------------


def test_the_signed_in_session_may_upload_with_its_csrf_token_and_not_without(
        app: Any, client: Any, reporter: User) -> None:
    token = make_token(reporter)
    submission_id = str(uuid.uuid4())  # as the web form makes them: shaped like a report id
    response = client.post("/api/v1/reports", json=complete_report(),
                           headers={**bearer(token), "Idempotency-Key": submission_id})
    report = response.get_json()["id"]
    assert sign_in(client, reporter.email).status_code == 302
    meta = f"report {base64.b64encode(report.encode()).decode()}"
    headers = {**TUS, "Upload-Length": "100", "Upload-Metadata": meta}
    assert client.post("/api/v1/uploads", headers=headers).status_code == 403
    page = client.get("/reports/new").get_data(as_text=True)
    created = client.post("/api/v1/uploads", headers={**headers, "X-CSRFToken": csrf_token(page)})
    assert created.status_code == 201, created.get_data(as_text=True)
    location = created.headers["Location"]
    assert client.head(location, headers=TUS).headers["Upload-Offset"] == "0"
    # Bytes from the page: the CSRF check reads the header, never the body.
    sent = client.patch(location, data=b"\xff\xd8\xff" + b"x" * 47, headers={
        **TUS, "X-CSRFToken": csrf_token(page), "Upload-Offset": "0",
        "Content-Type": "application/offset+octet-stream"})
    assert sent.status_code == 204 and sent.headers["Upload-Offset"] == "50"
    assert client.patch(location, data=b"x", headers={
        **TUS, "Upload-Offset": "50", "Content-Type": "application/offset+octet-stream"}).status_code == 403
    # The web form names its report by the submission id it was sent with.
    by_submission = client.post("/api/v1/uploads", headers={
        **TUS, "X-CSRFToken": csrf_token(page), "Upload-Length": "100",
        "Upload-Metadata": f"report {base64.b64encode(submission_id.encode()).decode()}"})
    assert by_submission.status_code == 201
    # Signed out, the same request is 401; a wrong method still says Tus-Resumable.
    fresh = app.test_client()
    assert fresh.head(location, headers=TUS).status_code == 401
    assert fresh.get(location).headers["Tus-Resumable"] == "1.0.0"


def test_the_openapi_document_describes_the_tus_endpoints(client: Any) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert set(paths["/api/v1/uploads"]) == {"options", "post"}
    one = paths["/api/v1/uploads/{public_id}"]
    assert set(one) == {"options", "head", "patch", "delete"}
    assert {"409", "410", "413", "460"} <= set(one["patch"]["responses"])
    assert {p["name"] for p in one["patch"]["parameters"]} >= {"Tus-Resumable", "Upload-Offset", "Upload-Checksum"}
    assert "application/offset+octet-stream" in one["patch"]["requestBody"]["content"]


# ---- a real gunicorn, killed mid-body --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _gunicorn(app_config: dict[str, Any], port: int, log: Path) -> subprocess.Popen[bytes]:
    env = worker_env(app_config)
    env["INTAKE_SESSION_COOKIE_SECURE"] = "false"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "60",
             "intake.wsgi:app"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError("gunicorn exited:\n" + log.read_text()[-3000:])
        try:
            requests.options(f"http://127.0.0.1:{port}/api/v1/uploads", timeout=10)
        except requests.RequestException:
            return False
        return True

    try:
        wait_for(answers, timeout=60)
    except BaseException:
        _kill(process)
        raise
    return process


def _kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL gunicorn's master and its worker (the session it was started in): no cleanup runs."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=15)


def test_gunicorn_killed_mid_patch_resumes_from_the_last_offset_it_vouched_for(
        app: Any, app_config: dict[str, Any], token: str, instance_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = instance_path / "gunicorn.log"
    server = _gunicorn(app_config, port, log)
    try:
        data = photo(size=(900, 700))
        report = file_report(base, token)
        sender = uploader(base, token, data, report, chunk_size=128_000)
        sender.upload(stop_at=128_000)
        assert sender.offset == 128_000
        partial = next((instance_path / "uploads" / "partial").iterdir())
        vouched = partial.stat().st_size
        # A PATCH for the rest whose body stops halfway; the server is killed while it waits for more.
        path = sender.url.removeprefix(base)
        rest = data[sender.offset:]
        raw = socket.create_connection(("127.0.0.1", port))
        raw.sendall((f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nTus-Resumable: 1.0.0\r\n"
                     f"Authorization: Bearer {token}\r\nContent-Type: application/offset+octet-stream\r\n"
                     f"Upload-Offset: {sender.offset}\r\nContent-Length: {len(rest)}\r\n\r\n").encode())
        raw.sendall(rest[: len(rest) // 2])
        wait_for(lambda: partial.stat().st_size > vouched + 128_000, timeout=30)
        _kill(server)
        raw.close()
        with app.app_context():
            row = db.session.scalar(select(ResumableUpload))
            assert row is not None and row.upload_offset == 128_000 and row.stored_bytes == vouched
        assert partial.stat().st_size > vouched  # sealed records the row never vouched for
        server = _gunicorn(app_config, port, log)
        again = uploader(base, token, data, report, chunk_size=256_000)
        again.url = sender.url
        again.offset = again.get_offset()
        assert again.offset == 128_000
        again.upload()
        assert [f["sha256"] for f in attachments(base, token, report)] == [hashlib.sha256(data).hexdigest()]
        # Under gunicorn too, a client that goes away mid-body keeps what arrived.
        other = photo()
        sender = uploader(base, token, other, report)
        sender.set_url(sender.create_url())
        raw = socket.create_connection(("127.0.0.1", port))
        raw.sendall((f"PATCH {sender.url.removeprefix(base)} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
                     f"Authorization: Bearer {token}\r\nContent-Type: application/offset+octet-stream\r\n"
                     f"Upload-Offset: 0\r\nContent-Length: {len(other)}\r\n\r\n").encode())
        raw.sendall(other[:100_000])
        time.sleep(0.5)
        raw.close()
        wait_for(lambda: sender.get_offset() == 100_000, timeout=30)
        sender.offset = 100_000
        sender.upload()
        assert hashlib.sha256(other).hexdigest() in {f["sha256"] for f in attachments(base, token, report)}
    finally:
        if server.poll() is None:
            _kill(server)


def test_a_second_patch_while_one_is_sending_is_423_and_the_first_keeps_its_bytes(live: Live, token: str) -> None:
    data = photo()
    report = file_report(live.url, token)
    sender = uploader(live.url, token, data, report)
    sender.set_url(sender.create_url())
    path = sender.url.removeprefix(live.url)
    slow = socket.create_connection(("127.0.0.1", live.port))
    slow.sendall((f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer {token}\r\n"
                  "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
                  f"Content-Length: {len(data)}\r\n\r\n").encode())
    slow.sendall(data[:70_000])
    partial = next((Path(live.app.config["UPLOAD_PATH"]) / "partial").iterdir())
    wait_for(lambda: partial.stat().st_size > 0, timeout=30)
    second = requests.patch(sender.url, data=data, timeout=30, headers={
        **TUS, **bearer(token), "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
    assert second.status_code == 423
    slow.close()  # the link drops: what arrived counts
    wait_for(lambda: sender.get_offset() > 0, timeout=30)
    assert sender.get_offset() == 70_000  # every byte that arrived, sealed
    sender.offset = sender.get_offset()
    sender.upload()
    assert [f["sha256"] for f in attachments(live.url, token, report)] == [hashlib.sha256(data).hexdigest()]


def test_uploads_under_way_count_against_the_files_a_report_may_have(live: Live, token: str) -> None:
    report = file_report(live.url, token)
    meta = f"report {base64.b64encode(report.encode()).decode()}"
    headers = {**TUS, **bearer(token), "Upload-Metadata": meta, "Upload-Length": "1000"}
    limit = live.app.config["MAX_ATTACHMENTS"]
    created = [requests.post(f"{live.url}/api/v1/uploads", headers=headers, timeout=30) for _ in range(limit)]
    assert [r.status_code for r in created] == [201] * limit
    assert requests.post(f"{live.url}/api/v1/uploads", headers=headers, timeout=30).status_code == 422
    requests.delete(live.url + created[0].headers["Location"], headers={**TUS, **bearer(token)}, timeout=30)
    assert requests.post(f"{live.url}/api/v1/uploads", headers=headers, timeout=30).status_code == 201


def test_a_file_that_is_no_photo_is_refused_at_its_first_bytes_not_after_the_rest(live: Live, token: str) -> None:
    program = b"MZ" + os.urandom(300_000)
    report = file_report(live.url, token)
    sender = uploader(live.url, token, program, report, chunk_size=16_384)
    with pytest.raises(TusUploadFailed) as refused:
        sender.upload()
    assert refused.value.status_code == 422
    assert b"program" in (refused.value.response_content or b"")
    assert live.patches == [0]  # the first piece was enough to tell
    assert requests.head(sender.url, headers={**TUS, **bearer(token)}, timeout=30).status_code == 410
    assert attachments(live.url, token, report) == []
    assert not list((Path(live.app.config["UPLOAD_PATH"]) / "partial").iterdir())


def test_a_report_closed_to_files_refuses_an_upload_at_creation_and_at_its_end(live: Live, app: Any,
                                                                                token: str) -> None:
    """The attachment endpoint's rule holds for resumable uploads too: a report a verifier has taken
    up (or verified) takes no new file, neither when the upload is created nor when its last byte
    arrives after the report was closed meanwhile (409, nothing stored)."""
    from sqlalchemy import select, update

    from intake.enums import ReportState
    from intake.extensions import db
    from intake.models import Attachment, Report

    report = file_report(live.url, token)
    data = photo()
    sender = uploader(live.url, token, data, report, chunk_size=len(data) // 2)
    sender.upload_chunk()  # half of it arrives while the report still takes files
    assert 0 < sender.get_offset() < len(data)
    with app.app_context():
        db.session.execute(update(Report).where(Report.public_id == report).values(state=ReportState.VERIFIED))
        db.session.commit()
    rest = requests.patch(sender.url, data=data[sender.get_offset():], timeout=30, headers={
        **TUS, **bearer(token), "Upload-Offset": str(sender.get_offset()),
        "Content-Type": "application/offset+octet-stream"})
    assert rest.status_code == 409 and "no longer open to new files" in rest.text
    meta = f"report {base64.b64encode(report.encode()).decode()}"
    created = requests.post(f"{live.url}/api/v1/uploads", timeout=30,
                            headers={**TUS, **bearer(token), "Upload-Length": "100", "Upload-Metadata": meta})
    assert created.status_code == 409
    with app.app_context():
        assert db.session.scalars(select(Attachment)).all() == []
        db.session.remove()
