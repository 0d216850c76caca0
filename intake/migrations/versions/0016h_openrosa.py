"""OpenRosa (ODK Collect, KoboCollect): device tokens and the instances phones sent

Revision ID: 0016h
Revises: 0016g

`device_tokens` holds the SHA-256 of each phone's token (the token itself is in the server URL typed
into Collect, never stored); `odk_instances` links each XForm instance to the report it became, with
the instance XML sealed under the report's data key.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

# revision identifiers, used by Alembic.
revision: str = '0016h'
down_revision: str | Sequence[str] | None = '0016g'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'device_tokens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(length=36), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('prefix', sa.String(length=12), nullable=False),
        sa.Column('created_at', intake.models.Timestamp(timezone=True), nullable=False),
        sa.Column('last_used_at', intake.models.Timestamp(timezone=True), nullable=True),
        sa.Column('revoked_at', intake.models.Timestamp(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'],
                                name=op.f('fk_device_tokens_organisation_id_organisations')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_device_tokens_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_device_tokens')),
        sa.UniqueConstraint('public_id', name=op.f('uq_device_tokens_public_id')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_device_tokens_token_hash')),
    )
    with op.batch_alter_table('device_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_tokens_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_tokens_user_id'), ['user_id'], unique=False)
    op.create_table(
        'odk_instances',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(length=36), nullable=False),
        sa.Column('report_id', sa.Integer(), nullable=False),
        sa.Column('reporter_id', sa.Integer(), nullable=False),
        sa.Column('device_token_id', sa.Integer(), nullable=True),
        sa.Column('instance_id', sa.String(length=64), nullable=False),
        sa.Column('form_version', sa.String(length=64), nullable=False),
        sa.Column('xml_sha256', sa.String(length=64), nullable=False),
        sa.Column('xml_size', sa.Integer(), nullable=False),
        sa.Column('deprecated_id', sa.String(length=64), nullable=True),
        sa.Column('replaces_report_id', sa.Integer(), nullable=True),
        sa.Column('received_at', intake.models.Timestamp(timezone=True), nullable=False),
        sa.Column('sealed', sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(['device_token_id'], ['device_tokens.id'],
                                name=op.f('fk_odk_instances_device_token_id_device_tokens')),
        sa.ForeignKeyConstraint(['replaces_report_id'], ['reports.id'],
                                name=op.f('fk_odk_instances_replaces_report_id_reports'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_odk_instances_report_id_reports'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['reporter_id'], ['users.id'], name=op.f('fk_odk_instances_reporter_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_odk_instances')),
        sa.UniqueConstraint('public_id', name=op.f('uq_odk_instances_public_id')),
        sa.UniqueConstraint('report_id', name=op.f('uq_odk_instances_report_id')),
        sa.UniqueConstraint('reporter_id', 'instance_id', name=op.f('uq_odk_instances_reporter_id_instance_id')),
    )
    with op.batch_alter_table('odk_instances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_odk_instances_replaces_report_id'), ['replaces_report_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('odk_instances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_odk_instances_replaces_report_id'))
    op.drop_table('odk_instances')
    with op.batch_alter_table('device_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_tokens_user_id'))
        batch_op.drop_index(batch_op.f('ix_device_tokens_organisation_id'))
    op.drop_table('device_tokens')
