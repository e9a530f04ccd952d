"""Delivery under faults: an uncertain send, recipients still to reach, the message itself, the PDF's hash and the
operator's resend decision; one batch per source and period.

`uncertain`: the whole message went to the server but its reply was lost; it is
never resent automatically. `partial`: some recipients refused it for now
(`outstanding`). `raw_message` keeps the exact bytes sent (the same Message-ID on
a resend). `load_batch` gets the unique key its load assumed. The feedback surveys' free
text (`comment`) is no longer stored: no report uses it, and it may hold
personal data.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FREE_TEXT_TABLES = ("feedback", "applicant_feedback")
OLD = "status IN ('pending', 'sent', 'failed')"
NEW = "status IN ('pending', 'sent', 'failed', 'uncertain', 'partial')"


def upgrade() -> None:
    with op.batch_alter_table("delivery") as t:
        t.drop_constraint("ck_delivery_status", type_="check")
        t.create_check_constraint("ck_delivery_status", NEW)
        t.add_column(sa.Column("outstanding", sa.Text, nullable=True))
        t.add_column(sa.Column("raw_message", sa.LargeBinary, nullable=True))
        t.add_column(sa.Column("pdf_sha256", sa.String(64), nullable=True))
        t.add_column(sa.Column("resend_by", sa.String(120), nullable=True))
        t.add_column(sa.Column("resend_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("load_batch") as t:
        t.create_unique_constraint("uq_load_batch_source_period", ["source", "period"])
    for table in FREE_TEXT_TABLES:
        with op.batch_alter_table(table) as t:
            t.drop_column("comment")


def downgrade() -> None:
    for table in FREE_TEXT_TABLES:
        with op.batch_alter_table(table) as t:
            t.add_column(sa.Column("comment", sa.String, nullable=True))
    with op.batch_alter_table("load_batch") as t:
        t.drop_constraint("uq_load_batch_source_period", type_="unique")
    with op.batch_alter_table("delivery") as t:
        for name in ("resend_at", "resend_by", "pdf_sha256", "raw_message", "outstanding"):
            t.drop_column(name)
        t.drop_constraint("ck_delivery_status", type_="check")
        t.create_check_constraint("ck_delivery_status", OLD)
