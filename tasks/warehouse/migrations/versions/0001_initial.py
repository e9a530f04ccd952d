"""Initial warehouse: load batches with lineage, ledger actuals, result budget, council budget.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "load_batch",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_load_batch_source", "load_batch", ["source"])
    op.create_table(
        "ledger_actual",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("load_batch.id"), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("month", sa.Integer, nullable=False),
        sa.Column("area", sa.String(120), nullable=False),
        sa.Column("service", sa.String(120), nullable=False),
        sa.Column("cost_centre", sa.String(20), nullable=False),
        sa.Column("account", sa.String(10), nullable=False),
        sa.Column("account_name", sa.String(120)),
        sa.Column("line", sa.String(20)),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_ledger_actual_batch_id", "ledger_actual", ["batch_id"])
    op.create_table(
        "result_budget",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("load_batch.id"), nullable=False),
        sa.Column("area", sa.String(120), nullable=False),
        sa.Column("service", sa.String(120), nullable=False),
        sa.Column("line", sa.String(20), nullable=False),
        sa.Column("tb_prev", sa.Float, nullable=False),
        sa.Column("tb", sa.Float, nullable=False),
        sa.Column("change_eur", sa.Float),
        sa.Column("change_pct", sa.Float),
        sa.Column("explanation", sa.String(500)),
        sa.Column("source_line", sa.Integer, nullable=False),
    )
    op.create_index("ix_result_budget_batch_id", "result_budget", ["batch_id"])
    op.create_table(
        "council_budget",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("load_batch.id"), nullable=False),
        sa.Column("item", sa.String(120), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("line", sa.String(40), nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("binding", sa.Boolean, nullable=False),
        sa.Column("source_line", sa.Integer, nullable=False),
    )
    op.create_index("ix_council_budget_batch_id", "council_budget", ["batch_id"])


def downgrade() -> None:
    for table in ("council_budget", "result_budget", "ledger_actual", "load_batch"):
        op.drop_table(table)
