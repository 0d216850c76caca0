"""ODK Collect's wire behaviour end to end (tests/collect_client.py), and encrypted forms: the web
keeps what Collect encrypted unopened, a worker holding the organisation's private key decrypts and
files it, and the web process never holds that key (issue 15, items 6 and 7)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from intake.enums import AuditAction, Channel, ReportState, Role
from intake.extensions import db
from intake.models import (
    Attachment,
    AuditEntry,
    DeviceToken,
    OdkEncryptedSubmission,
    OdkFormKey,
    OdkInstance,
    Report,
)
from intake.openrosa import devices, encrypted
from tests.collect_client import CollectClient, encrypt_like_collect, form_public_key
from tests.conftest import ROOT, SECRET, csrf_token, jpeg_bytes, make_org, make_user, sign_in, wait_for
from tests.test_openrosa import instance_xml, message

ORX_RESPONSE = "{http://openrosa.org/http/response}"


def phone(app: Any, user: Any, name: str = "Phone 3") -> CollectClient:
    _row, token = devices.create_device(db.session, user, name, actor=None, via="test")
    db.session.commit()
    return CollectClient(app.test_client(), devices.server_url("http://localhost", token))


def encrypt_now(org: Any) -> OdkFormKey:
    """The organisation's form encrypted, its key made as a worker makes it (in this process)."""
    from intake.openrosa.decrypt import make_form_key

    row = encrypted.request_encryption(db.session, org.id, actor=None, via="test")
    make_form_key(db.session, row)
    db.session.commit()
    return row


def file_in_process(app: Any, entry_id: int) -> None:
    """What the worker's task does, run here (the real worker is in the tests that need it)."""
    from workers.tasks import file_odk_encrypted

    with app.app_context():
        file_odk_encrypted.run(entry_id)
    db.session.rollback()


def test_encrypted_form_carries_the_key_and_a_new_version(app: Any, org: Any, reporter: Any) -> None:
    collect = phone(app, reporter)
    [plain] = collect.form_list()
    assert form_public_key(collect.download(plain)) is None
    key = encrypt_now(org)
    [entry] = collect.form_list()
    form_xml = collect.download(entry)
    assert form_public_key(form_xml) == key.public_key
    assert entry.version != plain.version and entry.hash != plain.hash
    assert f'version="{entry.version}"' in form_xml
    # The private key is stored wrapped by the master keys, never in the clear.
    assert key.private_key_wrapped and b"PRIVATE KEY" not in key.private_key_wrapped
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == AuditAction.ODK_FORM_ENCRYPTED.value))


def test_encrypted_submission_is_kept_unopened_then_decrypted_and_filed(app: Any, org: Any, reporter: Any) -> None:
    collect = phone(app, reporter)
    encrypt_now(org)
    [entry] = collect.form_list()
    form_xml = collect.download(entry)
    instance_id = f"uuid:{uuid.uuid4()}"
    photos = {"1709.jpg": jpeg_bytes((64, 48)), "1710.jpg": jpeg_bytes((80, 60))}
    xml = instance_xml(form_xml, instance_id=instance_id, photos=list(photos))
    manifest, parts = encrypt_like_collect(form_xml, xml, photos)
    assert set(parts) == {"1709.jpg.enc", "1710.jpg.enc", "submission.xml.enc"}

    # Split in two posts; the receipt is given at once, before anything is decrypted.
    first, last = collect.send(manifest, parts, posts=2)
    assert first.status_code == 201, first.get_data(as_text=True)
    assert last.status_code == 202
    kept = db.session.scalar(select(OdkEncryptedSubmission))
    assert kept.receipt_code in message(first) and kept.receipt_code in message(last)
    assert kept.instance_id == instance_id and kept.due_at is not None
    assert sorted(p.name for p in kept.parts) == sorted(parts)
    assert {p.name: p.sha256 for p in kept.parts} == {n: hashlib.sha256(d).hexdigest() for n, d in parts.items()}
    assert db.session.scalar(select(Report)) is None  # nothing opened by the web
    # Stored sealed: not even the ciphertext Collect sent is on the disk as it came.
    stored = b"".join(p.read_bytes() for p in Path(app.config["UPLOAD_PATH"]).rglob("*") if p.is_file())
    assert parts["submission.xml.enc"][:64] not in stored
    entry_id = kept.id
    db.session.rollback()

    file_in_process(app, entry_id)
    report = db.session.scalar(select(Report).where(Report.submission_id == instance_id))
    assert report is not None and report.channel == Channel.ODK
    assert report.receipt_code in message(first)  # the receipt the phone was given is the report's
    assert report.narrative == "A drone struck the market at noon."
    assert [v.name for v in report.victims] == ["Olena K."]
    files = db.session.scalars(select(Attachment).where(Attachment.report_id == report.id)).all()
    assert sorted(a.sha256 for a in files) == sorted(hashlib.sha256(p).hexdigest() for p in photos.values())
    assert all(a.media_type == "image/jpeg" for a in files)
    instance = db.session.scalar(select(OdkInstance).where(OdkInstance.report_id == report.id))
    assert instance.xml.encode() == xml
    done = db.session.get(OdkEncryptedSubmission, entry_id)
    assert done.report_id == report.id and done.due_at is None
    assert all(p.storage_name is None for p in done.parts) and done.manifest_sealed is None
    assert not list(Path(app.config["UPLOAD_PATH"]).rglob("*.part"))
    receipt = report.receipt_code
    # Running the task again files nothing more; the same send again answers the same receipt.
    db.session.rollback()
    file_in_process(app, entry_id)
    again = collect.post(manifest, parts)
    assert again.status_code == 202 and receipt in message(again)
    db.session.rollback()
    assert len(db.session.scalars(select(Report)).all()) == 1


