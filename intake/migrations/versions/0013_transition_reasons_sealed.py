"""transition reasons sealed: a reason typed for a rejection or a reopening may quote a person

Revision ID: 0013
Revises: 0012

Existing reasons are sealed in place under their report's data key; run it through
`intake db upgrade`, which supplies the master keys.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0013'
down_revision: str | Sequence[str] | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('state_transitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed', sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT t.id, t.reason, k.wrapped FROM state_transitions t JOIN reports r ON r.id = t.report_id "
        "JOIN data_keys k ON k.id = r.data_key_id WHERE t.reason IS NOT NULL"
    )).all()
    if rows:
        from intake import crypto
        from intake.migrations.sealing import keyring_for_sealing

        keyring = keyring_for_sealing("transition reasons")
        for transition_id, reason, wrapped in rows:
            if wrapped is None:
                continue  # the report's originals were erased: the reason goes with them
            payload = json.dumps({"reason": reason}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            sealed = crypto.seal(keyring.unwrap(bytes(wrapped)), payload.encode(), b"intake:state_transitions")
            conn.execute(sa.text("UPDATE state_transitions SET sealed = :s WHERE id = :i"),
                         {"s": sealed, "i": transition_id})
    with op.batch_alter_table('state_transitions', schema=None) as batch_op:
        batch_op.drop_column('reason')


def downgrade() -> None:
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT count(*) FROM state_transitions WHERE sealed IS NOT NULL")).scalar():
        raise RuntimeError("downgrading below 0013 would write transition reasons in the clear; refused")
    with op.batch_alter_table('state_transitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason', sa.TEXT(), nullable=True))
        batch_op.drop_column('sealed')
