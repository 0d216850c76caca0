"""Uploads never reach a disk in the clear (issue 12, item 12).

Werkzeug spools a file part above 500 KB to a plain temporary file while it parses the request. Here
every temporary file made while a request runs is recorded, and its content read — while the upload
is being stored and after the answer — together with every file of the temporary folder and of the
instance folder: a canary carried in a file of more than 500 KB, sent through the form and through the
API, may be found in none of them.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from intake import crypto
from intake.models import User
from tests.conftest import jpeg_bytes, make_token, post_multipart
from tests.test_api import filed, upload
from tests.test_field import form_fields, page_of

CANARY = b"SPOOL-CANARY-81f3c2d7e5"


def big_file() -> bytes:
    """A JPEG (by its header) carrying the canary, well past Werkzeug's 500 KB in-memory limit."""
    return jpeg_bytes() + CANARY * (900 * 1024 // len(CANARY))


class TempRecorder:
    """Records every temporary file made through `tempfile`, so even unlinked ones can be read."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
        self.handles: list[Any] = []
        self.folders = [folder]
        self.findings: list[str] = []
        monkeypatch.setattr(tempfile, "tempdir", str(folder))
        for name in ("TemporaryFile", "NamedTemporaryFile"):
            real = getattr(tempfile, name)
            monkeypatch.setattr(tempfile, name, self._recording(real))

    def _recording(self, real: Any) -> Any:
        def make(*args: Any, **kwargs: Any) -> Any:
            handle = real(*args, **kwargs)
            self.handles.append(handle)
            return handle
        return make

    def scan(self, when: str) -> None:
        for handle in self.handles:
            try:
                fd = handle.fileno()
                content = os.pread(fd, os.fstat(fd).st_size, 0)
            except (OSError, ValueError):
                continue  # closed: what it held is read through the folders below, if it is still there
            if CANARY in content:
                self.findings.append(f"{when}: a temporary file")
        for folder in self.folders:
            for path in folder.rglob("*"):
                if path.is_file() and CANARY in path.read_bytes():
                    self.findings.append(f"{when}: {path.name}")


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, app: Any) -> TempRecorder:
    folder = tmp_path / "tmp"
    folder.mkdir()
    spy = TempRecorder(monkeypatch, folder)
    spy.folders.append(Path(app.instance_path))
    from intake import media
    from intake.web import field

    real_store = media.store_upload

    def store_and_scan(*args: Any, **kwargs: Any) -> Any:
        spy.scan("while the upload was stored")
        return real_store(*args, **kwargs)

    monkeypatch.setattr(media, "store_upload", store_and_scan)  # the API's path: media.attach_to_report
    monkeypatch.setattr(field, "store_upload", store_and_scan)
    return spy


def test_a_big_upload_through_the_api_never_reaches_the_disk_in_the_clear(
        app: Any, client: Any, reporter: User, recorder: TempRecorder) -> None:
    token = make_token(reporter)
    report = filed(client, token)
    content = big_file()
    response = upload(client, token, report["id"], content, filename="big.jpg")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["size"] == len(content)
    recorder.scan("after the answer")
    assert recorder.handles, "the upload went through a temporary (sealed) spool"
    assert recorder.findings == []


def test_a_big_upload_through_the_form_never_reaches_the_disk_in_the_clear(
        app: Any, reporter_client: Any, recorder: TempRecorder) -> None:
    _, token, submission_id = page_of(reporter_client)
    data = form_fields(token, submission_id, **{"attachments-0-file": (io.BytesIO(big_file()), "big.jpg")})
    response = post_multipart(reporter_client, "/reports/new", data)
    assert response.status_code == 302, response.get_data(as_text=True)
    recorder.scan("after the answer")
    assert recorder.handles
    assert recorder.findings == []


def test_the_spool_gives_back_what_was_written(tmp_path: Path) -> None:
    """Written in pieces, read back in other pieces: the same bytes; the file holds none of them."""
    payload = os.urandom(300_000) + CANARY * 20_000
    with crypto.SealedSpool(str(tmp_path)) as spool:
        for at in range(0, len(payload), 70_001):
            spool.write(payload[at:at + 70_001])
        assert spool.seek(0) == 0
        assert not isinstance(spool._file, io.BytesIO), "a big part goes to the (sealed) temporary file"
        raw = os.pread(spool._file.fileno(), os.fstat(spool._file.fileno()).st_size, 0)
        assert CANARY not in raw
        parts = []
        while chunk := spool.read(1_000_003):
            parts.append(chunk)
        assert b"".join(parts) == payload
        spool.seek(0)
        assert spool.read() == payload
        assert spool.seek(0, io.SEEK_END) == len(payload)
        # Read like a file (an image library seeks about): any position, any length.
        for at, size in ((65_535, 3), (131_072, 70_000), (len(payload) - 5, 100), (7, 0)):
            spool.seek(at)
            assert spool.read(size) == payload[at:at + size] and spool.tell() == min(len(payload), at + size)
        spool.seek(-10, io.SEEK_END)
        assert spool.read() == payload[-10:]


def test_a_small_part_stays_in_memory(tmp_path: Path) -> None:
    with crypto.SealedSpool(str(tmp_path)) as spool:
        spool.write(b"a" * 200_000)
        spool.seek(0)
        assert isinstance(spool._file, io.BytesIO) and spool.read() == b"a" * 200_000
        assert b"a" * 64 not in spool._file.getvalue()


def test_an_empty_spool_and_lines(tmp_path: Path) -> None:
    with crypto.SealedSpool(str(tmp_path)) as empty:
        assert empty.read() == b"" and empty.seek(0, io.SEEK_END) == 0
    with crypto.SealedSpool(str(tmp_path)) as lines:
        lines.write(b"first\nsecond\n" + b"x" * 70_000 + b"\nlast")
        lines.seek(0)
        assert lines.readline() == b"first\n" and lines.readline() == b"second\n"
        assert len(lines.readline()) == 70_001 and lines.readline() == b"last" and lines.readline() == b""
