"""attachment derivatives: the worker-made copy without metadata, faces covered

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 03:28:03.729045

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('derivative_storage_name', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('derivative_media_type', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('derivative_size', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('derivative_sha256', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('faces_covered', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('derivative_note', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('derived_at', intake.models.Timestamp(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_attachments_derivative_storage_name'),
                                          ['derivative_storage_name'])



def downgrade() -> None:
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_attachments_derivative_storage_name'), type_='unique')
        batch_op.drop_column('derived_at')
        batch_op.drop_column('derivative_note')
        batch_op.drop_column('faces_covered')
        batch_op.drop_column('derivative_sha256')
        batch_op.drop_column('derivative_size')
        batch_op.drop_column('derivative_media_type')
        batch_op.drop_column('derivative_storage_name')