def test_tampered_or_conflicting_encrypted_submissions(app: Any, org: Any, reporter: Any) -> None:
    collect = phone(app, reporter)
    encrypt_now(org)
    form_xml = collect.download(collect.form_list()[0])
    instance_id = f"uuid:{uuid.uuid4()}"
    photos = {"1709.jpg": jpeg_bytes()}
    manifest, parts = encrypt_like_collect(form_xml, instance_xml(form_xml, instance_id=instance_id,
                                                                  photos=list(photos)), photos)
    # A photo altered on the way: the signature does not match, nothing is filed, it is held.
    altered = dict(parts)
    altered["1709.jpg.enc"] = parts["1709.jpg.enc"][:-32] + bytes(32)
    assert collect.send(manifest, altered)[0].status_code == 201
    entry_id = db.session.scalar(select(OdkEncryptedSubmission.id))
    db.session.rollback()
    file_in_process(app, entry_id)
    held = db.session.get(OdkEncryptedSubmission, entry_id)
    assert held.report_id is None and held.due_at is None and held.attempts == 1
    assert "Undecryptable" in held.last_error and "Olena" not in held.last_error
    assert db.session.scalar(select(Report)) is None
    db.session.rollback()
    # The same instance ID with another manifest: a conflict, in the envelope.
    other, other_parts = encrypt_like_collect(form_xml, instance_xml(form_xml, instance_id=instance_id), {})
    conflict = collect.post(other, other_parts)
    assert conflict.status_code == 409 and "different" in message(conflict)
    # A manifest that is not one: 400 with a readable message.
    broken = manifest.replace(b"base64EncryptedKey>", b"base64EncryptedKeyX>")
    assert collect.post(broken, parts).status_code == 400


def test_collect_wire_behaviour(app: Any, org: Any, reporter: Any) -> None:
    """HEAD preflight, the deviceID query, Date headers, parts named by file name, a split send of
    three posts, a resend after a cut connection, a revoked token and another organisation's form."""
    collect = phone(app, reporter)
    [entry] = collect.form_list()
    assert collect.last.headers["X-OpenRosa-Version"] == "1.0" and collect.last.headers["Date"]
    form_xml = collect.download(entry)
    assert collect.preflight() >= 10_000_000
    assert collect.last.headers["Date"] and collect.last.data == b""

    photos = {"1709.jpg": jpeg_bytes((64, 48)), "1710.jpg": jpeg_bytes((80, 60)), "1711.jpg": jpeg_bytes((90, 60))}
    instance_id = f"uuid:{uuid.uuid4()}"
    xml = instance_xml(form_xml, instance_id=instance_id, photos=list(photos))
    answers = collect.send(xml, photos, posts=3)
    assert [a.status_code for a in answers] == [201, 202, 202]
    assert all(a.headers["Date"] and a.headers["X-OpenRosa-Version"] == "1.0" for a in answers)
    report = db.session.scalar(select(Report).where(Report.submission_id == instance_id))
    assert all(report.receipt_code in message(a) for a in answers)
    named = {a.original_filename for a in db.session.scalars(select(Attachment))}
    assert named == set(photos)  # each part found by its file name
    db.session.rollback()

    # The connection is cut after the post arrived: Collect never saw the answer and sends again.
    cut_id = f"uuid:{uuid.uuid4()}"
    cut = instance_xml(form_xml, instance_id=cut_id, photos=["1712.jpg"])
    collect.send(cut, {"1712.jpg": jpeg_bytes()})  # its answer is lost
    [resend] = collect.send(cut, {"1712.jpg": jpeg_bytes()})
    assert resend.status_code in (201, 202)
    cut_report = db.session.scalar(select(Report).where(Report.submission_id == cut_id))
    assert cut_report.receipt_code in message(resend)
    assert len(db.session.scalars(select(Report)).all()) == 2
    db.session.rollback()

    # A form of another organisation (encrypted for its key) is no form of this phone's: 404.
    elsewhere = make_org("Elsewhere")
    stranger = make_user(elsewhere, Role.REPORTER)
    their_phone = phone(app, stranger, "Their phone")
    encrypt_now(elsewhere)
    their_form = their_phone.download(their_phone.form_list()[0])
    manifest, parts = encrypt_like_collect(their_form, instance_xml(their_form, instance_id=f"uuid:{uuid.uuid4()}"),
                                           {})
    foreign = collect.post(manifest, parts)
    assert foreign.status_code == 404 and "form list" in message(foreign)
    assert db.session.scalar(select(OdkEncryptedSubmission)) is None

    # Revoked: 401 with the challenge, in the envelope.
    devices.revoke_device(db.session, db.session.scalar(select(DeviceToken).where(DeviceToken.name == "Phone 3")),
                          actor=None, via="test")
    db.session.commit()
    assert collect.form_list() == [] and collect.last.status_code == 401
    assert collect.last.headers["WWW-Authenticate"].startswith("Bearer")
    refused = collect.post(xml, {})
    assert refused.status_code == 401 and "revoked" in message(refused)


