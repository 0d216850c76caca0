"""question notices: a reporter's opt-in, and when each question's notice went out

Revision ID: 0016d
Revises: 0016h
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

# revision identifiers, used by Alembic.
revision: str = '0016d'
down_revision: str | Sequence[str] | None = '0016h'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('notify_questions', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('info_requests') as batch:
        batch.add_column(sa.Column('notified_at', intake.models.Timestamp(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('info_requests') as batch:
        batch.drop_column('notified_at')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('notify_questions')
