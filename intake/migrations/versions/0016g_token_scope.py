"""API token scopes: "submit" (every token so far) or a read-only export scope

Revision ID: 0016g
Revises: 0016c

A coordinator hands a partner a token that can only download the organisation's exports, of the
public tier or up to the partner tier; it can neither file nor read reports.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0016g'
down_revision: str | Sequence[str] | None = '0016c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope', sa.String(length=32), server_default='submit', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('scope')
