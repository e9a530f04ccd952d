"""Batch sums: each batch's result of the report's grouped sums (the ledger's sums, the indicators' monthly
aggregates), kept so that a report reads the rows of new batches only (before, every run summed every month's
rows again: at scale 89, 17 million event rows for the next month's report).

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_sum",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("query", sa.String(64), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.UniqueConstraint("batch_id", "sha256", "query", name="uq_batch_sum"),
    )
    op.create_index("ix_batch_sum_batch_id", "batch_sum", ["batch_id"])


def downgrade() -> None:
    op.drop_index("ix_batch_sum_batch_id", table_name="batch_sum")
    op.drop_table("batch_sum")
