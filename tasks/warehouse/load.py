"""Loading a period's files: one batch per file, replaced atomically, through the driver's fastest bulk path.

Every row belongs to a `load_batch` that records its lineage: source, period,
file name, SHA-256, row count and the run that loaded it. Loading a source's
period replaces that period's batch in one transaction, so a period is never
duplicated and never half-loaded. A file already loaded with the same SHA-256
is not loaded again: its batch is reused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Date, DateTime, delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from tasks.ingest.period import Extracted
from tasks.warehouse.models import FACTS, Base, LoadBatch


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


@dataclass(frozen=True)
class Loaded:
    """The load stage's result: the run's own batches, which are all its reports read."""

    batches: list[Batch]

    def ids(self, source: str) -> list[int]:
        return [b.id for b in self.batches if b.source == source]

    def batch_of(self, source: str, file_name: str) -> Batch | None:
        return next((b for b in self.batches if b.source == source and b.file_name == file_name), None)


def fact_columns(model: type[Base]) -> list[str]:
    """A fact table's columns besides its own id and batch."""
    return [c.name for c in model.__table__.columns if c.name not in ("id", "batch_id")]


def load_period(
    engine: Engine,
    source: str,
    period: str,
    file_name: str,
    sha256: str,
    frame: pd.DataFrame,
    run_id: str,
    force: bool = False,
) -> Batch:
    """Replace one source's period with `frame`, atomically.

    A file already loaded with the same SHA-256 is not loaded again: its batch
    is reused, so reruns are cheap and the lineage stays that of the first load
    (`force` loads it again all the same). Two runs loading the same period at
    once meet at the batch table's unique key: the later one reads the winner's
    batch again and reuses or replaces it, never doubling the period.
    """
    for attempt in range(3):
        try:
            return _load_period_once(engine, source, period, file_name, sha256, frame, run_id, force)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _load_period_once(
    engine: Engine,
    source: str,
    period: str,
    file_name: str,
    sha256: str,
    frame: pd.DataFrame,
    run_id: str,
    force: bool,
) -> Batch:
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
                "source": source,
                "period": period,
                "file_name": file_name,
                "sha256": sha256,
                "rows": len(frame),
                "run_id": run_id,
                "loaded_at": dt.datetime.now(dt.UTC),
            },
        ).scalar_one()
        rows = frame.rename(columns={"_line": "source_line"})
        cols = [c for c in fact_columns(model) if c in rows.columns]
        insert_rows(conn, model.__table__, rows[cols].assign(batch_id=batch_id))
    return Batch(batch_id, source, period, file_name, sha256, len(frame), run_id, False)


def _column_values(s: pd.Series, column, dialect: str) -> list:
    """A column as the database driver takes it: Python values, None for missing."""
    if dialect == "sqlite" and pd.api.types.is_datetime64_any_dtype(s):
        # SQLAlchemy's own storage format for SQLite dates and date-times, so it reads them back.
        s = s.dt.strftime(
            "%Y-%m-%d"
            if isinstance(column.type, Date) and not isinstance(column.type, DateTime)
            else "%Y-%m-%d %H:%M:%S.%f"
        )
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
        conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({quoted}) VALUES ({', '.join('?' * len(cols))})", list(zip(*values))
        )
    elif dialect == "postgresql" and conn.dialect.driver == "psycopg":
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
            for row in zip(*values):
                copy.write_row(row)
    else:
        conn.execute(table.insert(), [dict(zip(cols, row)) for row in zip(*values)])


def load_plan(extracted: Extracted, usable: set[str]) -> list[tuple[str, str, str, str, pd.DataFrame]]:
    """(source, period, file, sha256, rows) of every file of the usable sources: one batch each."""
    plan = []
    for sid in sorted(usable):
        e = extracted.sources[sid]
        by_file = dict(tuple(e.frame.groupby("_file", sort=False, observed=True))) if len(e.files) > 1 else {}
        for f in e.files:
            plan.append((sid, f.period, f.name, f.sha256, by_file.get(f.name, e.frame)))
    return plan


def load_files(
    engine: Engine, loads: list[tuple[str, str, str, str, pd.DataFrame]], run_id: str, force: bool = False
) -> Loaded:
    """Load each (source, period, file, sha256, frame) as its own atomic batch."""
    return Loaded([load_period(engine, s, p, f, h, df, run_id, force) for s, p, f, h, df in loads])
