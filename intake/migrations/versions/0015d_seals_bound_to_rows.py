"""seals bound to their row, report and reporter

Revision ID: 0015d
Revises: 0014

Every sealed document was bound (in its AES-GCM associated data) to its table only; it is sealed
again bound to its row, its report, the report's organisation and its reporter (see
`SealedRow._aad`), and journalled submissions to their reporter. Rows without a public id get a
random `seal_id` to name. A document that already opens under the new binding (sealed by a
migration that ran before this one with today's code) is left as it is, so running this again
changes nothing. Run it through `intake db upgrade`, which supplies the master keys.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0015d'
down_revision: str | Sequence[str] | None = '0014'
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
    """Data keys by id, unwrapped once (None for an erased key)."""

    def __init__(self, conn: sa.Connection, keyring: Any) -> None:
        self.conn = conn
        self.keyring = keyring
        self.plain: dict[int, bytes | None] = {}

    def get(self, key_id: int) -> bytes | None:
        if key_id not in self.plain:
            wrapped = self.conn.execute(sa.text("SELECT wrapped FROM data_keys WHERE id = :i"), {"i": key_id}).scalar()
            self.plain[key_id] = None if wrapped is None else self.keyring.unwrap(bytes(wrapped))
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


def _rebind_journal(conn: sa.Connection, keyring: Any, forward: bool) -> None:
    """Submissions accepted and not filed yet: bound to their reporter as well as their public id."""
    from intake import crypto

    for row in _batches(conn, "SELECT t.id, t.public_id, t.reporter_id, t.payload, t.key_wrapped "
                              "FROM submissions t WHERE t.payload IS NOT NULL AND t.key_wrapped IS NOT NULL"):
        key = keyring.unwrap(bytes(row["key_wrapped"]))
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


def upgrade() -> None:
    conn = op.get_bind()
    for table in SEAL_ID_TABLES:
        if 'seal_id' in {c["name"] for c in sa.inspect(conn).get_columns(table)}:
            continue  # run again
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('seal_id', sa.String(length=36), nullable=True))
    if _has_rows(conn):
        from intake.migrations.sealing import keyring_for_sealing

        keyring = keyring_for_sealing("documents bound to their rows")
        _rebind(conn, _Keys(conn, keyring), True, _binding)
        _rebind_journal(conn, keyring, True)


def downgrade() -> None:
    conn = op.get_bind()
    if _has_rows(conn):
        from intake.migrations.sealing import keyring_for_sealing

        keyring = keyring_for_sealing("documents bound to their tables")
        _rebind(conn, _Keys(conn, keyring), False, _binding)
        _rebind_journal(conn, keyring, False)
    for table in SEAL_ID_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('seal_id')
