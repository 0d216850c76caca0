"""Encrypted forms for ODK Collect: organisations' key pairs and encrypted submissions kept unopened

Revision ID: 0017e
Revises: 0017d

`odk_form_keys` holds each organisation's RSA public key (carried by its XForm) and the private key
wrapped by the master keys, unwrapped only by the workers. `odk_encrypted_submissions` and
`odk_encrypted_parts` keep what Collect sends for an encrypted form (the manifest and the `.enc`
files), sealed and hashed, until a worker decrypts and files it.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

# revision identifiers, used by Alembic.
revision: str = '0017e'
down_revision: str | Sequence[str] | None = '0017d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'odk_form_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(length=36), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('requested_at', intake.models.Timestamp(timezone=True), nullable=False),
        sa.Column('ready_at', intake.models.Timestamp(timezone=True), nullable=True),
        sa.Column('public_key', sa.Text(), nullable=True),
        sa.Column('private_key_wrapped', sa.LargeBinary(), nullable=True),
        sa.Column('master_key_id', sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'],
                                name=op.f('fk_odk_form_keys_organisation_id_organisations')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_odk_form_keys')),
        sa.UniqueConstraint('public_id', name=op.f('uq_odk_form_keys_public_id')),
    )
    with op.batch_alter_table('odk_form_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_odk_form_keys_organisation_id'), ['organisation_id'], unique=False)
    op.create_table(
        'odk_encrypted_submissions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(length=36), nullable=False),
        sa.Column('receipt_code', sa.String(length=16), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('reporter_id', sa.Integer(), nullable=False),
        sa.Column('device_token_id', sa.Integer(), nullable=True),
        sa.Column('form_key_id', sa.Integer(), nullable=False),
        sa.Column('instance_id', sa.String(length=64), nullable=False),
        sa.Column('form_version', sa.String(length=64), nullable=False),
        sa.Column('manifest_sha256', sa.String(length=64), nullable=False),
        sa.Column('manifest_sealed', sa.LargeBinary(), nullable=True),
        sa.Column('data_key_id', sa.Integer(), nullable=True),
        sa.Column('received_at', intake.models.Timestamp(timezone=True), nullable=False),
        sa.Column('due_at', intake.models.Timestamp(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('last_error', sa.String(length=200), nullable=True),
        sa.Column('report_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['data_key_id'], ['data_keys.id'],
                                name=op.f('fk_odk_encrypted_submissions_data_key_id_data_keys')),
        sa.ForeignKeyConstraint(['device_token_id'], ['device_tokens.id'],
                                name=op.f('fk_odk_encrypted_submissions_device_token_id_device_tokens')),
        sa.ForeignKeyConstraint(['form_key_id'], ['odk_form_keys.id'],
                                name=op.f('fk_odk_encrypted_submissions_form_key_id_odk_form_keys')),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'],
                                name=op.f('fk_odk_encrypted_submissions_organisation_id_organisations')),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id'],
                                name=op.f('fk_odk_encrypted_submissions_report_id_reports'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['reporter_id'], ['users.id'],
                                name=op.f('fk_odk_encrypted_submissions_reporter_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_odk_encrypted_submissions')),
        sa.UniqueConstraint('public_id', name=op.f('uq_odk_encrypted_submissions_public_id')),
        sa.UniqueConstraint('receipt_code', name=op.f('uq_odk_encrypted_submissions_receipt_code')),
        sa.UniqueConstraint('report_id', name=op.f('uq_odk_encrypted_submissions_report_id')),
        sa.UniqueConstraint('reporter_id', 'instance_id',
                            name=op.f('uq_odk_encrypted_submissions_reporter_id_instance_id')),
    )
    with op.batch_alter_table('odk_encrypted_submissions', schema=None) as batch_op:
        batch_op.create_index('ix_odk_encrypted_due', ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_odk_encrypted_submissions_organisation_id'), ['organisation_id'],
                              unique=False)
    op.create_table(
        'odk_encrypted_parts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('submission_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=255), nullable=False),
        sa.Column('storage_name', sa.String(length=64), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['submission_id'], ['odk_encrypted_submissions.id'],
                                name=op.f('fk_odk_encrypted_parts_submission_id_odk_encrypted_submissions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_odk_encrypted_parts')),
        sa.UniqueConstraint('storage_name', name=op.f('uq_odk_encrypted_parts_storage_name')),
        sa.UniqueConstraint('submission_id', 'name', name=op.f('uq_odk_encrypted_parts_submission_id_name')),
    )


def downgrade() -> None:
    op.drop_table('odk_encrypted_parts')
    with op.batch_alter_table('odk_encrypted_submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_odk_encrypted_submissions_organisation_id'))
        batch_op.drop_index('ix_odk_encrypted_due')
    op.drop_table('odk_encrypted_submissions')
    with op.batch_alter_table('odk_form_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_odk_form_keys_organisation_id'))
    op.drop_table('odk_form_keys')
