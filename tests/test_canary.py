"""The canary test (security.md, invariant 1): a seized database, Redis or instance folder reveals no one.

Reports whose identifying and sensitive fields and attachments carry unique canary strings go in
through the web form and the JSON API, a real worker processes them, and then a full `pg_dump`,
every Redis key and value, every file of the instance folder and every captured log line are
searched for each canary — plain, URL-encoded, JSON-escaped, hex and base64. None may be found.
A publishable control value is searched the same way and must be found, so the search can fail.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.engine import make_url

from intake.enums import ReportState
from intake.extensions import db
from intake.models import Report
from tests.conftest import (
    REDIS_URL,
    complete_report,
    make_token,
    require_postgres,
    require_redis,
    sign_in,
    wait_for,
)
from tests.test_field import form_fields, page_of

CANARIES = {
    "victim name": "Canaryvictim Zvartnotsyan",
    "witness name": "Witnesscanary Qelikyan",
    "witness phone": "+374 99 817263",
    "witness email": "canary.witness@example.net",
    "witness relation": "canary-relation-5b7e",
    # The raw account: its anonymized version (names and numbers replaced) is publishable and stored in
    # the clear on purpose; the account as written, with the name and number in it, must not be.
    "narrative": "canary-narrative-7c1e: Witnesscanary Qelikyan (+374 99 817263) saw the roof fall on the kitchen",
    "latitude": "39.918273",
    "longitude": "44.827364",
    "link": "https://t.me/canary_channel/998877",
    "attachment description": "canary-description-4d2f taken by Witnesscanary Qelikyan from the roof",
    "attachment filename": "canary-filename-9e8d",
    "file content": "CANARY-FILE-CONTENT-3a6b",
}
# Publishable: stored in the clear on purpose, so every search below must find it.
CONTROL = "Controlville-8842"


def variants(value: str) -> set[bytes]:
    """The ways a value can sit in a dump: plain, URL-encoded, JSON-escaped, hex, base64 (any alignment)."""
    raw = value.encode()
    found = {raw, urllib.parse.quote(value).encode(), urllib.parse.quote_plus(value).encode(),
             json.dumps(value).encode()[1:-1], json.dumps(value, ensure_ascii=False).encode()[1:-1],
             raw.hex().encode(), raw.hex().upper().encode()}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        # Drop the characters that also depend on the neighbouring bytes.
        start = (offset * 4 + 2) // 3 + (1 if offset else 0)
        found.add(encoded[start:-4])
        found.add(base64.urlsafe_b64encode(b"\0" * offset + raw)[start:-4])
    return {v for v in found if len(v) >= 8}


def photo_with_canaries() -> bytes:
    """A JPEG whose comment and EXIF carry the file canary and the exact coordinates."""
    image = Image.new("RGB", (96, 64), (90, 120, 40))
    exif = image.getexif()
    exif[0x010E] = CANARIES["file content"]  # ImageDescription
    exif.get_ifd(0x8825).update({1: "N", 2: (39.0, 55.0, 5.78), 3: "E", 4: (44.0, 49.0, 38.51)})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes(), comment=CANARIES["file content"].encode())
    return buffer.getvalue()


def search(haystacks: dict[str, bytes], value: str) -> list[str]:
    needles = variants(value)
    return [name for name, data in haystacks.items() if any(n in data for n in needles)]


def pg_dump(database_url: str) -> bytes:
    url = make_url(database_url)
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run(["pg_dump", "--no-owner", plain], check=True, capture_output=True, timeout=120).stdout


def redis_contents(url: str) -> bytes:
    import redis

    client = redis.Redis.from_url(url)
    chunks: list[bytes] = []
    try:
        for key in client.scan_iter(count=500):
            chunks.append(key)
            dumped = client.dump(key)
            chunks.append(dumped or b"")
            kind = client.type(key)
            if kind == b"string":
                chunks.append(client.get(key) or b"")
            elif kind == b"list":
                chunks.extend(client.lrange(key, 0, -1))
            elif kind == b"hash":
                for field, value in client.hgetall(key).items():
                    chunks += [field, value]
            elif kind == b"set":
                chunks.extend(client.smembers(key))
            elif kind == b"zset":
                chunks.extend(member for member, _ in client.zrange(key, 0, -1, withscores=True))
    finally:
        client.close()
    return b"\n".join(chunks)


def instance_files(folder: Path) -> dict[str, bytes]:
    return {f"instance/{p.relative_to(folder)}": p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_no_canary_in_database_dump_redis_instance_folder_or_logs(
    app: Any, reporter: Any, worker: Any, instance_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    database_url = require_postgres()
    require_redis()
    assert app.config["DATABASE_URL"] == database_url and REDIS_URL
    caplog.set_level(logging.DEBUG)

    # Through the web form, with a photo carrying the canaries in its bytes, name and description.
    browser = app.test_client()
    assert sign_in(browser, reporter.email).status_code == 302
    _, token, submission_id = page_of(browser)
    sent = browser.post("/reports/new", data=form_fields(
        token, submission_id, locality=CONTROL, narrative=CANARIES["narrative"], latitude=CANARIES["latitude"],
        longitude=CANARIES["longitude"], **{
            "victims-0-name": CANARIES["victim name"], "witnesses-0-name": CANARIES["witness name"],
            "witnesses-0-phone": CANARIES["witness phone"], "witnesses-0-email": CANARIES["witness email"],
            "witnesses-0-relation": CANARIES["witness relation"], "links-0-url": CANARIES["link"],
            "attachments-0-description": CANARIES["attachment description"],
            "attachments-0-file": (io.BytesIO(photo_with_canaries()), f"{CANARIES['attachment filename']}.jpg"),
        }), content_type="multipart/form-data")
    assert sent.status_code == 302, sent.get_data(as_text=True)[:500]

    # Through the JSON API, with a file uploaded to the report afterwards.
    api = app.test_client()
    headers = {"Authorization": f"Bearer {make_token(reporter)}", "Idempotency-Key": "canary-api-1"}
    body = complete_report(
        locality=CONTROL, narrative=CANARIES["narrative"], latitude=float(CANARIES["latitude"]),
        longitude=float(CANARIES["longitude"]), victims=[{"name": CANARIES["victim name"], "harm": "killed"}],
        witnesses=[{"name": CANARIES["witness name"], "phone": CANARIES["witness phone"],
                    "email": CANARIES["witness email"], "relation": CANARIES["witness relation"]}],
        links=[{"url": CANARIES["link"]}])
    created = api.post("/api/v1/reports", json=body, headers=headers)
    assert created.status_code == 201
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    boundary, payload = encode_multipart({
        "file": FileStorage(io.BytesIO(photo_with_canaries()), filename=f"{CANARIES['attachment filename']}.jpg"),
        "description": CANARIES["attachment description"]})
    uploaded = api.post(f"/api/v1/reports/{created.get_json()['id']}/attachments", data=payload,
                        headers={"Authorization": headers["Authorization"]},
                        content_type=f"multipart/form-data; boundary={boundary}")
    assert uploaded.status_code == 201

    # The worker inspects both reports and their files (reading the GPS out of the photos).
    def all_in_triage() -> bool:
        db.session.remove()
        with app.app_context():
            reports = db.session.scalars(select(Report)).all()
            return len(reports) == 2 and all(
                r.state == ReportState.TRIAGE and r.job is not None and r.job.state.value == "done"
                and all(a.embedded_metadata for a in r.attachments) for r in reports)

    wait_for(all_in_triage, timeout=60)
    with app.app_context():
        metadata = [a.embedded_metadata for r in db.session.scalars(select(Report)) for a in r.attachments]
        assert all(m and round(m["gps_latitude"], 4) == 39.9183 for m in metadata), "the worker read the photos"

    logs = "\n".join(
        " ".join([r.getMessage(), str(r.args), r.exc_text or "", str(r.__dict__)]) for r in caplog.records
    ).encode()
    haystacks = {
        "pg_dump": pg_dump(database_url),
        "redis": redis_contents(REDIS_URL),
        "captured logs": logs,
        **instance_files(instance_path),  # uploads, key files, the worker's log
    }
    assert len(logs) > 0 and (instance_path / "worker.log").exists()

    leaks = {kind: search(haystacks, value)
             for kind, value in {**CANARIES, "reporter's account e-mail": reporter.email}.items()}
    assert {kind: where for kind, where in leaks.items() if where} == {}
    # The control value, publishable on purpose, is found in the dump: the search works.
    assert "pg_dump" in search(haystacks, CONTROL)
