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
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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


FACTS = {"ledger": LedgerRow, "result_budget": ResultBudgetRow, "council_budget": CouncilBudgetRow}


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


def load_period(engine: Engine, source: str, period: str, file_name: str, sha256: str, frame: pd.DataFrame, run_id: str) -> Batch:
    """Replace one source's period with `frame`, atomically.

    A file already loaded with the same SHA-256 is not loaded again: its batch
    is reused, so reruns are cheap and the lineage stays that of the first load.
    """
    model = FACTS[source]
    with engine.begin() as conn:
        lb = LoadBatch.__table__
        existing = conn.execute(select(lb).where(lb.c.source == source, lb.c.period == period)).all()
        if len(existing) == 1 and existing[0].sha256 == sha256 and existing[0].file_name == file_name:
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
        rows = rows[cols].astype(object).where(rows[cols].notna(), None).assign(batch_id=batch_id)
        rows.to_sql(model.__tablename__, conn, if_exists="append", index=False, chunksize=50_000, method=None)
    return Batch(batch_id, source, period, file_name, sha256, len(frame), run_id, False)


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


def read_facts(engine: Engine, source: str, batch_ids: list[int]) -> pd.DataFrame:
    model = FACTS[source]
    cols = [getattr(model, c) for c in _fact_columns(model)]
    with engine.connect() as conn:
        res = conn.execute(select(*cols).where(model.batch_id.in_(batch_ids)).order_by(model.id))
        return pd.DataFrame(res.all(), columns=_fact_columns(model))


@task(name="load-warehouse", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def load_warehouse(url: str, loads: list[tuple[str, str, str, str, pd.DataFrame]], run_id: str) -> list[Batch]:
    """Migrate the schema and load each (source, period, file, sha256, frame) atomically (I/O: retried)."""
    engine = engine_for(url)
    try:
        migrate(engine)
        return [load_period(engine, s, p, f, h, df, run_id) for s, p, f, h, df in loads]
    finally:
        engine.dispose()
