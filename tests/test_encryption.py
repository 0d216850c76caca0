"""Encryption at rest: what the database and the disk hold, key rotation, erasure and retention."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text

from intake import crypto
from intake.cli import main, upgrade_database
from intake.enums import AttachmentStatus, Channel, ReportState
from intake.extensions import db
from intake.media import read_original, store_upload, stored_path
from intake.models import DataKey, Report
from intake.reports import submit_report
from intake.retention import apply_retention
from intake.schema import ReportIn
from tests.conftest import SECRET, complete_report, jpeg_bytes

NARRATIVE = "Canary-narrative-7f3a: the drone hit the queue outside the bakery."
WITNESS = "Canary Witness Qx9"
PHONE = "+374 77 918273"


def file_report(reporter: Any, **overrides: Any) -> Report:
    body = complete_report(narrative=NARRATIVE, **overrides)
    body["witnesses"] = [{"name": WITNESS, "phone": PHONE, "email": "qx9@example.org", "relation": "neighbour",
                          "may_contact": True}]
    report = submit_report(db.session, reporter, ReportIn.model_validate(body), Channel.API,
                           f"sub-{overrides.get('locality', 'x')}-{id(body)}").report
    db.session.commit()
    return report


def raw_rows(app: Any, sql: str) -> str:
    """Everything a query of the raw tables returns, as text a person searching a dump would see."""
    engine = create_engine(app.config["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return repr(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def test_sealed_fields_read_back_but_are_not_in_the_tables(app: Any, reporter: Any) -> None:
    """The app reads narrative, coordinates and identities back; the tables hold none of them in clear."""
    with app.app_context():
        report = file_report(reporter)
        public_id = report.public_id
    db.session.remove()
    with app.app_context():
        again = db.session.scalar(select(Report).where(Report.public_id == public_id))
        assert again is not None
        assert again.narrative == NARRATIVE
        assert (again.latitude, again.longitude) == (39.5057, 46.4362)
        assert [(w.name, w.phone, w.may_contact) for w in again.witnesses] == [(WITNESS, PHONE, True)]
        assert [v.name for v in again.victims] == ["Anahit Petrosyan", "Aram Petrosyan"]
        assert [link.url for link in again.links] == ["https://t.me/example/123"]
    dump = "".join(raw_rows(app, f"SELECT * FROM {table}")  # noqa: S608  (fixed table names)
                   for table in ("reports", "victims", "witnesses", "links", "data_keys"))
    for secret in ("Canary-narrative", "bakery", WITNESS, "918273", "qx9@", "Petrosyan", "39.5057", "t.me"):
        assert secret not in dump
    # What stays in the clear is what the queue filters and sorts on.
    assert "Khndzoresk" in dump and "Bayraktar TB2" in dump


def test_account_emails_and_second_factor_secrets_are_wrapped_by_the_master_key(app: Any, org: Any) -> None:
    """A copy of the users table lists no field worker's e-mail and hands out nobody's second factor;
    accounts are still found by e-mail, during and after a rotation."""
    from intake.enums import Role
    from intake.keys import rewrap_all
    from tests.conftest import make_user

    with app.app_context():
        verifier = make_user(org, Role.VERIFIER, "totp@example.org")
        secret = verifier.totp_secret
        assert secret and secret.encode() not in (verifier.totp_secret_wrapped or b"")
        User = type(verifier)  # noqa: N806
        source = app.extensions["intake_keys"]
        source.write((crypto.new_master_key().encode(), *source.keyring().keys))
        # Mid-rotation: the index is still under the old key, and the lookup finds it.
        assert db.session.scalar(select(User).where(User.email == " TOTP@example.org")) is verifier
        rewrap_all(db.session, source.keyring())
        source.write(source.keyring().keys[:1])
        db.session.expire_all()
        again = db.session.scalar(select(User).where(User.email == "totp@example.org"))
        assert again is not None and again.totp_secret == secret and again.email == "totp@example.org"
    table = raw_rows(app, "SELECT * FROM users")
    assert secret not in table and "totp@example" not in table and "@example.org" not in table


def test_a_changed_field_is_sealed_again(app: Any, reporter: Any) -> None:
    """Editing a sealed field of a stored report writes a new sealed document (and no clear text)."""
    with app.app_context():
        report = file_report(reporter)
        report.witnesses[0].phone = "+374 55 000111"
        report.narrative = "Corrected account of the strike."
        db.session.commit()
        public_id = report.public_id
    db.session.remove()
    with app.app_context():
        again = db.session.scalar(select(Report).where(Report.public_id == public_id))
        assert again is not None and again.narrative == "Corrected account of the strike."
        assert again.witnesses[0].phone == "+374 55 000111" and again.witnesses[0].name == WITNESS
    assert "000111" not in raw_rows(app, "SELECT * FROM witnesses")


def test_each_report_has_its_own_data_key(app: Any, reporter: Any) -> None:
    """Two reports never share a data key, and no data key is stored unwrapped."""
    with app.app_context():
        first, second = file_report(reporter, locality="A"), file_report(reporter, locality="B")
        assert first.data_key_id != second.data_key_id
        assert first.data_key.plain() != second.data_key.plain()
        for key in db.session.scalars(select(DataKey)):
            assert key.wrapped is not None and key.plain() not in key.wrapped


def test_a_sealed_value_moved_to_another_report_does_not_open(app: Any, reporter: Any) -> None:
    """Copying one report's sealed document onto another's row fails loudly instead of showing it."""
    with app.app_context():
        first, second = file_report(reporter, locality="A"), file_report(reporter, locality="B")
        second.sealed = first.sealed
        second.__dict__.pop("_sealed_state", None)
        with pytest.raises(crypto.SealBroken):
            _ = second.narrative
        db.session.rollback()


def test_files_are_sealed_and_open_only_with_their_key(app: Any, reporter: Any) -> None:
    """An original on disk is ciphertext; it opens with its report's key and is bound to its own name."""
    content = jpeg_bytes((320, 240))
    with app.app_context():
        report = file_report(reporter)
        attachment, _ = store_upload(db.session, app.config, io.BytesIO(content), "crater.jpg", reporter,
                                     report=report, description="Canary description Zt4")
        db.session.commit()
        raw = stored_path(app.config, attachment).read_bytes()
        assert content[200:260] not in raw and raw.startswith(crypto.FILE_MAGIC)
        assert b"".join(read_original(app.config, attachment)) == content
        assert attachment.data_key_id == report.data_key_id
        # Another key, or the same key with another file's name, opens nothing.
        with pytest.raises(crypto.SealBroken):
            list(crypto.open_sealed_file(io.BytesIO(raw), crypto.new_data_key(), b"intake:file:x"))
        with pytest.raises(crypto.SealBroken):
            list(crypto.open_sealed_file(io.BytesIO(raw), attachment.data_key.plain(), b"intake:file:other"))
        # A truncated file is refused, not returned short.
        with pytest.raises(crypto.SealBroken):
            list(crypto.open_sealed_file(io.BytesIO(raw[:-20]), attachment.data_key.plain(),
                                         f"intake:file:{attachment.storage_name}".encode()))
    assert "Zt4" not in raw_rows(app, "SELECT * FROM attachments")
    assert "crater" not in raw_rows(app, "SELECT * FROM attachments")


