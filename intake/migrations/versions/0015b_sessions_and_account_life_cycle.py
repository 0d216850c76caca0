"""server-side sessions, sign-in throttles, forced password change, token expiry

Revision ID: 0015b
Revises: 0015a

Sessions become rows (the cookie holds a random id whose SHA-256 is stored), so they can be ended
on the server. Every cookie session issued before this revision names no row and is signed out.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

# revision identifiers, used by Alembic.
revision: str = '0015b'
down_revision: str | Sequence[str] | None = '0015a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'user_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', intake.models.Timestamp(timezone=True), nullable=False),
        sa.Column('last_seen_at', intake.models.Timestamp(timezone=True), nullable=False),
        sa.Column('second_factor_at', intake.models.Timestamp(timezone=True), nullable=True),
        sa.Column('device_digest', sa.String(length=64), nullable=False),
        sa.Column('enrolment_secret_wrapped', sa.LargeBinary(), nullable=True),
        sa.Column('ended_at', intake.models.Timestamp(timezone=True), nullable=True),
        sa.Column('end_reason', sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_user_sessions_token_hash')),
    )
    op.create_index('ix_user_sessions_user', 'user_sessions', ['user_id', 'ended_at'], unique=False)
    op.create_table(
        'sign_in_throttles',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('blocked_until', intake.models.Timestamp(timezone=True), nullable=True),
        sa.Column('last_failure_at', intake.models.Timestamp(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_sign_in_throttles')),
    )
    op.create_index('ix_sign_in_throttles_last_failure', 'sign_in_throttles', ['last_failure_at'], unique=False)
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('api_tokens') as batch:
        batch.add_column(sa.Column('expires_at', intake.models.Timestamp(timezone=True), nullable=True))
    # An enrolment key kept on the user row before this revision may have been seen by anyone who
    # knew the initial password: forget it; enrolment now makes one per sign-in.
    op.execute("UPDATE users SET totp_secret_wrapped = NULL WHERE totp_confirmed_at IS NULL")


def downgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_column('expires_at')
    with op.batch_alter_table('users') as batch:
        batch.drop_column('must_change_password')
    op.drop_index('ix_sign_in_throttles_last_failure', table_name='sign_in_throttles')
    op.drop_table('sign_in_throttles')
    op.drop_index('ix_user_sessions_user', table_name='user_sessions')
    op.drop_table('user_sessions')
