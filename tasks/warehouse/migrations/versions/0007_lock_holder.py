"""Run lock: which process holds it (host, boot, process id and start time), so that a lock whose process is
known dead on this machine is taken over at once instead of blocking the period until its lease runs out.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run_lock") as t:
        t.add_column(sa.Column("holder", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_lock") as t:
        t.drop_column("holder")
