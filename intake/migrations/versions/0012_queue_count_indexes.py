"""queue count indexes: the type and date filters, and the reports awaiting sign-off

Revision ID: 0012
Revises: 0011

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_filter', ['organisation_id', 'state', 'incident_type', 'occurred_on'],
                              unique=False)
        batch_op.create_index('ix_reports_sign_off', ['organisation_id'], unique=False,
                              postgresql_where=sa.text('sign_off_pending'), sqlite_where=sa.text('sign_off_pending'))


def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_sign_off', postgresql_where=sa.text('sign_off_pending'),
                            sqlite_where=sa.text('sign_off_pending'))
        batch_op.drop_index('ix_reports_filter')
