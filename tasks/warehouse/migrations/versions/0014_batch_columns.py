"""Batch columns: a columnar source's batch kept as one Parquet block instead of table rows (tasks.warehouse.columns).
At scale 89, SQLite took 50.7 s to insert the 19.5 M rows of the fact sources and 7.6 s to write them as blocks.
Batches loaded before keep their table rows; readers take each batch from where it is.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_columns",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer, nullable=False, unique=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # The block is compressed already: PostgreSQL would only spend time trying again.
        op.execute("ALTER TABLE batch_columns ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table("batch_columns")
