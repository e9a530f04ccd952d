"""The warehouse: SQLAlchemy 2 models, migrations, atomic period loads and set-based reads.

Any SQLAlchemy URL works (`--warehouse`); the default is SQLite under `var/`.
The schema is managed by the Alembic migrations in `tasks/migrations/`.

Every row belongs to a `load_batch` that records its lineage: source, period,
file name, SHA-256, row count and the Prefect run that loaded it. Loading a
source's period replaces that period's batch in one transaction, so a period
is never duplicated and never half-loaded.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tasks.contracts import Source, sources

MIGRATIONS = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    pass


class LoadBatch(Base):
    __tablename__ = "load_batch"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(40), index=True)
    period: Mapped[str] = mapped_column(String(7))
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class LedgerRow(Base):
    """Ledger actuals in cents, report sign (revenues positive, expenses negative)."""

    __tablename__ = "ledger_actual"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("load_batch.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    area: Mapped[str] = mapped_column(String(120))
    service: Mapped[str] = mapped_column(String(120))
    cost_centre: Mapped[str] = mapped_column(String(20))
    account: Mapped[str] = mapped_column(String(10))
    account_name: Mapped[str | None] = mapped_column(String(120))
    line: Mapped[str | None] = mapped_column(String(20))
    amount_cents: Mapped[int] = mapped_column(BigInteger)


class ResultBudgetRow(Base):
    """The approved result budget sheet, 1 000 €, report sign."""

    __tablename__ = "result_budget"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("load_batch.id"), index=True)
    area: Mapped[str] = mapped_column(String(120))
    service: Mapped[str] = mapped_column(String(120))
    line: Mapped[str] = mapped_column(String(20))
    tb_prev: Mapped[float] = mapped_column(Float)
    tb: Mapped[float] = mapped_column(Float)
    change_eur: Mapped[float | None] = mapped_column(Float)
    change_pct: Mapped[float | None] = mapped_column(Float)
    explanation: Mapped[str | None] = mapped_column(String(500))
    source_line: Mapped[int] = mapped_column(Integer)


class CouncilBudgetRow(Base):
    """The council budget in long form, 1 000 €, report sign."""

    __tablename__ = "council_budget"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("load_batch.id"), index=True)
    item: Mapped[str] = mapped_column(String(120))
    version: Mapped[str] = mapped_column(String(40))
    line: Mapped[str] = mapped_column(String(40))
    amount: Mapped[float] = mapped_column(Float)
    binding: Mapped[bool] = mapped_column(Boolean)
    source_line: Mapped[int] = mapped_column(Integer)


class Delivery(Base):
    """One e-mail delivery of an archived report version: the ledger that makes it exactly once.

    `status` is `pending` while a run holds the claim (`claim_token`, `claimed_at`),
    `sent` once the SMTP server accepted the message and `failed` after the last
    attempt failed; `attempts` counts SMTP attempts over all runs. `last_error`
    is a Finnish reason without secrets.
    """

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("period", "kind", "version", name="uq_delivery_period_kind_version"),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="ck_delivery_status"),
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


# Contract types to column types of the operational tables.
COLUMN_TYPES = {"int": Integer, "str": String, "money": Float, "decimal": Float, "pct": Float, "date": Date, "datetime": DateTime}


def _operational_model(src: Source) -> type[Base]:
    """The fact table of an operational source, its columns read from the contract.

    Every row keeps its batch (lineage) and its line in the input file; event
    sources also keep the year and month their date places them in.
    """
    attrs: dict = {
        "__tablename__": src.table,
        "__doc__": f"{src.title}: one row per input row, as the contract declares it.",
        "id": mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        "batch_id": mapped_column(ForeignKey("load_batch.id"), index=True, nullable=False),
        "source_line": mapped_column(Integer, nullable=False),
    }
    for c in src.columns:
        attrs[c.field] = mapped_column(COLUMN_TYPES[c.type](), nullable=not c.required)
    if src.date:
        attrs["year"] = mapped_column(Integer, nullable=False)
        attrs["month"] = mapped_column(Integer, nullable=False)
    name = "".join(part.title() for part in src.id.split("_")) + "Row"
    return type(name, (Base,), attrs)


OPERATIONAL = {sid: _operational_model(src) for sid, src in sources().items() if src.operational}
FACTS = {"ledger": LedgerRow, "result_budget": ResultBudgetRow, "council_budget": CouncilBudgetRow, **OPERATIONAL}


def engine_for(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@dataclass(frozen=True)
class Batch:
    id: int
    source: str
    period: str
    file_name: str
    sha256: str
    rows: int
    run_id: str
    reused: bool


def _fact_columns(model: type[Base]) -> list[str]:
    return [c.name for c in model.__table__.columns if c.name not in ("id", "batch_id")]


def load_period(engine: Engine, source: str, period: str, file_name: str, sha256: str, frame: pd.DataFrame, run_id: str, force: bool = False) -> Batch:
    """Replace one source's period with `frame`, atomically.

    A file already loaded with the same SHA-256 is not loaded again: its batch
    is reused, so reruns are cheap and the lineage stays that of the first load
    (`force` loads it again all the same).
    """
    model = FACTS[source]
    with engine.begin() as conn:
        lb = LoadBatch.__table__
        existing = conn.execute(select(lb).where(lb.c.source == source, lb.c.period == period)).all()
        if not force and len(existing) == 1 and existing[0].sha256 == sha256 and existing[0].file_name == file_name:
            b = existing[0]
            return Batch(b.id, source, period, b.file_name, b.sha256, b.rows, b.run_id, True)
        old_ids = [r.id for r in existing]
        if old_ids:
            conn.execute(delete(model).where(model.batch_id.in_(old_ids)))
            conn.execute(delete(LoadBatch).where(LoadBatch.id.in_(old_ids)))
        batch_id = conn.execute(
            LoadBatch.__table__.insert().returning(LoadBatch.id),
            {
                "source": source, "period": period, "file_name": file_name, "sha256": sha256,
                "rows": len(frame), "run_id": run_id, "loaded_at": dt.datetime.now(dt.UTC),
            },
        ).scalar_one()
        rows = frame.rename(columns={"_line": "source_line"})
        cols = [c for c in _fact_columns(model) if c in rows.columns]
        insert_rows(conn, model.__table__, rows[cols].assign(batch_id=batch_id))
    return Batch(batch_id, source, period, file_name, sha256, len(frame), run_id, False)


def _column_values(s: pd.Series, column, dialect: str) -> list:
    """A column as the database driver takes it: Python values, None for missing."""
    if dialect == "sqlite" and pd.api.types.is_datetime64_any_dtype(s):
        # SQLAlchemy's own storage format for SQLite dates and date-times, so it reads them back.
        s = s.dt.strftime("%Y-%m-%d" if isinstance(column.type, Date) and not isinstance(column.type, DateTime) else "%Y-%m-%d %H:%M:%S.%f")
    return s.astype(object).where(s.notna(), None).tolist()


def insert_rows(conn, table, rows: pd.DataFrame) -> None:
    """Append a frame to a table in the connection's transaction, as fast as the database allows.

    SQLite: the driver's executemany with plain tuples; PostgreSQL: COPY through
    psycopg; anything else: SQLAlchemy's executemany. Each is several times
    faster than pandas' to_sql, which builds a dict per row.
    """
    if rows.empty:
        return
    cols = list(rows.columns)
    dialect = conn.dialect.name
    values = [_column_values(rows[c], table.c[c], dialect) for c in cols]
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in cols)
    if dialect == "sqlite":
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({quoted}) VALUES ({', '.join('?' * len(cols))})", list(zip(*values)))
    elif dialect == "postgresql" and conn.dialect.driver == "psycopg":
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
            for row in zip(*values):
                copy.write_row(row)
    else:
        conn.execute(table.insert(), [dict(zip(cols, row)) for row in zip(*values)])


def ledger_monthly(engine: Engine, batch_ids: list[int]) -> pd.DataFrame:
    """Ledger summed per year, month, area, service and line (cents), in SQL."""
    t = LedgerRow
    stmt = (
        select(t.year, t.month, t.area, t.service, t.line, func.sum(t.amount_cents).label("cents"), func.count().label("rows"))
        .where(t.batch_id.in_(batch_ids))
        .group_by(t.year, t.month, t.area, t.service, t.line)
        .order_by(t.year, t.month, t.area, t.service, t.line)
    )
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(stmt).all(), columns=["year", "month", "area", "service", "line", "cents", "rows"])
    return df.astype({"year": "int64", "month": "int64", "cents": "int64", "rows": "int64"})


def ledger_area_totals(engine: Engine, batch_ids: list[int]) -> pd.DataFrame:
    """Ledger summed per area straight from the rows (cents), independent of the service sums."""
    t = LedgerRow
    stmt = select(t.area, func.sum(t.amount_cents)).where(t.batch_id.in_(batch_ids)).group_by(t.area)
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(stmt).all(), columns=["area", "cents"]).astype({"cents": "int64"})


def ledger_totals_by_batch(engine: Engine, batch_ids: list[int]) -> pd.DataFrame:
    """Rows and cents per loaded batch, as the warehouse holds them."""
    t = LedgerRow
    stmt = (
        select(LoadBatch.file_name, func.count(t.id), func.coalesce(func.sum(t.amount_cents), 0))
        .join(t, t.batch_id == LoadBatch.id)
        .where(LoadBatch.id.in_(batch_ids))
        .group_by(LoadBatch.file_name)
    )
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(stmt).all(), columns=["file", "rows", "cents"])


def load_plan(extracted: dict, usable: set[str]) -> list[tuple[str, str, str, str, pd.DataFrame]]:
    """(source, period, file, sha256, rows) of every file of the usable sources: one batch each."""
    plan = []
    for sid in sorted(usable):
        e = extracted[sid]
        by_file = dict(tuple(e.frame.groupby("_file", sort=False, observed=True))) if len(e.files) > 1 else {}
        for f in e.files:
            plan.append((sid, f.period, f.name, f.sha256, by_file.get(f.name, e.frame)))
    return plan


def batch_ids(batches: list[Batch]) -> dict[str, list[int]]:
    """The run's own batches per source: reports read nothing else."""
    return {s: [b.id for b in batches if b.source == s] for s in FACTS}


