"""when the sweep last queued a lost question notice again

Revision ID: 0017f
Revises: 0017a
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

# revision identifiers, used by Alembic.
revision: str = '0017f'
down_revision: str | Sequence[str] | None = '0017a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('info_requests') as batch:
        batch.add_column(sa.Column('notice_requeued_at', intake.models.Timestamp(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('info_requests') as batch:
        batch.drop_column('notice_requeued_at')
