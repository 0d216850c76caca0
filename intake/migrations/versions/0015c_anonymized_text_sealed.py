"""anonymized text sealed: what the anonymizer missed, and every redaction a verifier lifted, goes
with the report's data key

Revision ID: 0015c
Revises: 0015d

The anonymized account, the files' descriptions, comments, questions and answers were plain
columns. They are moved into their rows' sealed documents (through the models' `SealedRow`, so
they are sealed exactly as the app seals them) and the columns are dropped; run it through
`intake db upgrade`, which supplies the master keys and rewrites the tables afterwards.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session, load_only

# revision identifiers, used by Alembic.
revision: str = '0015c'
down_revision: str | Sequence[str] | None = '0015d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table → the plain columns whose values move into the row's sealed document (same names there).
COLUMNS: dict[str, tuple[str, ...]] = {
    'reports': ('narrative_anonymized',),
    'attachments': ('description_anonymized',),
    'review_comments': ('text_anonymized',),
    'info_requests': ('question_anonymized', 'answer_anonymized'),
}


def _models() -> dict[str, Any]:
    from intake.models import Attachment, InfoRequest, Report, ReviewComment

    return {'reports': Report, 'attachments': Attachment, 'review_comments': ReviewComment,
            'info_requests': InfoRequest}


def _erased(row: Any) -> bool:
    return bool(row.data_key_for_sealing().erased)


def upgrade() -> None:
    conn = op.get_bind()
    plain: dict[str, list[Any]] = {}
    for table, columns in COLUMNS.items():
        wanted = " OR ".join(f"{c} IS NOT NULL" for c in columns)
        plain[table] = list(conn.execute(sa.text(
            f"SELECT id, {', '.join(columns)} FROM {table} WHERE {wanted}")).all())  # noqa: S608 (fixed names)
    if any(plain.values()):
        from intake.migrations.sealing import keyring_for_sealing

        keyring_for_sealing("anonymized text")  # refuses outside `intake db upgrade`; tables rewritten after
        models = _models()
        session = Session(bind=conn, join_transaction_mode="rollback_only", autoflush=False)
        try:
            for table, rows in plain.items():
                model = models[table]
                by_id = {row[0]: row for row in rows}
                for start in range(0, len(rows), 500):
                    ids = [row[0] for row in rows[start:start + 500]]
                    found = session.scalars(sa.select(model).where(model.id.in_(ids))
                                            .options(load_only(model.id, model.sealed)))
                    for obj in found:
                        if _erased(obj):
                            continue  # the report's originals were erased: its anonymized text goes too
                        for position, column in enumerate(COLUMNS[table], start=1):
                            setattr(obj, column, by_id[obj.id][position])
                    session.flush()
                    session.expunge_all()
        finally:
            session.close()
    for table, columns in COLUMNS.items():
        for column in columns:
            # A plain ALTER on both engines: a batch rebuild of `reports` on SQLite would lose the
            # predicate of its partial index.
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def downgrade() -> None:
    # The anonymized texts stay in the sealed documents (never written back in the clear): the code of
    # before reads empty columns until its next pipeline run remakes them; upgrading again finds
    # nothing plain to move and the documents still hold them.
    for table, columns in COLUMNS.items():
        for column in columns:
            op.add_column(table, sa.Column(column, sa.Text(), nullable=True))
