"""submissions journal: every channel's idempotency gate, and the API's one-row intake

Revision ID: 0014
Revises: 0013

Every report already filed gets its journal row (filed, nothing sealed in it), so a replay of an
old submission id finds the report it made.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

# revision identifiers, used by Alembic.
revision: str = '0014'
down_revision: str | Sequence[str] | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'submissions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(length=36), nullable=False),
        sa.Column('receipt_code', sa.String(length=16), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('reporter_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.Enum('web', 'api', 'odk', name='channel', native_enum=False, length=32), nullable=False),
        sa.Column('submission_id', sa.String(length=64), nullable=False),
        sa.Column('received_at', intake.models.Timestamp(timezone=True), nullable=False),
        sa.Column('payload', sa.LargeBinary(), nullable=True),
        sa.Column('key_wrapped', sa.LargeBinary(), nullable=True),
        sa.Column('master_key_id', sa.String(length=16), nullable=True),
        sa.Column('report_id', sa.Integer(), nullable=True),
        sa.Column('due_at', intake.models.Timestamp(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('last_error', sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_submissions_organisation_id_organisations')),
        sa.ForeignKeyConstraint(['reporter_id'], ['users.id'], name=op.f('fk_submissions_reporter_id_users')),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_submissions_report_id_reports'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_submissions')),
        sa.UniqueConstraint('public_id', name=op.f('uq_submissions_public_id')),
        sa.UniqueConstraint('receipt_code', name=op.f('uq_submissions_receipt_code')),
        sa.UniqueConstraint('report_id', name=op.f('uq_submissions_report_id')),
        sa.UniqueConstraint('reporter_id', 'submission_id', name=op.f('uq_submissions_reporter_id_submission_id')),
    )
    op.create_index('ix_submissions_due', 'submissions', ['due_at'], unique=False)
    op.execute(
        "INSERT INTO submissions (public_id, receipt_code, organisation_id, reporter_id, channel, submission_id, "
        "received_at, report_id, attempts) SELECT public_id, receipt_code, organisation_id, reporter_id, channel, "
        "submission_id, received_at, id, 0 FROM reports"
    )


def downgrade() -> None:
    op.drop_index('ix_submissions_due', table_name='submissions')
    op.drop_table('submissions')
