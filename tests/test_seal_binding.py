"""Sealed values are bound to their row, their report and its reporter (issue 12, item 11).

Someone with write access to the database moves sealed documents between rows, gives a report to
another reporter, or moves a file row to another report: each such value then fails its check
(`SealBroken`) instead of showing one person's data in another's place. Migration 0015d reseals
what was bound to its table only, and running it again over documents already bound changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, select, text, update

from intake import crypto
from intake.cli import alembic_config, upgrade_database
from intake.crypto import SealBroken
from intake.enums import Role
from intake.extensions import db
from intake.media import read_original
from intake.models import Attachment, Report, Submission, Victim
from tests.conftest import complete_report, file_accepted, jpeg_bytes, make_org, make_token, make_user
from tests.test_api import bearer, filed, upload

REPORTS = "/api/v1/reports"


def two_victims() -> dict[str, Any]:
    body = complete_report()
    first = dict(body["victims"][0])
    body["victims"] = [{**first, "name": "Anahit Sargsyan"}, {**first, "name": "Davit Grigoryan"}]
    return body


def refused(call: Any) -> bool:
    """The read fails its check: SealBroken raised (the test app propagates errors) or an error answer."""
    try:
        response = call()
    except SealBroken:
        return True
    return response.status_code >= 400 and b"Anahit" not in response.data


def test_a_document_copied_to_another_row_of_the_report_does_not_open(app: Any, client: Any) -> None:
    reporter = make_user(make_org(), Role.REPORTER)
    token = make_token(reporter)
    created = client.post(REPORTS, json=two_victims(), headers={**bearer(token), "Idempotency-Key": "bind-0001"})
    assert created.status_code == 201
    file_accepted()
    first, second = db.session.scalars(select(Victim).order_by(Victim.position)).all()
    blob = first.sealed
    db.session.execute(update(Victim).where(Victim.id == second.id).values(sealed=blob))
    db.session.commit()
    db.session.expire_all()
    victim = db.session.get(Victim, second.id)
    assert victim is not None
    with pytest.raises(SealBroken, match="does not open in its row"):
        _ = victim.name
    assert refused(lambda: client.get(f"{REPORTS}/{created.get_json()['id']}", headers=bearer(token)))


def test_a_report_document_moved_to_another_report_does_not_open(app: Any, client: Any) -> None:
    """Report B is given A's data key and A's sealed document: it does not show A's account."""
    reporter = make_user(make_org(), Role.REPORTER)
    token = make_token(reporter)
    a = filed(client, token, key="bind-a0001")
    b = filed(client, token, key="bind-b0001")
    file_accepted()
    report_a = db.session.scalar(select(Report).where(Report.public_id == a["id"]))
    assert report_a is not None
    values = {"sealed": report_a.sealed, "data_key_id": report_a.data_key_id}
    db.session.execute(update(Report).where(Report.public_id == b["id"]).values(**values))
    db.session.commit()
    db.session.expire_all()
    report_b = db.session.scalar(select(Report).where(Report.public_id == b["id"]))
    assert report_b is not None
    with pytest.raises(SealBroken):
        _ = report_b.narrative


def test_a_report_given_to_another_reporter_does_not_open_for_them(app: Any, client: Any) -> None:
    org = make_org()
    owner, other = make_user(org, Role.REPORTER), make_user(org, Role.REPORTER)
    owner_token, other_token = make_token(owner), make_token(other)
    body = two_victims()
    created = client.post(REPORTS, json=body, headers={**bearer(owner_token), "Idempotency-Key": "bind-0002"})
    public_id = created.get_json()["id"]
    file_accepted()
    db.session.execute(update(Report).where(Report.public_id == public_id).values(reporter_id=other.id))
    db.session.commit()
    assert refused(lambda: client.get(f"{REPORTS}/{public_id}", headers=bearer(other_token)))


