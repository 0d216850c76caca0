"""incidents: reports linked into incidents, reconciled figures, duplicate suggestions

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 03:45:50.551367

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=36), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('killed', sa.Integer(), nullable=True),
    sa.Column('injured', sa.Integer(), nullable=True),
    sa.Column('missing', sa.Integer(), nullable=True),
    sa.Column('reconciled_at', intake.models.Timestamp(timezone=True), nullable=True),
    sa.Column('reconciled_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', intake.models.Timestamp(timezone=True), nullable=False),
    sa.Column('updated_at', intake.models.Timestamp(timezone=True), nullable=False),
    sa.Column('closed_at', intake.models.Timestamp(timezone=True), nullable=True),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.Column('data_key_id', sa.Integer(), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['data_key_id'], ['data_keys.id'], name=op.f('fk_incidents_data_key_id_data_keys')),
    sa.ForeignKeyConstraint(['merged_into_id'], ['incidents.id'], name=op.f('fk_incidents_merged_into_id_incidents')),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_incidents_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['reconciled_by_id'], ['users.id'], name=op.f('fk_incidents_reconciled_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents')),
    sa.UniqueConstraint('public_id', name=op.f('uq_incidents_public_id'))
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incidents_data_key_id'), ['data_key_id'], unique=False)
        batch_op.create_index('ix_incidents_open', ['organisation_id', 'closed_at', 'updated_at'], unique=False)

    op.create_table('duplicate_suggestions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('candidate_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('created_at', intake.models.Timestamp(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['candidate_id'], ['reports.id'], name=op.f('fk_duplicate_suggestions_candidate_id_reports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_duplicate_suggestions_organisation_id_organisations')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_duplicate_suggestions_report_id_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duplicate_suggestions')),
    sa.UniqueConstraint('report_id', 'candidate_id', name=op.f('uq_duplicate_suggestions_report_id_candidate_id'))
    )
    with op.batch_alter_table('duplicate_suggestions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duplicate_suggestions_candidate_id'), ['candidate_id'], unique=False)

    op.create_table('incident_links',
    sa.Column('report_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('linked_at', intake.models.Timestamp(timezone=True), nullable=False),
    sa.Column('linked_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_links_incident_id_incidents')),
    sa.ForeignKeyConstraint(['linked_by_id'], ['users.id'], name=op.f('fk_incident_links_linked_by_id_users')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_incident_links_report_id_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('report_id', name=op.f('pk_incident_links'))
    )
    with op.batch_alter_table('incident_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_links_incident_id'), ['incident_id'], unique=False)

    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.create_index('ix_attachments_sha256', ['organisation_id', 'sha256'], unique=False)

    # Where the duplicate finder looks: a report's neighbours in place and time, by index range scans.
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_admin2_date', ['organisation_id', 'admin2', 'occurred_on'], unique=False)
        batch_op.create_index('ix_reports_cell_date', ['organisation_id', 'location_cell', 'occurred_on'], unique=False)
        batch_op.create_index('ix_reports_locality_date', ['organisation_id', 'locality', 'occurred_on'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_locality_date')
        batch_op.drop_index('ix_reports_cell_date')
        batch_op.drop_index('ix_reports_admin2_date')

    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_index('ix_attachments_sha256')

    with op.batch_alter_table('incident_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_links_incident_id'))

    op.drop_table('incident_links')
    with op.batch_alter_table('duplicate_suggestions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duplicate_suggestions_candidate_id'))

    op.drop_table('duplicate_suggestions')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_incidents_open')
        batch_op.drop_index(batch_op.f('ix_incidents_data_key_id'))

    op.drop_table('incidents')
