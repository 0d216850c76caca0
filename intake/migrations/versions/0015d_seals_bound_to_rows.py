"""seals bound to their row, report and reporter; data keys under erasure epochs

Revision ID: 0015d
Revises: 0015f

Erasure epochs (`key_epochs`): every live data key, and every journalled submission's key, is
wrapped again under the key-encryption key of an epoch (one per day the key was made), itself
wrapped by the master keys; `intake db upgrade` then rewrites the tables, so the master-wrapped
copies do not stay behind as old row versions.

Every sealed document was bound (in its AES-GCM associated data) to its table only; it is sealed
again bound to its row, its report, the report's organisation and its reporter (see
`SealedRow._aad`), and journalled submissions to their reporter. Rows without a public id get a
random `seal_id` to name. A document that already opens under the new binding (sealed by a
migration that ran before this one with today's code) is left as it is, so running this again
changes nothing. Run it through `intake db upgrade`, which supplies the master keys.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import intake.models

# revision identifiers, used by Alembic.
revision: str = '0015d'
down_revision: str | Sequence[str] | None = '0015f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
# Tables whose rows get a seal_id (the others name their public id).
SEAL_ID_TABLES = ('victims', 'witnesses', 'links', 'redaction_corrections', 'state_transitions', 'assessments',
                  'review_comments')
# Rows of a report: sealed under the report's data key, bound to the report.
REPORT_ROWS = (*SEAL_ID_TABLES, 'info_requests')


def _report_context(public_id: str, organisation_id: int, reporter_id: int) -> str:
    return f"report:{public_id}:org:{organisation_id}:reporter:{reporter_id}"


def _aad(table: str, row_id: str, context: str) -> bytes:
    return f"intake:{table}:{row_id}:{context}".encode()


def _legacy(table: str) -> bytes:
    return f"intake:{table}".encode()


class _Keys:
    """Data keys by id, unwrapped once (None for an erased key); master-wrapped or under an epoch."""

    def __init__(self, conn: sa.Connection, keyring: Any) -> None:
        self.conn = conn
        self.keyring = keyring
        self.plain: dict[int, bytes | None] = {}
        self.epochs: dict[int, bytes] = {}

    def unwrap(self, wrapped: bytes, epoch_id: int | None) -> bytes:
        from intake import crypto

        if epoch_id is None:
            return bytes(self.keyring.unwrap(wrapped))
        if epoch_id not in self.epochs:
            kek = self.conn.execute(sa.text("SELECT wrapped FROM key_epochs WHERE id = :i"),
                                    {"i": epoch_id}).scalar_one()
            self.epochs[epoch_id] = self.keyring.unwrap(bytes(kek))
        return crypto.unwrap_under_epoch(self.epochs[epoch_id], wrapped)

    def get(self, key_id: int) -> bytes | None:
        if key_id not in self.plain:
            row = self.conn.execute(sa.text("SELECT wrapped, epoch_id FROM data_keys WHERE id = :i"),
                                    {"i": key_id}).one()
            self.plain[key_id] = None if row.wrapped is None else self.unwrap(bytes(row.wrapped), row.epoch_id)
        return self.plain[key_id]


def _reseal(key: bytes, blob: bytes, old: bytes, new: bytes) -> bytes | None:
    """The blob sealed under `new`; None when it already is. Raises SealBroken if neither opens it."""
    from intake import crypto

    try:
        crypto.unseal(key, blob, new)
        return None
    except crypto.SealBroken:
        pass
    return crypto.seal(key, crypto.unseal(key, blob, old), new)


def _batches(conn: sa.Connection, query: str) -> Any:
    last = 0
    while True:
        rows = conn.execute(sa.text(query + " AND t.id > :last ORDER BY t.id LIMIT :n"),
                            {"last": last, "n": BATCH}).mappings().all()
        if not rows:
            return
        yield from rows
        last = rows[-1]["id"]


def _rebind(conn: sa.Connection, keys: _Keys, forward: bool,
            binding: Callable[[str, dict[str, Any]], tuple[str, bytes, bytes]]) -> None:
    from intake import crypto

    def move(table: str, row: dict[str, Any], key_id: int, extra: dict[str, Any]) -> None:
        key = keys.get(key_id)
        sets = dict(extra)
        if key is not None and row["sealed"] is not None:
            _row_id, legacy, bound = binding(table, row)
            old, new = (legacy, bound) if forward else (bound, legacy)
            try:
                blob = _reseal(key, bytes(row["sealed"]), old, new)
            except crypto.SealBroken:
                blob = None  # altered before: it stays as it is, and keeps failing its check when read
            if blob is not None:
                sets["sealed"] = blob
        if sets:
            assignments = ", ".join(f"{name} = :{name}" for name in sets)
            conn.execute(sa.text(f"UPDATE {table} SET {assignments} WHERE id = :id"),  # noqa: S608 (our names)
                         {**sets, "id": row["id"]})

    for row in _batches(conn, "SELECT t.id, t.public_id, t.organisation_id, t.reporter_id, t.data_key_id, t.sealed "
                              "FROM reports t WHERE 1 = 1"):
        move('reports', dict(row), row["data_key_id"], {})
    for table in REPORT_ROWS:
        row_id = "t.seal_id" if table in SEAL_ID_TABLES else "t.public_id"
        query = (f"SELECT t.id, {row_id} AS row_id, t.sealed, r.public_id AS report_public_id, "  # noqa: S608
                 f"r.organisation_id, r.reporter_id, r.data_key_id FROM {table} t "
                 "JOIN reports r ON r.id = t.report_id WHERE 1 = 1")
        for row in _batches(conn, query):
            values = dict(row)
            extra: dict[str, Any] = {}
            if table in SEAL_ID_TABLES and values["row_id"] is None and forward:
                values["row_id"] = extra["seal_id"] = str(uuid.uuid4())
            move(table, values, row["data_key_id"], extra)
    query = ("SELECT t.id, t.public_id AS row_id, t.sealed, t.organisation_id AS own_org, t.uploaded_by_id, "
             "t.data_key_id, r.public_id AS report_public_id, r.organisation_id, r.reporter_id "
             "FROM attachments t LEFT JOIN reports r ON r.id = t.report_id WHERE 1 = 1")
    for row in _batches(conn, query):
        move('attachments', dict(row), row["data_key_id"], {})
    for row in _batches(conn, "SELECT t.id, t.public_id AS row_id, t.sealed, t.organisation_id AS own_org, "
                              "t.data_key_id FROM incidents t WHERE 1 = 1"):
        move('incidents', dict(row), row["data_key_id"], {})


def _binding(table: str, row: dict[str, Any]) -> tuple[str, bytes, bytes]:
    if table == 'reports':
        context = _report_context(row["public_id"], row["organisation_id"], row["reporter_id"])
        return row["public_id"], _legacy(table), _aad(table, row["public_id"], context)
    if table == 'incidents':
        return row["row_id"], _legacy(table), _aad(table, row["row_id"], f"org:{row['own_org']}")
    if table == 'attachments' and row["report_public_id"] is None:
        context = f"stash:org:{row['own_org']}:uploader:{row['uploaded_by_id']}"
    else:
        context = _report_context(row["report_public_id"], row["organisation_id"], row["reporter_id"])
    return row["row_id"], _legacy(table), _aad(table, row["row_id"], context)


def _rebind_journal(conn: sa.Connection, keys: _Keys, forward: bool) -> None:
    """Submissions accepted and not filed yet: bound to their reporter as well as their public id."""
    from intake import crypto

    for row in _batches(conn, "SELECT t.id, t.public_id, t.reporter_id, t.payload, t.key_wrapped, t.key_epoch_id "
                              "FROM submissions t WHERE t.payload IS NOT NULL AND t.key_wrapped IS NOT NULL"):
        key = keys.unwrap(bytes(row["key_wrapped"]), row["key_epoch_id"])
        legacy = b"intake submission\x00" + row["public_id"].encode()
        bound = legacy + b"\x00" + f"reporter:{row['reporter_id']}".encode()
        old, new = (legacy, bound) if forward else (bound, legacy)
        try:
            blob = _reseal(key, bytes(row["payload"]), old, new)
        except crypto.SealBroken:
            if forward:
                raise
            continue  # bound to the API token that sent it: it cannot go back (downgrade keeps it)
        if blob is not None:
            conn.execute(sa.text("UPDATE submissions SET payload = :p WHERE id = :i"), {"p": blob, "i": row["id"]})


def _has_rows(conn: sa.Connection) -> bool:
    return bool(conn.execute(sa.text(
        "SELECT EXISTS (SELECT 1 FROM data_keys) OR EXISTS (SELECT 1 FROM submissions WHERE payload IS NOT NULL)"
    )).scalar())


def _create_epochs(conn: sa.Connection) -> None:
    if sa.inspect(conn).has_table('key_epochs'):
        return  # run again
    op.create_table(
        'key_epochs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('uid', sa.String(length=36), nullable=False),
        sa.Column('period', sa.Date(), nullable=False),
        sa.Column('wrapped', sa.LargeBinary(), nullable=False),
        sa.Column('master_key_id', sa.String(length=16), nullable=False),
        sa.Column('created_at', intake.models.Timestamp(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_key_epochs')),
        sa.UniqueConstraint('uid', name=op.f('uq_key_epochs_uid')),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('key_epochs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_epochs_master_key_id'), ['master_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_key_epochs_period'), ['period'], unique=False)
    for table, column in (('data_keys', 'epoch_id'), ('submissions', 'key_epoch_id')):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column(column, sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f(f'ix_{table}_{column}'), [column], unique=False)
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_{column}_key_epochs'), 'key_epochs', [column], ['id'])


def _under_epochs(conn: sa.Connection, keys: _Keys) -> None:
    """Every master-wrapped data key goes under the epoch of the day it was made."""
    from intake import crypto
    from intake.models import KeyEpoch, utcnow

    epochs: dict[Any, tuple[int, bytes]] = {}

    def epoch_for(day: Any) -> tuple[int, bytes]:
        if day not in epochs:
            made = KeyEpoch.create(day, keys.keyring)
            new_id = conn.execute(sa.text(
                "INSERT INTO key_epochs (uid, period, wrapped, master_key_id, created_at) "
                "VALUES (:u, :p, :w, :m, :c) RETURNING id"),
                {"u": made.uid, "p": day, "w": made.wrapped, "m": made.master_key_id, "c": utcnow()}).scalar_one()
            epochs[day] = (new_id, made.plain())
        return epochs[day]

    def day_of(value: Any) -> dt.date:
        # Stored in UTC; SQLite gives the text back.
        if isinstance(value, str):
            return dt.date.fromisoformat(value[:10])
        return value.astimezone(dt.UTC).date() if value.tzinfo else value.date()  # type: ignore[no-any-return]

    for row in _batches(conn, "SELECT t.id, t.wrapped, t.created_at FROM data_keys t "
                              "WHERE t.wrapped IS NOT NULL AND t.epoch_id IS NULL"):
        epoch_id, kek = epoch_for(day_of(row["created_at"]))
        plain = keys.unwrap(bytes(row["wrapped"]), None)
        conn.execute(sa.text("UPDATE data_keys SET wrapped = :w, epoch_id = :e, master_key_id = NULL WHERE id = :i"),
                     {"w": crypto.wrap_under_epoch(kek, plain), "e": epoch_id, "i": row["id"]})
    for row in _batches(conn, "SELECT t.id, t.key_wrapped, t.received_at FROM submissions t "
                              "WHERE t.key_wrapped IS NOT NULL AND t.key_epoch_id IS NULL"):
        epoch_id, kek = epoch_for(day_of(row["received_at"]))
        plain = keys.unwrap(bytes(row["key_wrapped"]), None)
        conn.execute(sa.text("UPDATE submissions SET key_wrapped = :w, key_epoch_id = :e, master_key_id = NULL "
                             "WHERE id = :i"),
                     {"w": crypto.wrap_under_epoch(kek, plain), "e": epoch_id, "i": row["id"]})


def _out_of_epochs(conn: sa.Connection, keys: _Keys) -> None:
    """Downgrade: every key back under the primary master key."""
    for row in _batches(conn, "SELECT t.id, t.wrapped, t.epoch_id FROM data_keys t "
                              "WHERE t.wrapped IS NOT NULL AND t.epoch_id IS NOT NULL"):
        plain = keys.unwrap(bytes(row["wrapped"]), row["epoch_id"])
        conn.execute(sa.text("UPDATE data_keys SET wrapped = :w, epoch_id = NULL, master_key_id = :m WHERE id = :i"),
                     {"w": keys.keyring.wrap(plain), "m": keys.keyring.primary_id, "i": row["id"]})
    for row in _batches(conn, "SELECT t.id, t.key_wrapped, t.key_epoch_id FROM submissions t "
                              "WHERE t.key_wrapped IS NOT NULL AND t.key_epoch_id IS NOT NULL"):
        plain = keys.unwrap(bytes(row["key_wrapped"]), row["key_epoch_id"])
        conn.execute(sa.text("UPDATE submissions SET key_wrapped = :w, key_epoch_id = NULL, master_key_id = :m "
                             "WHERE id = :i"),
                     {"w": keys.keyring.wrap(plain), "m": keys.keyring.primary_id, "i": row["id"]})


def upgrade() -> None:
    conn = op.get_bind()
    for table in SEAL_ID_TABLES:
        if 'seal_id' in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
            continue  # run again
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('seal_id', sa.String(length=36), nullable=True))
    _create_epochs(conn)
    if _has_rows(conn):
        from intake.migrations.sealing import keyring_for_sealing

        keys = _Keys(conn, keyring_for_sealing("documents bound to their rows, and keys under epochs"))
        _rebind(conn, keys, True, _binding)
        _rebind_journal(conn, keys, True)
        _under_epochs(conn, keys)


def downgrade() -> None:
    conn = op.get_bind()
    if _has_rows(conn):
        from intake.migrations.sealing import keyring_for_sealing

        keys = _Keys(conn, keyring_for_sealing("documents bound to their tables"))
        _rebind(conn, keys, False, _binding)
        _rebind_journal(conn, keys, False)
        _out_of_epochs(conn, keys)
    for table, column in (('data_keys', 'epoch_id'), ('submissions', 'key_epoch_id')):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_{column}_key_epochs'), type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table}_{column}'))
            batch_op.drop_column(column)
    op.drop_table('key_epochs')
    for table in SEAL_ID_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('seal_id')
