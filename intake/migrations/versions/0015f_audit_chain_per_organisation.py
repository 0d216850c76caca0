"""audit log: one hash chain per organisation; the chain before becomes the closed history

Revision ID: 0015f
Revises: 0015b

Every audited write used to lock the one global chain head until its transaction ended, so one slow
transaction anywhere made every organisation wait. From here each organisation has its own chain
(key = its id), entries of no organisation have theirs (key 0), each with its own head row.

Existing entries are not re-chained: rehashing them would also launder anything done to them before
this migration. They become the closed *history* chain (key -1), numbered as they were (`chain_seq` =
`seq`), still verified in the canonical form they were hashed in; the old head row becomes the
history's head. Every new chain starts from the history's last hash, so cutting the history's end
breaks the chains after it. `seq` stays the entry's id in the whole log, from a sequence on PostgreSQL
(no lock, so gaps are possible).

On PostgreSQL the head rows also get a trigger that refuses to delete a head, change its key or move it
back: cutting a chain's end takes disabling two triggers, and `intake audit verify --anchor` shows it.

Downgrading keeps the entries, but those written after this migration no longer verify under the old
single-chain code (they were never part of one chain).
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0015f'
down_revision: str | Sequence[str] | None = '0015b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HISTORY_CHAIN = -1

HEAD_FORWARD_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_chain_head_refuse_rewind() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'an audit chain head is never deleted';
    END IF;
    IF NEW.id <> OLD.id OR NEW.seq < OLD.seq THEN
        RAISE EXCEPTION 'an audit chain head only moves forward';
    END IF;
    RETURN NEW;
END;
$$
"""
HEAD_FORWARD_ONLY_TRIGGER = """
CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE OR DELETE ON audit_chain_head
FOR EACH ROW EXECUTE FUNCTION audit_chain_head_refuse_rewind()
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain', sa.Integer(), nullable=False, server_default=str(HISTORY_CHAIN)))
        batch_op.add_column(sa.Column('chain_seq', sa.BigInteger(), nullable=True))
    # Numbering the history in its own chain touches no hashed field; the append-only trigger is
    # lifted for this one statement.
    if postgres:
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    op.execute("UPDATE audit_log SET chain_seq = seq")
    if postgres:
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('chain', server_default=None, existing_type=sa.Integer(), existing_nullable=False)
        batch_op.alter_column('chain_seq', nullable=False, existing_type=sa.BigInteger())
        batch_op.create_unique_constraint(batch_op.f('uq_audit_log_chain_chain_seq'), ['chain', 'chain_seq'])
    op.execute("UPDATE audit_chain_head SET id = -1 WHERE id = 1")  # the old head row is the history's head
    if postgres:
        op.execute("CREATE SEQUENCE audit_log_seq AS bigint OWNED BY audit_log.seq")
        op.execute("SELECT setval('audit_log_seq', (SELECT coalesce(max(seq), 0) + 1 FROM audit_log), false)")
        op.execute(HEAD_FORWARD_ONLY_FUNCTION)
        op.execute(HEAD_FORWARD_ONLY_TRIGGER)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER IF EXISTS audit_chain_head_forward_only ON audit_chain_head")
        op.execute("DROP FUNCTION IF EXISTS audit_chain_head_refuse_rewind()")
        op.execute("DROP SEQUENCE IF EXISTS audit_log_seq")
    op.execute("DELETE FROM audit_chain_head WHERE id <> -1")
    op.execute("UPDATE audit_chain_head SET id = 1 WHERE id = -1")
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_log_chain_chain_seq'), type_='unique')
        batch_op.drop_column('chain_seq')
        batch_op.drop_column('chain')