# Small operational tables the report shows by unit; event sources are only read aggregated.
UNIT_TABLES = ("personnel", "personnel_plan", "access", "assessments")


def reporting_data(engine: Engine, batches: list[Batch]) -> dict:
    """Everything the report computes from, read from the run's batches with set-based queries."""
    from tasks.contracts.catalog import catalog
    from tasks.indicators import FORMULAS, indicator_data

    ids = batch_ids(batches)
    return {
        "monthly": ledger_monthly(engine, ids["ledger"]),
        "area_totals": ledger_area_totals(engine, ids["ledger"]),
        "loaded": ledger_totals_by_batch(engine, ids["ledger"]),
        "result_budget": read_facts(engine, "result_budget", ids["result_budget"]),
        "council_budget": read_facts(engine, "council_budget", ids["council_budget"]),
        **{sid: read_facts(engine, sid, ids[sid]) for sid in UNIT_TABLES},
        "indicator_data": {
            ind.id: indicator_data(engine, ind, ids[ind.source])
            for ind in catalog().indicators
            if FORMULAS[ind.formula].build is not None and ids.get(ind.source)
        },
    }


@task(name="read-warehouse", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def read_reporting_data(url: str, batches: list[Batch]) -> dict:
    """The run's own batches read back from the warehouse (I/O: retried)."""
    engine = engine_for(url)
    try:
        return reporting_data(engine, batches)
    finally:
        engine.dispose()


def read_facts(engine: Engine, source: str, batch_ids: list[int]) -> pd.DataFrame:
    model = FACTS[source]
    cols = [getattr(model, c) for c in _fact_columns(model)]
    with engine.connect() as conn:
        res = conn.execute(select(*cols).where(model.batch_id.in_(batch_ids)).order_by(model.id))
        return pd.DataFrame(res.all(), columns=_fact_columns(model))


class LockTimeout(RuntimeError):
    """Another run held the period for longer than this run would wait."""


def try_lock(engine: Engine, name: str, run_id: str, lease: dt.timedelta) -> bool:
    """Take the lock `name` for `run_id` if it is free, expired or already ours; True when taken."""
    now = dt.datetime.now(dt.UTC)
    t = RunLock.__table__
    with engine.begin() as conn:
        took = conn.execute(
            t.update()
            .where(t.c.name == name, (t.c.expires_at < now) | (t.c.run_id == run_id))
            .values(run_id=run_id, acquired_at=now, expires_at=now + lease)
        ).rowcount
        if took:
            return True
    try:
        with engine.begin() as conn:
            conn.execute(t.insert().values(name=name, run_id=run_id, acquired_at=now, expires_at=now + lease))
        return True
    except IntegrityError:
        return False  # another run holds it


def release_lock(engine: Engine, name: str, run_id: str) -> None:
    t = RunLock.__table__
    with engine.begin() as conn:
        conn.execute(t.delete().where(t.c.name == name, t.c.run_id == run_id))


def lock_holder(engine: Engine, name: str) -> str | None:
    t = RunLock.__table__
    with engine.connect() as conn:
        return conn.execute(select(t.c.run_id).where(t.c.name == name)).scalar_one_or_none()


@contextmanager
def period_lock(url: str, name: str, run_id: str, wait: dt.timedelta = dt.timedelta(minutes=30), lease: dt.timedelta = dt.timedelta(hours=2), poll: float = 1.0):
    """Hold the warehouse lock `name` (a period and kind) while the block writes.

    Waits up to `wait` for another run to finish; then raises LockTimeout with a
    Finnish message naming the run that holds the period.
    """
    engine = engine_for(url)
    try:
        migrate(engine)
        deadline = time.monotonic() + wait.total_seconds()
        while not try_lock(engine, name, run_id, lease):
            if time.monotonic() > deadline:
                raise LockTimeout(f"kausi {name} on toisen ajon ({lock_holder(engine, name)}) käsittelyssä; yritä myöhemmin uudelleen")
            time.sleep(poll)
        try:
            yield
        finally:
            release_lock(engine, name, run_id)
    finally:
        engine.dispose()


def row_count_history(engine: Engine) -> pd.DataFrame:
    """Rows of every loaded period per source (`source`, `period`, `rows`): what earlier runs saw."""
    lb = LoadBatch
    with engine.connect() as conn:
        res = conn.execute(select(lb.source, lb.period, lb.rows))
        return pd.DataFrame(res.all(), columns=["source", "period", "rows"])


def record_validation(engine: Engine, run_id: str, period: str, kind: str, statuses: list[dict]) -> None:
    """Keep each source's validation outcome of this run: the quality history per source and period."""
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "run_id": run_id, "period": period, "kind": kind, "source": s["source"], "status": s["status"],
            "checks": s["checks"], "passed": s["passed"], "warnings": len(s["warnings"]), "failures": len(s["errors"]),
            "messages": json.dumps({"errors": s["errors"], "warnings": s["warnings"]}, ensure_ascii=False),
            "validated_at": now,
        }
        for s in statuses
    ]
    with engine.begin() as conn:
        conn.execute(ValidationResult.__table__.insert(), rows)


