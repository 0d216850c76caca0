"""staff accounts' ODK passwords (HTTP Basic for OpenRosa): device rows with an Argon2 hash, no token

Revision ID: 0017g
Revises: 0017c
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0017g'
down_revision: str | Sequence[str] | None = '0017c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('device_tokens') as batch:
        batch.add_column(sa.Column('password_hash', sa.String(length=255), nullable=True))
        batch.alter_column('token_hash', existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    # ODK passwords have no token: they go (their submissions keep no reference that needs them).
    for table in ('odk_instances', 'odk_encrypted_submissions'):
        op.execute(f"UPDATE {table} SET device_token_id = NULL WHERE device_token_id IN "  # noqa: S608
                   "(SELECT id FROM device_tokens WHERE token_hash IS NULL)")
    op.execute("DELETE FROM device_tokens WHERE token_hash IS NULL")
    with op.batch_alter_table('device_tokens') as batch:
        batch.alter_column('token_hash', existing_type=sa.String(length=64), nullable=False)
        batch.drop_column('password_hash')
