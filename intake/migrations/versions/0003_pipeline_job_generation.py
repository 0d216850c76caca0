"""pipeline job generation

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 01:33:29.679751

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('pipeline_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('generation', sa.Integer(), server_default='1', nullable=False))



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('pipeline_jobs', schema=None) as batch_op:
        batch_op.drop_column('generation')

