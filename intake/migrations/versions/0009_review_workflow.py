"""review workflow: claims, checklist and grades with a second sign-off, comments, questions to the reporter

Adds the claim, checklist and grade columns of a report, its stored casualty total (the priority
sort's key, filled in here for existing reports) and the queue's indexes: one per sort, each
starting with (organisation_id, state), so every tab and sort stays an index range scan. Comments,
questions and answers are sealed under the report's data key, like the report's own S fields.

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CASUALTY_COLUMNS = [f"{harm}_{group}" for harm in ("killed", "injured")
                    for group in ("men", "women", "boys", "girls", "unknown")]


def upgrade() -> None:
    op.create_table('assessments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('grade', sa.Enum('confirmed', 'fair', 'weak', 'contested', 'discounted', name='grade', native_enum=False, length=32), nullable=False),
    sa.Column('source_reliability', sa.Enum('A', 'B', 'C', 'D', 'E', 'F', name='sourcereliability', native_enum=False, length=32), nullable=False),
    sa.Column('location_verified', sa.Boolean(), nullable=False),
    sa.Column('time_verified', sa.Boolean(), nullable=False),
    sa.Column('media_authentic', sa.Boolean(), nullable=False),
    sa.Column('weapon_checked', sa.Boolean(), nullable=False),
    sa.Column('independent_sources', sa.Integer(), nullable=False),
    sa.Column('assessed_by_id', sa.Integer(), nullable=False),
    sa.Column('assessed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signed_off_by_id', sa.Integer(), nullable=True),
    sa.Column('signed_off_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sealed', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['assessed_by_id'], ['users.id'], name=op.f('fk_assessments_assessed_by_id_users')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_assessments_report_id_reports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['signed_off_by_id'], ['users.id'], name=op.f('fk_assessments_signed_off_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessments'))
    )
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessments_report_id'), ['report_id'], unique=False)

    op.create_table('info_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=36), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('asked_by_id', sa.Integer(), nullable=False),
    sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('files_added', sa.Integer(), server_default='0', nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['asked_by_id'], ['users.id'], name=op.f('fk_info_requests_asked_by_id_users')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_info_requests_report_id_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_info_requests')),
    sa.UniqueConstraint('public_id', name=op.f('uq_info_requests_public_id'))
    )
    with op.batch_alter_table('info_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_info_requests_report_id'), ['report_id'], unique=False)

    op.create_table('review_comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_review_comments_author_id_users')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_review_comments_report_id_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_comments'))
    )
    with op.batch_alter_table('review_comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_comments_report_id'), ['report_id'], unique=False)

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('casualty_total', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('location_verified', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('time_verified', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('media_authentic', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('weapon_checked', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('independent_sources', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('grade', sa.Enum('confirmed', 'fair', 'weak', 'contested', 'discounted', name='grade', native_enum=False, length=32), nullable=True))
        batch_op.add_column(sa.Column('source_reliability', sa.Enum('A', 'B', 'C', 'D', 'E', 'F', name='sourcereliability', native_enum=False, length=32), nullable=True))
        batch_op.add_column(sa.Column('sign_off_pending', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('duplicate_of_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_reports_claim_activity', ['state', 'last_activity_at'], unique=False)
        batch_op.create_index('ix_reports_claimed_by', ['claimed_by_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_reports_duplicate_of_id'), ['duplicate_of_id'], unique=False)
        batch_op.create_index('ix_reports_occurred', ['organisation_id', 'state', 'occurred_on', 'id'], unique=False)
        batch_op.create_index('ix_reports_priority', ['organisation_id', 'state', 'casualty_total', 'received_at', 'id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_reports_duplicate_of_id_reports'), 'reports', ['duplicate_of_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_reports_claimed_by_id_users'), 'users', ['claimed_by_id'], ['id'])

    with op.batch_alter_table('state_transitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignee_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_state_transitions_assignee_id_users'), 'users', ['assignee_id'], ['id'])

    op.execute(f"UPDATE reports SET casualty_total = {' + '.join(CASUALTY_COLUMNS)}")  # noqa: S608  (fixed names)


def downgrade() -> None:
    with op.batch_alter_table('state_transitions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_state_transitions_assignee_id_users'), type_='foreignkey')
        batch_op.drop_column('assignee_id')

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_reports_claimed_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_reports_duplicate_of_id_reports'), type_='foreignkey')
        batch_op.drop_index('ix_reports_priority')
        batch_op.drop_index('ix_reports_occurred')
        batch_op.drop_index(batch_op.f('ix_reports_duplicate_of_id'))
        batch_op.drop_index('ix_reports_claimed_by')
        batch_op.drop_index('ix_reports_claim_activity')
        batch_op.drop_column('duplicate_of_id')
        batch_op.drop_column('sign_off_pending')
        batch_op.drop_column('source_reliability')
        batch_op.drop_column('grade')
        batch_op.drop_column('independent_sources')
        batch_op.drop_column('weapon_checked')
        batch_op.drop_column('media_authentic')
        batch_op.drop_column('time_verified')
        batch_op.drop_column('location_verified')
        batch_op.drop_column('casualty_total')
        batch_op.drop_column('last_activity_at')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('claimed_by_id')

    with op.batch_alter_table('review_comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_comments_report_id'))

    op.drop_table('review_comments')
    with op.batch_alter_table('info_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_info_requests_report_id'))

    op.drop_table('info_requests')
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessments_report_id'))

    op.drop_table('assessments')
