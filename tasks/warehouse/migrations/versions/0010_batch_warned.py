"""Load batches: what the warning checks found in a batch's rows, so that a file a check only warned on is reused
like a clean one, its warnings told again from the batch (before, such a file was read and validated on every
run: at scale 89, every month of rescue missions).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("load_batch") as t:
        t.add_column(sa.Column("warned", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("load_batch") as t:
        t.drop_column("warned")
