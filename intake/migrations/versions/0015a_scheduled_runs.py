"""scheduled runs: when the sweep and the relays' recovery last ran, for /healthz

Revision ID: 0015a
Revises: 0014
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

# revision identifiers, used by Alembic.
revision: str = '0015a'
down_revision: str | Sequence[str] | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'scheduled_runs',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('started_at', intake.models.Timestamp(timezone=True), nullable=True),
        sa.Column('last_run_at', intake.models.Timestamp(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduled_runs')),
    )


def downgrade() -> None:
    op.drop_table('scheduled_runs')
