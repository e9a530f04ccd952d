"""Fact tables: the batch column without a foreign key.

PostgreSQL checks a foreign key row by row, and on COPY that check was more than
half of the load (465 s of a 609-s run at scale 89). A batch's rows are written
in the same transaction as the batch itself and removed before it
(`tasks.warehouse.load`), so the key guarded nothing the loader does not; SQLite
never checked it (its foreign keys are off unless a connection turns them on).
The index on the batch column stays: every read and replacement goes through it.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# SQLite's foreign keys have no names: the batch mode names them by this convention to drop them.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _batch_keys() -> list[tuple[str, str | None]]:
    """Every table's foreign key from `batch_id` to the load batches (table, constraint name)."""
    inspector = sa.inspect(op.get_bind())
    return [
        (table, fk["name"])
        for table in inspector.get_table_names()
        for fk in inspector.get_foreign_keys(table)
        if fk["referred_table"] == "load_batch" and fk["constrained_columns"] == ["batch_id"]
    ]


def upgrade() -> None:
    for table, name in _batch_keys():
        if op.get_bind().dialect.name == "sqlite":
            with op.batch_alter_table(table, recreate="always", naming_convention=NAMING) as t:
                t.drop_constraint(f"fk_{table}_batch_id_load_batch", type_="foreignkey")
        else:
            op.drop_constraint(name, table, type_="foreignkey")


def downgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table in inspector.get_table_names():
        if table != "load_batch" and "batch_id" in {c["name"] for c in inspector.get_columns(table)}:
            with op.batch_alter_table(table) as t:
                t.create_foreign_key(f"fk_{table}_batch_id_load_batch", "load_batch", ["batch_id"], ["id"])
