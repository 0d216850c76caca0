"""transfer records, and who used a report's weapon in the conflict (as reported and as assessed)

Revision ID: 0017c
Revises: 0017e

`transfers` holds public facts about arms transfers that coordinators record (intake/transfers); the
two new columns of `reports` name the state that used the weapon, as reported and as a verifier
assessed it. All of it is publishable: no existing data changes.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import intake.models

# revision identifiers, used by Alembic.
revision: str = '0017c'
down_revision: str | Sequence[str] | None = '0017e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'transfers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(length=36), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('exporting_state', sa.String(length=2), nullable=False),
        sa.Column('importing_state', sa.String(length=2), nullable=False),
        sa.Column('end_user', sa.String(length=200), nullable=False),
        sa.Column('end_user_state', sa.String(length=2), nullable=True),
        sa.Column('designation', sa.String(length=200), nullable=False),
        sa.Column('catalogue_name', sa.String(length=200), nullable=True),
        sa.Column('item_kind', sa.Enum('platform', 'munition', 'component', name='transferitemkind',
                                       native_enum=False, length=32), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=True),
        sa.Column('transfer_date', sa.Date(), nullable=False),
        sa.Column('date_precision', sa.Enum('day', 'month', 'year', name='transferdateprecision',
                                            native_enum=False, length=32), nullable=False),
        sa.Column('source_kind', sa.Enum('permit_list', 'arms_sale_notice', 'att_report', 'unroca', 'eu_report',
                                         'other', name='transfersourcekind', native_enum=False, length=32),
                  nullable=False),
        sa.Column('source_citation', sa.String(length=1000), nullable=False),
        sa.Column('source_url', sa.String(length=2000), nullable=True),
        sa.Column('notes', sa.Text(), nullable=True),
        sa.Column('created_at', intake.models.Timestamp(timezone=True), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('updated_at', intake.models.Timestamp(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_transfers_created_by_id_users')),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'],
                                name=op.f('fk_transfers_organisation_id_organisations')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_transfers')),
        sa.UniqueConstraint('public_id', name=op.f('uq_transfers_public_id')),
    )
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.create_index('ix_transfers_organisation', ['organisation_id', 'catalogue_name'], unique=False)
    with op.batch_alter_table('reports') as batch:
        batch.add_column(sa.Column('used_by', sa.String(length=2), nullable=True))
        batch.add_column(sa.Column('used_by_assessed', sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('reports') as batch:
        batch.drop_column('used_by_assessed')
        batch.drop_column('used_by')
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_transfers_organisation')
    op.drop_table('transfers')
