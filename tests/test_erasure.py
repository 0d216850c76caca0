"""Erasure ends the data's life in this installation (issue 12, item 10).

A report erased by retention loses its wrapped data key; its erasure epoch is then shredded: the
epoch's other keys go under a new KEK and the old KEK's row is deleted, so the wrapped key as it was
before (kept by a dead row version, the WAL or a copy taken earlier) unwraps with nothing the
installation has, master keys included. Neither the wrapped key nor the old KEK is in the database
file (SQLite) or a pg_dump and the raw pages of the tables (PostgreSQL); the victims' and witnesses'
keyed pseudonyms are gone with the names; the stored files are overwritten before they are unlinked.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from intake import crypto
from intake.enums import ReportState
from intake.extensions import db
from intake.media import store_upload, stored_path
from intake.models import DataKey, KeyEpoch, Report, Victim, Witness
from intake.retention import apply_retention
from tests.conftest import jpeg_bytes
from tests.test_canary import pg_dump
from tests.test_encryption import NARRATIVE, file_report


def database_bytes(url: str) -> bytes:
    """What a thief of the disk reads: the SQLite file and its WAL, or a pg_dump and the raw pages of
    the key tables (pageinspect, when the server has it)."""
    if url.startswith("sqlite"):
        path = Path(make_url(url).database or "")
        # Read by another process: closing a descriptor of the database file in this one would cancel
        # every POSIX lock SQLite holds on it here, and a worker closing its last connection would
        # then take itself for the last user and delete the WAL under this process's connections.
        files = [str(p) for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
        return subprocess.run(["cat", *files], capture_output=True, check=True, timeout=60).stdout
    found = pg_dump(url)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
            except Exception:  # noqa: BLE001 (no pageinspect on this server: the dump alone is searched)
                return found
            for table in ("key_epochs", "data_keys"):
                pages = conn.execute(text(f"SELECT pg_relation_size('{table}') / current_setting('block_size')::int"
                                          )).scalar_one()
                for page in range(int(pages)):
                    found += bytes(conn.execute(text(f"SELECT get_raw_page('{table}', {page})")).scalar_one())
    finally:
        engine.dispose()
    return found


def test_erasure_destroys_the_wrapped_key_its_epoch_key_pseudonyms_and_files(app: Any, reporter: Any) -> None:
    with app.app_context():
        old, survivor = file_report(reporter, locality="Old"), file_report(reporter, locality="Survivor")
        attachment, _ = store_upload(db.session, app.config, io.BytesIO(jpeg_bytes()), "a.jpg", reporter, report=old)
        old.victims[0].pseudonym = "PERSON-4f2a9c1d"
        old.witnesses[0].pseudonym = "PERSON-77b0e3aa"
        db.session.commit()
        path = stored_path(app.config, attachment)
        # A second name for the stored file: what an unlink alone would leave readable on the disk.
        twin = path.with_name(path.name + ".twin")
        os.link(path, twin)
        sealed_file = twin.read_bytes()
        key = db.session.get(DataKey, old.data_key_id)
        assert key is not None and key.wrapped is not None
        old_wrapped = bytes(key.wrapped)
        epoch_id = key.epoch_id
        assert epoch_id is not None and survivor.data_key.epoch_id == epoch_id, "keys of one day share an epoch"
        epoch = db.session.get(KeyEpoch, epoch_id)
        assert epoch is not None
        old_kek_wrapped = bytes(epoch.wrapped)
        old.state, old.state_changed_at = ReportState.REJECTED, dt.datetime.now(dt.UTC) - dt.timedelta(days=200)
        db.session.commit()
        old_id, survivor_id = old.id, survivor.id
        assert apply_retention(db.session, app.config) == 1
        db.session.remove()

    with app.app_context():
        # The wrapped key as it was opens with no master key, and with no KEK the installation has.
        keyring = app.extensions["intake_keys"].keyring()
        with pytest.raises(crypto.DataKeyUnavailable):
            keyring.unwrap(old_wrapped)
        assert db.session.get(KeyEpoch, epoch_id) is None, "the erased key's epoch KEK is destroyed"
        for other in db.session.scalars(select(KeyEpoch)):
            with pytest.raises(crypto.DataKeyUnavailable):
                crypto.unwrap_under_epoch(other.plain(), old_wrapped)
        # The rest of that day's reports still open, under a new epoch.
        kept = db.session.get(Report, survivor_id)
        assert kept is not None and kept.narrative == NARRATIVE
        assert kept.data_key.epoch_id not in (None, epoch_id)
        # Pseudonyms go with the names.
        assert db.session.scalars(select(Victim.pseudonym).where(Victim.report_id == old_id)).all() == [None, None]
        assert db.session.scalars(select(Witness.pseudonym).where(Witness.report_id == old_id)).all() == [None]
        db.session.remove()
    # The file's bytes were overwritten before the unlink.
    assert not path.exists()
    assert twin.read_bytes() != sealed_file and set(twin.read_bytes()) == {0}
    # Nothing of the wrapped key or the old KEK is left where a thief of the disk reads. (PostgreSQL
    # keeps a deleted row version while any open transaction may still see it, as the test's own
    # session may: the next retention pass, with those transactions ended, purges again.)
    db.session.rollback()
    with app.app_context():
        assert apply_retention(db.session, app.config) == 0
        db.session.remove()
    stolen = database_bytes(app.config["DATABASE_URL"])
    for needle in (old_wrapped, old_kek_wrapped):
        assert needle not in stolen and needle.hex().encode() not in stolen


def test_a_submission_written_under_a_shredded_epoch_is_written_again(app: Any, client: Any, reporter: Any) -> None:
    """A process that still keeps a shredded epoch in memory does not lose the report it accepts."""
    from intake import keys
    from tests.conftest import file_accepted, make_token
    from tests.test_api import filed

    token = make_token(reporter)
    first = filed(client, token, key="epoch-00001")
    file_accepted()
    with app.app_context():
        report = db.session.scalar(select(Report).where(Report.public_id == first["id"]))
        assert report is not None and report.data_key.epoch_id is not None
        kept = keys._journal_epoch
        assert kept is not None
        assert keys.shred_epoch(db.session, report.data_key.epoch_id)
        db.session.commit()
        keys._journal_epoch = kept  # as if this process had not seen the shredding
        db.session.remove()
    second = filed(client, token, key="epoch-00002")
    file_accepted()
    with app.app_context():
        for public_id in (first["id"], second["id"]):
            got = db.session.scalar(select(Report).where(Report.public_id == public_id))
            assert got is not None and got.narrative
        db.session.remove()


def test_a_key_read_before_its_epoch_was_shredded_still_opens(app: Any, reporter: Any) -> None:
    """A request that read a data key row just before another process shredded its epoch opens it."""
    from sqlalchemy.orm import Session

    from intake import keys

    with app.app_context():
        report_id = file_report(reporter, locality="Early").id
        db.session.remove()
    with app.app_context():
        report = db.session.get(Report, report_id)
        assert report is not None
        key = report.data_key
        assert key.epoch_id is not None and "_plain" not in key.__dict__
        with Session(db.engine) as other:
            assert keys.shred_epoch(other, key.epoch_id)
            other.commit()
        assert report.narrative == NARRATIVE
        db.session.remove()
