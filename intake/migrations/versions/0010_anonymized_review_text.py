"""anonymized review text: comments, questions and answers as verifiers see them by default

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 03:43:09.859676

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('info_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('question_anonymized', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('answer_anonymized', sa.Text(), nullable=True))

    with op.batch_alter_table('review_comments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('text_anonymized', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('review_comments', schema=None) as batch_op:
        batch_op.drop_column('text_anonymized')

    with op.batch_alter_table('info_requests', schema=None) as batch_op:
        batch_op.drop_column('answer_anonymized')
        batch_op.drop_column('question_anonymized')
