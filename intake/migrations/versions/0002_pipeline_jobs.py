"""pipeline jobs: the outbox of work owed to each report

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 00:45:07.825698

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('pipeline_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('pending', 'done', 'dead', name='jobstate', native_enum=False, length=32), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_pipeline_jobs_report_id_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pipeline_jobs')),
    sa.UniqueConstraint('report_id', name=op.f('uq_pipeline_jobs_report_id'))
    )
    with op.batch_alter_table('pipeline_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_pipeline_jobs_due', ['state', 'due_at'], unique=False)
    # Reports received before the outbox existed are owed their run: due at once.
    op.execute(
        "INSERT INTO pipeline_jobs (report_id, state, due_at, attempts, created_at, updated_at) "
        "SELECT id, 'pending', CURRENT_TIMESTAMP, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP "
        "FROM reports WHERE state = 'received'"
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('pipeline_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_pipeline_jobs_due')

    op.drop_table('pipeline_jobs')