def validation_history(engine: Engine, source: str | None = None) -> pd.DataFrame:
    """Every stored validation outcome, newest first (optionally of one source)."""
    t = ValidationResult
    stmt = select(t.run_id, t.period, t.kind, t.source, t.status, t.checks, t.passed, t.warnings, t.failures, t.validated_at).order_by(t.id.desc())
    if source:
        stmt = stmt.where(t.source == source)
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(stmt).all(), columns=["run_id", "period", "kind", "source", "status", "checks", "passed", "warnings", "failures", "validated_at"])


@task(name="warehouse-history", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def warehouse_history(url: str) -> pd.DataFrame:
    """Row counts of earlier loads, for the learned row-count bands (I/O: retried)."""
    engine = engine_for(url)
    try:
        migrate(engine)
        return row_count_history(engine)
    finally:
        engine.dispose()


@task(name="record-validation", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def store_validation(url: str, run_id: str, period: str, kind: str, statuses: list[dict]) -> None:
    engine = engine_for(url)
    try:
        record_validation(engine, run_id, period, kind, statuses)
    finally:
        engine.dispose()


@task(name="load-warehouse", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def load_warehouse(url: str, loads: list[tuple[str, str, str, str, pd.DataFrame]], run_id: str, force: bool = False) -> list[Batch]:
    """Migrate the schema and load each (source, period, file, sha256, frame) atomically (I/O: retried)."""
    engine = engine_for(url)
    try:
        migrate(engine)
        return [load_period(engine, s, p, f, h, df, run_id, force) for s, p, f, h, df in loads]
    finally:
        engine.dispose()
