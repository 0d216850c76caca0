"""items as evidence: who made the platform and the munition, what each component says of itself,
and the verifiers' identification of every item kept apart from what was reported

Revision ID: 0017b
Revises: 0017f

Four columns on reports (the platform's and the munition's manufacturer and country of
manufacture), the marking, serial, lot, part and CAGE codes, date of manufacture with its basis and
the identification of each component, and `item_assessments`: one row per item a verifier confirmed
or corrected (intake/items).
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0017b'
down_revision: str | Sequence[str] | None = '0017f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _basis() -> sa.Enum:
    return sa.Enum('remnant_photographed', 'video_overlay', 'witness_description', 'official_statement',
                   'expert_assessment', name='identificationbasis', native_enum=False, length=32)


def _confidence() -> sa.Enum:
    return sa.Enum('confirmed', 'probable', 'possible', name='identificationconfidence', native_enum=False,
                   length=32)


def upgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('platform_manufacturer', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('platform_country', sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column('munition_manufacturer', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('munition_country', sa.String(length=2), nullable=True))
    with op.batch_alter_table('components', schema=None) as batch_op:
        batch_op.add_column(sa.Column('markings', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('serial_number', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('lot_number', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('part_number', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('cage_code', sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column('manufactured_on', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('manufacture_date_basis', sa.Enum(
            'data_plate', 'date_code', 'document', 'assessed', name='manufacturedatebasis', native_enum=False,
            length=32), nullable=True))
        batch_op.add_column(sa.Column('identification_basis', _basis(), nullable=True))
        batch_op.add_column(sa.Column('identification_confidence', _confidence(), nullable=True))
    op.create_table('item_assessments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('item_key', sa.String(length=40), nullable=False),
    sa.Column('role', sa.Enum('platform', 'munition', 'component', name='itemrole', native_enum=False, length=32),
              nullable=False),
    sa.Column('component_id', sa.Integer(), nullable=True),
    sa.Column('designation', sa.String(length=200), nullable=True),
    sa.Column('manufacturer', sa.String(length=200), nullable=True),
    sa.Column('country_of_manufacture', sa.String(length=2), nullable=True),
    sa.Column('identification_basis', _basis(), nullable=True),
    sa.Column('identification_confidence', _confidence(), nullable=True),
    sa.Column('attachment_ids', sa.JSON(), nullable=False),
    sa.Column('assessed_by_id', sa.Integer(), nullable=False),
    sa.Column('assessed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assessed_by_id'], ['users.id'], name=op.f('fk_item_assessments_assessed_by_id_users')),
    sa.ForeignKeyConstraint(['component_id'], ['components.id'],
                            name=op.f('fk_item_assessments_component_id_components'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_item_assessments_report_id_reports'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_item_assessments')),
    sa.UniqueConstraint('report_id', 'item_key', name=op.f('uq_item_assessments_report_id_item_key'))
    )
    with op.batch_alter_table('item_assessments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_assessments_component_id'), ['component_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_item_assessments_report_id'), ['report_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('item_assessments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_assessments_report_id'))
        batch_op.drop_index(batch_op.f('ix_item_assessments_component_id'))
    op.drop_table('item_assessments')
    with op.batch_alter_table('components', schema=None) as batch_op:
        for name in ('identification_confidence', 'identification_basis', 'manufacture_date_basis',
                     'manufactured_on', 'cage_code', 'part_number', 'lot_number', 'serial_number', 'markings'):
            batch_op.drop_column(name)
    with op.batch_alter_table('reports', schema=None) as batch_op:
        for name in ('munition_country', 'munition_manufacturer', 'platform_country', 'platform_manufacturer'):
            batch_op.drop_column(name)