def test_a_journalled_submission_given_to_another_reporter_does_not_open(app: Any, client: Any) -> None:
    org = make_org()
    owner, other = make_user(org, Role.REPORTER), make_user(org, Role.REPORTER)
    owner_token, other_token = make_token(owner), make_token(other)
    created = client.post(REPORTS, json=two_victims(), headers={**bearer(owner_token), "Idempotency-Key": "bind-0003"})
    public_id = created.get_json()["id"]
    db.session.execute(update(Submission).where(Submission.public_id == public_id).values(reporter_id=other.id))
    db.session.commit()
    # Its filing fails its check (held for the workers and a coordinator); the reporter's read answers
    # that it is being filed, with nothing of what was sent.
    answer = client.get(f"{REPORTS}/{public_id}", headers=bearer(other_token))
    assert b"Anahit" not in answer.data
    assert answer.status_code >= 400 or (answer.get_json()["filing"] == "pending"
                                         and "submitted" not in answer.get_json())
    assert db.session.scalar(select(Report).where(Report.public_id == public_id)) is None


def test_a_file_row_moved_to_another_report_does_not_open(app: Any, client: Any) -> None:
    reporter = make_user(make_org(), Role.REPORTER)
    token = make_token(reporter)
    a = filed(client, token, key="bind-a0002")
    b = filed(client, token, key="bind-b0002")
    assert upload(client, token, a["id"], jpeg_bytes()).status_code == 201
    file_accepted()
    report_b = db.session.scalar(select(Report).where(Report.public_id == b["id"]))
    assert report_b is not None
    attachment = db.session.scalar(select(Attachment))
    assert attachment is not None
    # The row alone, and the row with report B made to use A's data key: neither opens.
    db.session.execute(update(Attachment).where(Attachment.id == attachment.id).values(report_id=report_b.id))
    db.session.commit()
    db.session.expire_all()
    with pytest.raises(SealBroken):
        b"".join(read_original(app.config, db.session.get(Attachment, attachment.id)))
    db.session.execute(update(Report).where(Report.id == report_b.id).values(data_key_id=attachment.data_key_id))
    db.session.commit()
    db.session.expire_all()
    with pytest.raises(SealBroken):
        b"".join(read_original(app.config, db.session.get(Attachment, attachment.id)))


def test_the_migration_reseals_what_was_bound_to_its_table_and_is_idempotent(
        tmp_path: Path, app_config: dict[str, Any]) -> None:
    """Data made at head, taken down to 0014 (bound to their tables again), then up: everything
    reads back; stamped at 0014 and upgraded once more (documents already bound), still."""
    from intake import create_app

    url = f"sqlite:///{tmp_path / 'bind.sqlite3'}"
    upgrade_database(url)
    app = create_app({**app_config, "DATABASE_URL": url})
    client = app.test_client()
    with app.app_context():
        reporter = make_user(make_org(), Role.REPORTER)
        token = make_token(reporter)
        filed_report = filed(client, token, key="mig-00001")
        file_accepted()
        assert upload(client, token, filed_report["id"], jpeg_bytes()).status_code == 201
        pending = client.post(REPORTS, json=two_victims(), headers={**bearer(token), "Idempotency-Key": "mig-00002"})
        assert pending.status_code == 201
        db.session.remove()

    def everything_reads() -> None:
        with app.app_context():
            db.session.expire_all()
            file_accepted()
            for report in db.session.scalars(select(Report)):
                assert report.narrative and [v.name for v in report.victims]
                assert [t.to_state for t in report.transitions]
                for attachment in report.attachments:
                    assert attachment.original_filename
                    assert b"".join(read_original(app.config, attachment)) == jpeg_bytes()
            db.session.remove()

    config = alembic_config(url)
    config.attributes["key_source"] = app.extensions["intake_keys"]
    command.downgrade(config, "0014")
    # At 0014: documents bound to their tables only, data keys wrapped by the master key.
    engine = create_engine(url)
    with engine.connect() as conn:
        sealed, wrapped = conn.execute(text(
            "SELECT r.sealed, k.wrapped FROM reports r JOIN data_keys k ON k.id = r.data_key_id")).first()
    engine.dispose()
    keyring = app.extensions["intake_keys"].keyring()
    assert crypto.unseal(keyring.unwrap(wrapped), sealed, b"intake:reports")
    upgrade_database(url, app=app)
    everything_reads()
    # 0015d run a second time over what it already resealed (later migrations are not re-runnable).
    command.stamp(alembic_config(url), ScriptDirectory.from_config(config).get_revision("0015d").down_revision)
    upgrade_database(url, "0015d", app=app)
    command.stamp(alembic_config(url), "head")
    everything_reads()
    app.extensions["intake_db"].dispose(app)
