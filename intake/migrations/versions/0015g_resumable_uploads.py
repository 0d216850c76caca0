"""resumable uploads (tus 1.0.0): one row per file arriving in pieces

Revision ID: 0015g
Revises: 0015c

The bytes received so far live sealed, under the report's data key, in a partial file named by the
row; the row holds how many of them count (`upload_offset`) and the sealed file's length.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

# revision identifiers, used by Alembic.
revision: str = '0015g'
down_revision: str | Sequence[str] | None = '0015c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'resumable_uploads',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(length=36), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('length', sa.BigInteger(), nullable=False),
        sa.Column('upload_offset', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('stored_bytes', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('storage_name', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
        sa.Column('attachment_id', sa.Integer(), nullable=True),
        sa.Column('created_at', intake.models.Timestamp(timezone=True), nullable=False),
        sa.Column('expires_at', intake.models.Timestamp(timezone=True), nullable=False),
        sa.Column('sealed', sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(['attachment_id'], ['attachments.id'],
                                name=op.f('fk_resumable_uploads_attachment_id_attachments'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'],
                                name=op.f('fk_resumable_uploads_organisation_id_organisations')),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_resumable_uploads_report_id_reports'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'],
                                name=op.f('fk_resumable_uploads_uploaded_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_resumable_uploads')),
        sa.UniqueConstraint('public_id', name=op.f('uq_resumable_uploads_public_id')),
        sa.UniqueConstraint('storage_name', name=op.f('uq_resumable_uploads_storage_name')),
    )
    with op.batch_alter_table('resumable_uploads', schema=None) as batch_op:
        batch_op.create_index('ix_resumable_uploads_expires', ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_resumable_uploads_report_id'), ['report_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_resumable_uploads_uploaded_by_id'), ['uploaded_by_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('resumable_uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resumable_uploads_uploaded_by_id'))
        batch_op.drop_index(batch_op.f('ix_resumable_uploads_report_id'))
        batch_op.drop_index('ix_resumable_uploads_expires')
    op.drop_table('resumable_uploads')