def test_admin_switches_to_encrypted_and_a_real_worker_decrypts_into_triage(
        app: Any, org: Any, reporter: Any, worker: Any) -> None:
    """The admin page asks for encryption, the worker makes the key, Collect encrypts, the worker
    decrypts and files it; it reaches triage and a verifier sees it as sent with ODK Collect."""
    admin = make_user(org, Role.ADMIN)
    browser = app.test_client()
    sign_in(browser, admin.email)
    page = browser.get("/admin/devices").get_data(as_text=True)
    assert "Encrypt the form" in page
    assert browser.post("/admin/devices/encryption", data={"csrf_token": csrf_token(page)}).status_code == 302
    wait_for(lambda: encrypted.current_key(db.session, org.id) or db.session.rollback(), timeout=60)
    db.session.rollback()
    assert "encrypted since" in browser.get("/admin/devices").get_data(as_text=True)
    # Another organisation's admin sees its own (plain) form, and cannot act for this one.
    outsider = make_user(make_org("Elsewhere"), Role.ADMIN)
    other = app.test_client()
    sign_in(other, outsider.email)
    assert "Encrypt the form" in other.get("/admin/devices").get_data(as_text=True)

    collect = phone(app, reporter)
    form_xml = collect.download(collect.form_list()[0])
    instance_id = f"uuid:{uuid.uuid4()}"
    photos = {"1709.jpg": jpeg_bytes((64, 48))}
    manifest, parts = encrypt_like_collect(form_xml, instance_xml(form_xml, instance_id=instance_id,
                                                                  photos=list(photos)), photos)
    [answer] = collect.send(manifest, parts)
    assert answer.status_code == 201

    def filed() -> Report | None:
        db.session.rollback()
        found = db.session.scalar(select(Report).where(Report.submission_id == instance_id))
        return found if found is not None and found.state == ReportState.TRIAGE else None

    report = wait_for(filed, timeout=120)
    assert report.receipt_code in message(answer)
    verifier = make_user(org, Role.VERIFIER)
    desk = app.test_client()
    sign_in(desk, verifier.email)
    assert report.public_id in desk.get("/queue/").get_data(as_text=True)
    review = desk.get(f"/queue/reports/{report.public_id}")
    assert review.status_code == 200 and "ODK Collect" in review.get_data(as_text=True)


_WEB_PROCESS = textwrap.dedent('''
    """The web app in a process of its own, with every way to load or make an RSA private key made to
    fail loudly and the workers' decryption module impossible to import."""
    import importlib.abc, json, sys

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    def refuse(*args, **kwargs):
        raise AssertionError("the web process touched a private key")

    for name in ("load_der_private_key", "load_pem_private_key", "load_ssh_private_key"):
        setattr(serialization, name, refuse)
    rsa.generate_private_key = refuse

    class NoDecryption(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "intake.openrosa.decrypt":
                raise AssertionError("the web process imported " + name)
            return None

    sys.meta_path.insert(0, NoDecryption())
    job = json.loads(sys.argv[1])
    from intake import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": job["secret"], "DATABASE_URL": job["database"],
                      "BROKER_URL": job["broker"], "INSTANCE_PATH": job["instance"]})
    client = app.test_client()
    base = job["base"]
    headers = {"X-OpenRosa-Version": "1.0"}
    assert client.head(base + "/submission", headers=headers).status_code == 204
    listing = client.get(base + "/formList", headers=headers)
    form = client.get(base + "/forms/intake_report/form.xml", headers=headers).get_data(as_text=True)
    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import encode_multipart
    import base64, io
    fields = MultiDict([("xml_submission_file", FileStorage(io.BytesIO(base64.b64decode(job["manifest"])),
                                                            "submission.xml"))])
    for name, data in job["parts"].items():
        fields.add(name, FileStorage(io.BytesIO(base64.b64decode(data)), name))
    boundary, body = encode_multipart(fields)
    answer = client.post(base + "/submission?deviceID=collect:1", data=body,
                         content_type="multipart/form-data; boundary=" + boundary, headers=headers)
    loaded = sorted(m for m in sys.modules if m.startswith("intake"))
    print(json.dumps({"status": answer.status_code, "key_in_form": job["public_key"] in form,
                      "listing": listing.status_code, "decrypt_loaded": "intake.openrosa.decrypt" in sys.modules,
                      "web_loaded": "intake.web.openrosa" in loaded}))
''')


