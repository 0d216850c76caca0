"""evidence packs: the pack jobs a worker builds

Revision ID: 0017d
Revises: 0017b
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

# revision identifiers, used by Alembic.
revision: str = '0017d'
down_revision: str | Sequence[str] | None = '0017b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('pack_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=36), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=False),
    sa.Column('selector_kind', sa.String(length=16), nullable=False),
    sa.Column('selector_value', sa.String(length=200), nullable=False),
    sa.Column('date_from', sa.Date(), nullable=True),
    sa.Column('date_to', sa.Date(), nullable=True),
    sa.Column('tier', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), server_default='queued', nullable=False),
    sa.Column('progress', sa.Integer(), server_default='0', nullable=False),
    sa.Column('step', sa.String(length=32), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error', sa.String(length=300), nullable=True),
    sa.Column('bag_name', sa.String(length=200), nullable=True),
    sa.Column('content_sha256', sa.String(length=64), nullable=True),
    sa.Column('incidents', sa.Integer(), nullable=True),
    sa.Column('storage_name', sa.String(length=64), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('created_at', intake.models.Timestamp(timezone=True), nullable=False),
    sa.Column('started_at', intake.models.Timestamp(timezone=True), nullable=True),
    sa.Column('finished_at', intake.models.Timestamp(timezone=True), nullable=True),
    sa.Column('data_key_id', sa.Integer(), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['data_key_id'], ['data_keys.id'], name=op.f('fk_pack_jobs_data_key_id_data_keys')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'],
                            name=op.f('fk_pack_jobs_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_pack_jobs_requested_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pack_jobs')),
    sa.UniqueConstraint('public_id', name=op.f('uq_pack_jobs_public_id')),
    sa.UniqueConstraint('storage_name', name=op.f('uq_pack_jobs_storage_name'))
    )
    with op.batch_alter_table('pack_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pack_jobs_data_key_id'), ['data_key_id'], unique=False)
        batch_op.create_index('ix_pack_jobs_organisation', ['organisation_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pack_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_pack_jobs_organisation')
        batch_op.drop_index(batch_op.f('ix_pack_jobs_data_key_id'))
    op.drop_table('pack_jobs')
