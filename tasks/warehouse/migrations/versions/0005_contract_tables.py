"""Finance tables as their contracts declare them: the models of every fact table are generated from sources.yaml.

The result budget's `service` is empty on an area's own rows (nullable, as the
contract's `required: false` says), and the budget tables' ids are big
integers like every other fact table's.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("result_budget") as t:
        t.alter_column("service", existing_type=sa.String(120), nullable=True)
        t.alter_column("id", existing_type=sa.Integer, type_=BIGID)
    with op.batch_alter_table("council_budget") as t:
        t.alter_column("id", existing_type=sa.Integer, type_=BIGID)


def downgrade() -> None:
    with op.batch_alter_table("council_budget") as t:
        t.alter_column("id", existing_type=BIGID, type_=sa.Integer)
    with op.batch_alter_table("result_budget") as t:
        t.alter_column("id", existing_type=BIGID, type_=sa.Integer)
        t.alter_column("service", existing_type=sa.String(120), nullable=False)
