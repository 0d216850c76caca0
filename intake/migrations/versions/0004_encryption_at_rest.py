"""encryption at rest: a data key per report; sensitive and identifying fields sealed

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 02:40:42.492142

Existing rows are sealed in place: each report gets a data key wrapped by the master key, its
narrative, coordinates, victims' names, witnesses and links go into sealed documents, and each
stored file is sealed into a `.v4` file beside it, which `intake db upgrade` puts in place of the
plain file once this migration has committed (see `intake.cli.upgrade_database`). Run it through
`intake db upgrade`, which supplies the master key and the upload folder.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

import intake.models

# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEALED_SUFFIX = ".v4"


def upgrade() -> None:
    op.create_table(
        'data_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('wrapped', sa.LargeBinary(), nullable=True),
        sa.Column('master_key_id', sa.String(length=16), nullable=True),
        sa.Column('created_at', intake.models.Timestamp(timezone=True), nullable=False),
        sa.Column('erased_at', intake.models.Timestamp(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_data_keys')),
    )
    with op.batch_alter_table('data_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_keys_master_key_id'), ['master_key_id'], unique=False)
    for table in ('reports', 'attachments'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('data_key_id', sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column('sealed', sa.LargeBinary(), nullable=True))
    for table in ('victims', 'witnesses', 'links'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('sealed', sa.LargeBinary(), nullable=True))

    _seal_existing_rows()

    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.alter_column('data_key_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f('ix_attachments_data_key_id'), ['data_key_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_attachments_data_key_id_data_keys'), 'data_keys',
                                    ['data_key_id'], ['id'])
        batch_op.drop_column('description')
        batch_op.drop_column('embedded_metadata')
        batch_op.drop_column('original_filename')
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_column('url')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.alter_column('data_key_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f('ix_reports_data_key_id'), ['data_key_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_reports_data_key_id_data_keys'), 'data_keys',
                                    ['data_key_id'], ['id'])
        batch_op.drop_column('narrative')
        batch_op.drop_column('longitude')
        batch_op.drop_column('latitude')
    with op.batch_alter_table('victims', schema=None) as batch_op:
        batch_op.drop_column('name')
    with op.batch_alter_table('witnesses', schema=None) as batch_op:
        batch_op.drop_column('relation')
        batch_op.drop_column('may_contact')
        batch_op.drop_column('email')
        batch_op.drop_column('name')
        batch_op.drop_column('phone')


def _seal_existing_rows() -> None:
    from intake import crypto

    conn = op.get_bind()
    count = conn.execute(sa.text("SELECT (SELECT count(*) FROM reports) + (SELECT count(*) FROM attachments)"))
    if not count.scalar():
        return
    from intake.migrations.sealing import keyring_for_sealing, upload_path

    keyring = keyring_for_sealing("existing reports")
    uploads = upload_path()
    now = intake.models.utcnow()

    def new_key() -> tuple[int, bytes]:
        plain = crypto.new_data_key()
        key_id = conn.execute(
            sa.text("INSERT INTO data_keys (wrapped, master_key_id, created_at) VALUES (:w, :m, :c) RETURNING id"),
            {"w": keyring.wrap(plain), "m": keyring.primary_id, "c": now},
        ).scalar_one()
        return key_id, plain

    def sealed(plain: bytes, table: str, document: dict[str, Any]) -> bytes:
        payload = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return crypto.seal(plain, payload.encode(), f"intake:{table}".encode())

    report_keys: dict[int, tuple[int, bytes]] = {}
    for report_id, narrative, latitude, longitude in conn.execute(
        sa.text("SELECT id, narrative, latitude, longitude FROM reports ORDER BY id")
    ).all():
        key_id, plain = report_keys[report_id] = new_key()
        document = {"narrative": narrative, "latitude": latitude, "longitude": longitude}
        conn.execute(sa.text("UPDATE reports SET data_key_id = :k, sealed = :s WHERE id = :i"),
                     {"k": key_id, "s": sealed(plain, "reports", document), "i": report_id})
    child_fields = {
        "victims": ("name",),
        "witnesses": ("name", "phone", "email", "relation", "may_contact"),
        "links": ("url",),
    }
    for table, fields in child_fields.items():
        rows = conn.execute(sa.text(f"SELECT id, report_id, {', '.join(fields)} FROM {table}")).all()  # noqa: S608
        for row in rows:
            document = dict(zip(fields, row[2:], strict=True))
            if "may_contact" in document:
                document["may_contact"] = bool(document["may_contact"])
            plain = report_keys[row[1]][1]
            conn.execute(sa.text(f"UPDATE {table} SET sealed = :s WHERE id = :i"),  # noqa: S608
                         {"s": sealed(plain, table, document), "i": row[0]})

    stash_keys: dict[tuple[int, str | None], tuple[int, bytes]] = {}
    for row in conn.execute(sa.text(
        "SELECT id, report_id, uploaded_by_id, stash_key, storage_name, original_filename, description, "
        "embedded_metadata FROM attachments ORDER BY id"
    )).all():
        (att_id, report_id, uploader, stash, storage_name, filename, description, metadata) = row
        if report_id is not None:
            key_id, plain = report_keys[report_id]
        else:
            key_id, plain = stash_keys.setdefault((uploader, stash), new_key())
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        document = {"original_filename": filename, "description": description, "embedded_metadata": metadata}
        conn.execute(sa.text("UPDATE attachments SET data_key_id = :k, sealed = :s WHERE id = :i"),
                     {"k": key_id, "s": sealed(plain, "attachments", document), "i": att_id})
        _seal_file(Path(uploads) / storage_name[:2] / storage_name, plain, storage_name)


def _seal_file(path: Path, plain_key: bytes, storage_name: str) -> None:
    """Seal `path` into `path.v4`; the plain file stays until the migration has committed."""
    from intake import crypto

    if not path.exists():
        return  # inspected as "file missing from storage" by the worker, as before
    target = path.with_name(path.name + SEALED_SUFFIX)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out, open(path, "rb") as source:
        writer = crypto.SealedFileWriter(out, plain_key, f"intake:file:{storage_name}".encode())
        while chunk := source.read(1024 * 1024):
            writer.write(chunk)
        writer.close()


def downgrade() -> None:
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT count(*) FROM reports")).scalar():
        raise RuntimeError("downgrading below 0004 would decrypt every report into plain columns; refused")
    with op.batch_alter_table('witnesses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.VARCHAR(length=64), nullable=True))
        batch_op.add_column(sa.Column('name', sa.VARCHAR(length=300), nullable=True))
        batch_op.add_column(sa.Column('email', sa.VARCHAR(length=320), nullable=True))
        batch_op.add_column(sa.Column('may_contact', sa.BOOLEAN(), nullable=False))
        batch_op.add_column(sa.Column('relation', sa.VARCHAR(length=200), nullable=True))
        batch_op.drop_column('sealed')
    with op.batch_alter_table('victims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', sa.VARCHAR(length=300), nullable=True))
        batch_op.drop_column('sealed')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('latitude', sa.FLOAT(), nullable=True))
        batch_op.add_column(sa.Column('longitude', sa.FLOAT(), nullable=True))
        batch_op.add_column(sa.Column('narrative', sa.TEXT(), nullable=False))
        batch_op.drop_constraint(batch_op.f('fk_reports_data_key_id_data_keys'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_reports_data_key_id'))
        batch_op.drop_column('sealed')
        batch_op.drop_column('data_key_id')
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('url', sa.VARCHAR(length=2000), nullable=False))
        batch_op.drop_column('sealed')
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('original_filename', sa.VARCHAR(length=255), nullable=True))
        batch_op.add_column(sa.Column('embedded_metadata', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('description', sa.TEXT(), nullable=True))
        batch_op.drop_constraint(batch_op.f('fk_attachments_data_key_id_data_keys'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_attachments_data_key_id'))
        batch_op.drop_column('sealed')
        batch_op.drop_column('data_key_id')
    with op.batch_alter_table('data_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_keys_master_key_id'))
    op.drop_table('data_keys')
