"""The warehouse's tables: load batches with lineage, one fact table per source, and the run's own records.

Fact tables are generated from the source contracts (`sources.yaml`: each
source's `table`, columns, types and derived columns), so a column is declared
once. The schema itself is created and changed by the Alembic migrations in
`migrations/`; these models are how the code reads and writes it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tasks.contracts import Source, sources


class Base(DeclarativeBase):
    pass


class LoadBatch(Base):
    __tablename__ = "load_batch"
    # One batch per source and period: a concurrent first load of the same period fails instead of doubling it.
    __table_args__ = (UniqueConstraint("source", "period", name="uq_load_batch_source_period"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(40), index=True)
    period: Mapped[str] = mapped_column(String(7))
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # The key (see tasks.ingest.reuse) under which these rows were validated clean; NULL when a check failed on
    # them (or warned without telling which rows): a later run then reads and validates the file again instead of
    # reusing the batch.
    validation_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # What the warning checks found in these rows when they were validated (JSON: per expectation id, the rows'
    # count and first lines), so that a run reusing the batch warns as one reading the file would; NULL when none.
    warned: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The smallest and largest value of each column of the keys the source's suite requires unique, in these rows
    # (JSON: column -> [min, max], null when the column is empty): a new file can repeat a key of this batch only
    # where its own values fall in every column's range. NULL for batches loaded before 0012 (always compared).
    key_ranges: Mapped[str | None] = mapped_column(Text, nullable=True)


class BatchSum(Base):
    """One batch's result of one grouped sum (`tasks.warehouse.summaries`): a batch never changes once loaded,
    so a later report adds up the stored results instead of reading the batch's rows again."""

    __tablename__ = "batch_sum"
    # The batch's file hash as well as its id: SQLite may give a replaced batch's id to its successor.
    __table_args__ = (UniqueConstraint("batch_id", "sha256", "query", name="uq_batch_sum"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(Integer, index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    # The digest of the statement summed (its SQL and parameters, without the batches).
    query: Mapped[str] = mapped_column(String(64))
    # The batch's result rows as JSON (a list of lists, in the statement's column order).
    result: Mapped[str] = mapped_column(Text)


class BatchKeyHashes(Base):
    """One batch's values of one key its source's suite requires unique, as sorted 64-bit hashes
    (`tasks.ingest.partwise.key_hashes`): the next month's run compares its new keys with them in memory and asks
    the database only about the keys whose hashes it finds. Kept where the key ranges cannot spare the comparison
    (ids that do not run on with time), written with the batch and deleted with it."""

    __tablename__ = "batch_key_hashes"
    __table_args__ = (UniqueConstraint("batch_id", "key", name="uq_batch_key_hashes"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(Integer)
    # The key's columns (JSON list).
    key: Mapped[str] = mapped_column(String(255))
    # How the hashes were made (`tasks.ingest.partwise.hash_scheme`): hashes of another scheme are not compared.
    scheme: Mapped[str] = mapped_column(String(255))
    # The hashes, unsigned 64-bit little-endian, ascending and each once.
    hashes: Mapped[bytes] = mapped_column(LargeBinary)


class BatchColumns(Base):
    """One batch's rows as one columnar block (Parquet), for a source whose contract says `columnar`
    (`tasks.warehouse.columns`): written with the batch and deleted with it, in place of its table rows."""

    __tablename__ = "batch_columns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(Integer, unique=True)
    # The rows as a Parquet file's bytes: the fact table's columns (not its id and batch), of its types.
    data: Mapped[bytes] = mapped_column(LargeBinary)


# Contract types (and `store:` forms) to column types of the fact tables.
COLUMN_TYPES = {
    "int": Integer,
    "str": String,
    "money": Float,
    "decimal": Float,
    "pct": Float,
    "date": Date,
    "datetime": DateTime,
    "cents": BigInteger,
    "flag": Boolean,
}


def fact_model(src: Source) -> type[Base]:
    """The fact table of a source, its columns read from the contract.

    Every row keeps its batch (lineage) and, unless the contract says otherwise
    (the ledger), its line in the input file; event sources also keep the year
    and month their date places them in, and derived columns are added.
    """
    required = {c.field for c in src.columns if c.required}
    attrs: dict = {
        "__tablename__": src.table,
        "__doc__": f"{src.title}: one row per input row, as the contract declares it.",
        "id": mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        # No foreign key: PostgreSQL would check it row by row, half the load's time; a batch and its rows are
        # written and removed together in one transaction (migration 0009).
        "batch_id": mapped_column(Integer, index=True, nullable=False),
    }
    if src.keep_line:
        attrs["source_line"] = mapped_column(Integer, nullable=False)
    for name, kind in src.warehouse_fields:
        # A yes/no is always one of them; the year and month of an event are derived from its date.
        never_null = name in required or kind == "flag" or name in ("year", "month")
        attrs[name] = mapped_column(COLUMN_TYPES[kind](), nullable=not never_null)
    name = "".join(part.title() for part in src.id.split("_")) + "Row"
    return type(name, (Base,), attrs)


def fact_columns(table) -> list[str]:
    """A fact table's (or model's) columns besides its own id and batch."""
    table = getattr(table, "__table__", table)
    return [c.name for c in table.columns if c.name not in ("id", "batch_id")]


# One fact model per source with a warehouse table, by source id.
FACTS: dict[str, type[Base]] = {sid: fact_model(src) for sid, src in sources().items() if src.table}
LedgerRow = FACTS["ledger"]


class Delivery(Base):
    """One e-mail delivery of an archived report version: the ledger that makes it exactly once.

    `status` is `pending` while a run holds the claim (`claim_token`, `claimed_at`),
    `sent` once the SMTP server accepted the message for every recipient,
    `partial` while some recipients refused it for now (`outstanding`),
    `uncertain` when the whole message was sent but the server's reply was lost
    (it may have been delivered: only an operator's decision resends it,
    `resend_by`/`resend_at`), and `failed` after the last attempt failed.
    `attempts` counts SMTP attempts over all runs; `last_error` is a Finnish
    reason without secrets. `raw_message` is the message exactly as sent, so a
    resend carries the same Message-ID; `pdf_sha256` the hash of the PDF it carries.
    """

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("period", "kind", "version", name="uq_delivery_period_kind_version"),
        CheckConstraint("status IN ('pending', 'sent', 'failed', 'uncertain', 'partial')", name="ck_delivery_status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    period: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(128))
    message_id: Mapped[str] = mapped_column(String(255))
    recipients: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    claim_token: Mapped[str | None] = mapped_column(String(32))
    outstanding: Mapped[str | None] = mapped_column(Text)
    raw_message: Mapped[bytes | None] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    resend_by: Mapped[str | None] = mapped_column(String(120))
    resend_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class RunLock(Base):
    """A run's hold on one period and kind while it writes: two runs never interleave their writes.

    The lock expires (`expires_at`) so that a run that died does not block the
    period for ever; a live run holds it only while it writes.
    """

    __tablename__ = "run_lock"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64))
    acquired_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # The holding process (host|boot|pid|start): a lock of a dead process on this host is taken over at once.
    holder: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ValidationResult(Base):
    """One source's validation in one run: the history of data quality per source and period."""

    __tablename__ = "validation_result"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    checks: Mapped[int] = mapped_column(Integer)
    passed: Mapped[int] = mapped_column(Integer)
    warnings: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    messages: Mapped[str] = mapped_column(Text)
    validated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_validation_result_source_period", "source", "period"),)
