"""anonymized view: anonymized account, review flags, coarse cell, pseudonyms, verifiers' corrections

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 03:31:44.637513

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('redaction_corrections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('entity_type', sa.String(length=16), nullable=False),
    sa.Column('created_at', intake.models.Timestamp(timezone=True), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_redaction_corrections_actor_id_users')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_redaction_corrections_report_id_reports'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redaction_corrections'))
    )
    with op.batch_alter_table('redaction_corrections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_redaction_corrections_report_id'), ['report_id'], unique=False)

    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('description_anonymized', sa.Text(), nullable=True))

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pseudonym_key_wrapped', sa.LargeBinary(), nullable=True))

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('narrative_anonymized', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('anonymization', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('location_cell', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('anonymized_at', intake.models.Timestamp(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_reports_location_cell'), ['location_cell'], unique=False)

    with op.batch_alter_table('victims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pseudonym', sa.String(length=32), nullable=True))

    with op.batch_alter_table('witnesses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pseudonym', sa.String(length=32), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('witnesses', schema=None) as batch_op:
        batch_op.drop_column('pseudonym')

    with op.batch_alter_table('victims', schema=None) as batch_op:
        batch_op.drop_column('pseudonym')

    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_location_cell'))
        batch_op.drop_column('anonymized_at')
        batch_op.drop_column('location_cell')
        batch_op.drop_column('anonymization')
        batch_op.drop_column('narrative_anonymized')

    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_column('pseudonym_key_wrapped')

    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_column('description_anonymized')

    with op.batch_alter_table('redaction_corrections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_redaction_corrections_report_id'))

    op.drop_table('redaction_corrections')