def test_the_web_process_never_holds_the_private_key(app: Any, app_config: dict[str, Any], org: Any,
                                                     reporter: Any, tmp_path: Path) -> None:
    """The whole web side of an encrypted form (the form served with its key, an encrypted send
    received and acknowledged) in a web process where loading or making a private key, or importing
    the workers' decryption, fails: it answers as usual, so none of that ever happened there."""
    import base64

    collect = phone(app, reporter)
    key = encrypt_now(org)
    form_xml = collect.download(collect.form_list()[0])
    photos = {"1709.jpg": jpeg_bytes()}
    manifest, parts = encrypt_like_collect(form_xml, instance_xml(form_xml, instance_id=f"uuid:{uuid.uuid4()}",
                                                                  photos=list(photos)), photos)
    job = {"secret": SECRET, "database": app_config["DATABASE_URL"], "broker": app_config["BROKER_URL"],
           "instance": app_config["INSTANCE_PATH"], "base": collect.base, "public_key": key.public_key,
           "manifest": base64.b64encode(manifest).decode(),
           "parts": {name: base64.b64encode(data).decode() for name, data in parts.items()}}
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", _WEB_PROCESS, json.dumps(job)], capture_output=True, text=True,
                            cwd=ROOT, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"status": 201, "key_in_form": True, "listing": 200, "decrypt_loaded": False,
                       "web_loaded": True}
    db.session.rollback()
    assert db.session.scalar(select(OdkEncryptedSubmission)).due_at is not None


def test_no_web_module_imports_the_decryption() -> None:
    """Statically too: only the workers' tasks and the CLI (processes of their own) name the module
    that unwraps an organisation's private key."""
    import ast

    importers = set()
    for path in [*(ROOT / "intake").rglob("*.py"), *(ROOT / "workers").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module or ''}.{a.name}" for a in node.names] + [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n.endswith("decrypt") or n.endswith(".decrypt.") or "openrosa.decrypt" in n for n in names):
                importers.add(path.relative_to(ROOT).as_posix())
    assert importers == {"intake/cli.py", "workers/tasks.py"}


def test_rotation_rewraps_the_private_key(app: Any, org: Any) -> None:
    from intake import crypto
    from intake.keys import rewrap_all

    key = encrypt_now(org)
    before = key.private_key_wrapped
    new = crypto.new_master_key().encode()
    ring = crypto.Keyring((new, *crypto.active_keyring().keys))
    rewrap_all(db.session, ring)
    db.session.rollback()
    key = db.session.get(OdkFormKey, key.id)
    assert key.private_key_wrapped != before and key.master_key_id == crypto.master_key_id(new)
    assert crypto.Keyring((new,)).unwrap(key.private_key_wrapped) == crypto.active_keyring().unwrap(before)


def test_cli_encrypts_the_form(app: Any, app_config: dict[str, Any], org: Any, reporter: Any) -> None:
    """`intake device encrypt-form ORG` makes the key pair in its own process, audited; asked twice, it says so."""
    from click.testing import CliRunner

    from intake.cli import main

    env = {"INTAKE_SECRET_KEY": SECRET, "INTAKE_DATABASE_URL": app_config["DATABASE_URL"],
           "INTAKE_BROKER_URL": app_config["BROKER_URL"], "INTAKE_INSTANCE_PATH": app_config["INSTANCE_PATH"]}
    result = CliRunner(env=env).invoke(main, ["device", "encrypt-form", org.name], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    collect = phone(app, reporter)
    key = encrypted.current_key(db.session, org.id)
    assert key is not None and form_public_key(collect.download(collect.form_list()[0])) == key.public_key
    again = CliRunner(env=env).invoke(main, ["device", "encrypt-form", org.name], catch_exceptions=False)
    assert again.exit_code == 1 and "encrypted already" in again.output
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == AuditAction.ODK_FORM_ENCRYPTED.value))
    assert entry is not None and entry.detail == {"via": "cli"}