@pytest.mark.parametrize("size", [0, 1, crypto.FILE_CHUNK - 1, crypto.FILE_CHUNK, crypto.FILE_CHUNK + 1,
                                  3 * crypto.FILE_CHUNK])
def test_sealed_file_round_trip_at_chunk_edges(size: int) -> None:
    """Files of every length around the chunk size come back byte for byte."""
    data = bytes(i % 251 for i in range(size))
    key = crypto.new_data_key()
    out = io.BytesIO()
    writer = crypto.SealedFileWriter(out, key, b"aad")
    for start in range(0, size, 7000):
        writer.write(data[start:start + 7000])
    writer.close()
    out.seek(0)
    assert b"".join(crypto.open_sealed_file(out, key, b"aad")) == data


@pytest.fixture
def run(app: Any, app_config: dict[str, Any]) -> Any:
    env = {"INTAKE_SECRET_KEY": SECRET, "INTAKE_DATABASE_URL": app_config["DATABASE_URL"],
           "INTAKE_BROKER_URL": app_config["BROKER_URL"], "INTAKE_INSTANCE_PATH": app_config["INSTANCE_PATH"]}

    def invoke(*args: str) -> Any:
        return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_rotation_rewraps_every_key_and_every_report_still_opens(app: Any, reporter: Any, run: Any,
                                                                 instance_path: Path) -> None:
    """`intake keys rotate` on a populated database: new primary, every data key rewrapped, all readable;
    `intake keys retire` then drops the old key, and the reports still open with the new one alone."""
    with app.app_context():
        ids = [file_report(reporter, locality=f"L{i}").public_id for i in range(12)]
        first = db.session.scalar(select(Report).where(Report.public_id == ids[0]))
        attachment, _ = store_upload(db.session, app.config, io.BytesIO(jpeg_bytes()), "a.jpg", reporter,
                                     report=first)
        db.session.commit()
        assert first is not None and attachment.data_key_id == first.data_key_id
        assert db.session.scalar(select(func.count()).select_from(DataKey)) == 12
    key_file = instance_path / "master_key"
    old = crypto.parse_master_keys(key_file.read_text())
    rotated = run("keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert "Rewrapped 12 data key(s)" in rotated.output, rotated.output
    keys_now = crypto.parse_master_keys(key_file.read_text())
    assert keys_now[1:] == old and keys_now[0] not in old
    status = run("keys", "status")
    assert f"{crypto.master_key_id(keys_now[0])}  primary (wraps new keys): wraps 12" in status.output
    assert f"{crypto.master_key_id(old[0])}  accepted (unwraps only): wraps 0" in status.output

    retired = run("keys", "retire")
    assert retired.exit_code == 0, retired.output
    assert crypto.parse_master_keys(key_file.read_text()) == keys_now[:1]
    # A fresh process with only the new key reads everything, files included.
    db.session.remove()
    with app.app_context():
        for public_id in ids:
            report = db.session.scalar(select(Report).where(Report.public_id == public_id))
            assert report is not None and report.narrative == NARRATIVE and report.witnesses[0].name == WITNESS
        first = db.session.scalar(select(Report).where(Report.public_id == ids[0]))
        assert first is not None
        assert b"".join(read_original(app.config, first.attachments[0])) == jpeg_bytes()
        # And the old key alone opens nothing any more.
        wrapped = db.session.scalars(select(DataKey.wrapped)).all()
        with pytest.raises(crypto.DataKeyUnavailable):
            crypto.Keyring(old).unwrap(wrapped[0] or b"")


def test_retention_erases_originals_of_old_rejected_reports(app: Any, reporter: Any, run: Any) -> None:
    """A report rejected longer ago than the rule allows loses its originals for good, files included;
    its publishable fields stay, newer or other reports are untouched, and the audit log says so."""
    from intake.models import StateTransition

    with app.app_context():
        old, recent, verified = (file_report(reporter, locality=name) for name in ("Old", "Recent", "Verified"))
        attachment, _ = store_upload(db.session, app.config, io.BytesIO(jpeg_bytes()), "a.jpg", reporter,
                                     report=old)
        path = stored_path(app.config, attachment)
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=200)
        for report, state, when in ((old, ReportState.REJECTED, long_ago),
                                    (recent, ReportState.REJECTED, dt.datetime.now(dt.UTC)),
                                    (verified, ReportState.VERIFIED, long_ago)):
            report.state, report.state_changed_at = state, when
        db.session.commit()
        key_id = old.data_key_id
        assert apply_retention(db.session, app.config) == 1
        assert apply_retention(db.session, app.config) == 0, "erasure happens once"
    assert not path.exists()
    db.session.remove()
    with app.app_context():
        gone = db.session.scalar(select(Report).where(Report.locality == "Old"))
        assert gone is not None and gone.erased
        assert gone.narrative == "" and gone.witnesses[0].name is None
        assert gone.platform_model == "Bayraktar TB2" and gone.total(gone_harm()) == 2
        assert gone.attachments[0].status == AttachmentStatus.ERASED
        key = db.session.get(DataKey, key_id)
        assert key is not None and key.wrapped is None and key.erased_at is not None
        for name in ("Recent", "Verified"):
            kept = db.session.scalar(select(Report).where(Report.locality == name))
            assert kept is not None and kept.narrative == NARRATIVE
        assert db.session.scalar(select(StateTransition).limit(1)) is not None
    verify = run("audit", "verify")
    assert verify.exit_code == 0, verify.output
    assert "report.originals_erased" in raw_rows(app, "SELECT action FROM audit_log")
    assert "Old" not in raw_rows(app, "SELECT * FROM audit_log")


