"""Batch key hashes: the sorted 64-bit hashes of a batch's unique-key values, kept where the key ranges cannot spare
the comparison (random ids). The next month's run compares its new keys with them in memory and joins only the keys
it finds; before, at scale 89 it joined 89 000 new transfer ids with 2 million reused ones (1.8 s on SQLite).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_key_hashes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("scheme", sa.String(255), nullable=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("batch_id", "key", name="uq_batch_key_hashes"),
    )


def downgrade() -> None:
    op.drop_table("batch_key_hashes")
