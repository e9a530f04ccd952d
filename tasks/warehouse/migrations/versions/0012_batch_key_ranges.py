"""Load batches: the range of each unique-key column in the batch's rows, so that the next month's run compares its
new keys only with the batches whose ranges they fall in (before, it joined them with every reused row: at scale
89, 8 s of the next month's run for the ids of 23 months of events).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("load_batch") as t:
        t.add_column(sa.Column("key_ranges", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("load_batch") as t:
        t.drop_column("key_ranges")