def gone_harm() -> Any:
    from intake.enums import Harm

    return Harm.KILLED


def test_a_misspelt_retention_rule_stops_the_start(app_config: dict[str, Any]) -> None:
    """`RETENTION_DAYS={"rejectd": 30}` must not silently keep everything forever."""
    from intake import create_app
    from intake.config import ConfigError

    with pytest.raises(ConfigError, match="rejectd"):
        create_app({**app_config, "RETENTION_DAYS": {"rejectd": 30}})


def test_migration_seals_existing_reports_and_files(tmp_path: Path, app_config: dict[str, Any]) -> None:
    """A database from before encryption (0003) with reports, witnesses and a file: `intake db upgrade`
    seals them all, and they read back the same."""
    from intake import create_app

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    upgrade_database(url, "0003")
    uploads = tmp_path / "uploads"
    (uploads / "ab").mkdir(parents=True)
    content = jpeg_bytes()
    (uploads / "ab" / "ab12").write_bytes(content)
    engine = create_engine(url)
    now = dt.datetime.now(dt.UTC).isoformat()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO organisations (id, public_id, name, created_at) VALUES (1, 'o', 'Org', :n)"),
                     {"n": now})
        conn.execute(text("INSERT INTO users (id, public_id, organisation_id, email, password_hash, role, active, "
                          "created_at) VALUES (1, 'u', 1, 'r@example.org', 'x', 'reporter', 1, :n)"), {"n": now})
        counts = ", ".join(f"{h}_{g}" for h in ("killed", "injured", "missing")
                           for g in ("men", "women", "boys", "girls", "unknown"))
        insert_report = (
            "INSERT INTO reports (id, public_id, receipt_code, organisation_id, reporter_id, channel, "  # noqa: S608
            "submission_id, "
            "state, received_at, state_changed_at, occurred_on, date_precision, country, latitude, longitude, "
            "location_precision, incident_type, narrative, delivery_platform, remnants_found, source_type, consent, "
            f"risk_to_source, {counts}) VALUES (1, 'r1', 'AAAA-BBBB', 1, 1, 'api', 's1', 'triage', :n, :n, "
            "'2026-03-14', 'exact', 'AM', 39.5, 46.4, 'exact', 'airstrike', :narr, 'aircraft', 'no', 'eyewitness', "
            f"'internal_only', 'low', {', '.join(['0'] * 15)})"
        )
        conn.execute(text(insert_report), {"n": now, "narr": NARRATIVE})
        conn.execute(text("INSERT INTO state_transitions (report_id, from_state, to_state, actor_id, reason, at) "
                          "VALUES (1, 'in_review', 'rejected', 1, 'Witnesscanary says it was another day', :n)"),
                     {"n": now})
        conn.execute(text("INSERT INTO witnesses (report_id, position, name, phone, email, relation, may_contact) "
                          "VALUES (1, 0, :w, :p, NULL, 'neighbour', 1)"), {"w": WITNESS, "p": PHONE})
        conn.execute(text("INSERT INTO attachments (public_id, organisation_id, report_id, uploaded_by_id, "
                          "storage_name, original_filename, media_type, size, sha256, status, embedded_metadata, "
                          "created_at) VALUES ('a1', 1, 1, 1, 'ab12', 'crater.jpg', 'image/jpeg', :s, 'h', "
                          "'inspected', :m, :n)"),
                     {"s": len(content), "m": json.dumps({"gps_latitude": 39.5}), "n": now})
    engine.dispose()
    app = create_app({**app_config, "DATABASE_URL": url, "UPLOAD_PATH": str(uploads)})
    upgrade_database(url, app=app)
    with app.app_context():
        report = db.session.get(Report, 1)
        assert report is not None and report.narrative == NARRATIVE and report.latitude == 39.5
        assert report.witnesses[0].phone == PHONE and report.witnesses[0].may_contact is True
        attachment = report.attachments[0]
        assert attachment.original_filename == "crater.jpg"
        assert attachment.embedded_metadata == {"gps_latitude": 39.5}
        assert b"".join(read_original(app.config, attachment)) == content
        from intake.models import User

        account = db.session.scalar(select(User).where(User.email == "r@example.org"))
        assert account is not None and account.email == "r@example.org"
        assert [t.reason for t in report.transitions] == ["Witnesscanary says it was another day"]
        db.session.remove()
    assert not list(uploads.glob("*/*.v4"))
    assert content[100:140] not in (uploads / "ab" / "ab12").read_bytes()
    old_file = (tmp_path / "old.sqlite3").read_bytes().decode("latin-1")
    assert WITNESS not in old_file and "r@example.org" not in old_file and "Witnesscanary" not in old_file
    app.extensions["intake_db"].dispose(app)
