"""account e-mails encrypted: wrapped by the master keys, found by a blind index

Revision ID: 0006
Revises: 0005

A seized database must not list the e-mail addresses of field staff. Existing accounts are
converted in place; run it through `intake db upgrade`, which supplies the master keys.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: str | Sequence[str] | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_index', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('email_wrapped', sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    users = conn.execute(sa.text("SELECT id, email FROM users")).all()
    if users:
        from intake.migrations.sealing import keyring_for_sealing

        keyring = keyring_for_sealing("account e-mails")
        for user_id, email in users:
            normalised = email.strip().lower()
            conn.execute(sa.text("UPDATE users SET email_index = :i, email_wrapped = :w WHERE id = :u"),
                         {"i": keyring.blind_index(normalised), "w": keyring.wrap(normalised.encode()), "u": user_id})
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('email_index', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('email_wrapped', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_constraint(batch_op.f('uq_users_email'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_users_email_index'), ['email_index'])
        batch_op.drop_column('email')


def downgrade() -> None:
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT count(*) FROM users")).scalar():
        raise RuntimeError("downgrading below 0006 would write account e-mails in the clear; refused")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.VARCHAR(length=320), nullable=False))
        batch_op.drop_constraint(batch_op.f('uq_users_email_index'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_users_email'), ['email'])
        batch_op.drop_column('email_wrapped')
        batch_op.drop_column('email_index')
