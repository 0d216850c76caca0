"""casualties reconciled and the draft grade: the priority counts the people listed, "Save checklist"
keeps the grade chosen

Revision ID: 0016c
Revises: 0015g

`reports.casualty_total` becomes killed plus injured, each the larger of the table and the people
listed one by one with that harm (intake/casualties.py); existing reports are recomputed. Two
columns keep the grade and reliability chosen when the checklist was saved without grading.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0016c'
down_revision: str | Sequence[str] | None = '0015g'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GROUPS = ("men", "women", "boys", "girls", "unknown")


def _table(harm: str) -> str:
    return " + ".join(f"{harm}_{group}" for group in GROUPS)


def _listed(harm: str) -> str:
    return f"(SELECT count(*) FROM victims WHERE victims.report_id = reports.id AND victims.harm = '{harm}')"  # noqa: S608  (fixed names)


def _priority(larger: str) -> str:
    return " + ".join(f"{larger}({_table(harm)}, {_listed(harm)})" for harm in ("killed", "injured"))


def upgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('draft_grade', sa.Enum('confirmed', 'fair', 'weak', 'contested', 'discounted', name='grade', native_enum=False, length=32), nullable=True))
        batch_op.add_column(sa.Column('draft_source_reliability', sa.Enum('A', 'B', 'C', 'D', 'E', 'F', name='sourcereliability', native_enum=False, length=32), nullable=True))
    # SQLite's two-argument max() is PostgreSQL's greatest().
    larger = "greatest" if op.get_bind().dialect.name == "postgresql" else "max"
    op.execute(f"UPDATE reports SET casualty_total = {_priority(larger)}")  # noqa: S608  (fixed names)


def downgrade() -> None:
    op.execute(f"UPDATE reports SET casualty_total = {_table('killed')} + {_table('injured')}")  # noqa: S608
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('draft_source_reliability')
        batch_op.drop_column('draft_grade')
