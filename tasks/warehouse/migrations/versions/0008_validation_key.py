"""Load batches: the key under which a batch's rows were validated clean, so that a later run reuses an
unchanged file's validation and batch instead of reading, validating and loading it again.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("load_batch") as t:
        t.add_column(sa.Column("validation_key", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("load_batch") as t:
        t.drop_column("validation_key")
