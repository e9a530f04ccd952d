"""Reading the run's own batches back, set-based: ledger sums, the budgets and the small unit tables.

Reports read nothing but the batches their run loaded (or reused), so two
runs of different periods never see each other's rows. All of one report's
reads run in one transaction (`snapshot`), after checking that every batch
the run relies on is still there: a batch replaced meanwhile by another run is
an error, never a silently empty source.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from tasks.contracts import sources
from tasks.warehouse.columns import rows_by_batch
from tasks.warehouse.load import Loaded
from tasks.warehouse.models import FACTS, LedgerRow, LoadBatch, fact_columns
from tasks.warehouse.summaries import BATCH, SumStore, grouped_sums, store_sums, sums_by_batch


@dataclass(frozen=True)
class ReportingData:
    """What the finances and the unit tables compute from, read from the run's batches."""

    # Ledger summed per year, month, area, service and line (cents, report sign).
    monthly: pd.DataFrame
    # Ledger summed per year, month, area, service, line and account group (the account's first two digits).
    by_group: pd.DataFrame
    # Ledger summed per area straight from the rows (cents): the roll-up's independent check.
    area_totals: pd.DataFrame
    # Rows and cents per loaded ledger file, as the warehouse holds them.
    loaded: pd.DataFrame
    result_budget: pd.DataFrame
    council_budget: pd.DataFrame
    # The rows of every source the report shows by unit (`by_unit` in the contract), by source.
    units: dict[str, pd.DataFrame]


def in_order(df: pd.DataFrame) -> pd.DataFrame:
    """Sums in the order of their keys (every column but the sums), by code point: the same on SQLite and on
    PostgreSQL whatever its collation, and whichever run loaded which month first."""
    keys = [c for c in df.columns if c not in ("cents", "rows")]
    return df.sort_values(keys, kind="stable", ignore_index=True)


def ledger_sums(db: Engine | Snapshot, batch_ids: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ledger summed in one pass over its rows in SQL: per year, month, area, service, line and two-digit
    account group (cents; `by_group`), and from those per year, month, area, service and line (cents and rows;
    `monthly`). One scan, not two, and of new batches only: a year's ledger is millions of rows."""
    t = LedgerRow
    prefix = func.substr(t.account, 1, 2).label("prefix")
    keys = (t.year, t.month, t.area, t.service, t.line, prefix)
    stmt = select(*keys, func.sum(t.amount_cents).label("cents"), func.count().label("rows")).group_by(*keys)
    with db.connect() as conn:
        groups = grouped_sums(conn, stmt, t.batch_id, batch_ids, [k.key for k in keys], sum_store(db))
    groups = groups.astype({"year": "int64", "month": "int64", "cents": "int64", "rows": "int64"})
    lines = ["year", "month", "area", "service", "line"]
    # Whole cents and counts: summing the groups gives exactly the lines' sums (a missing key is a group too).
    monthly = groups.groupby(lines, dropna=False, sort=False, as_index=False)[["cents", "rows"]].sum()
    return in_order(monthly), in_order(groups.drop(columns="rows"))


def ledger_area_totals(db: Engine | Snapshot, batch_ids: list[int]) -> pd.DataFrame:
    """Ledger summed per area straight from the rows (cents), independent of the service sums."""
    t = LedgerRow
    stmt = select(t.area, func.sum(t.amount_cents).label("cents")).group_by(t.area)
    with db.connect() as conn:
        totals = grouped_sums(conn, stmt, t.batch_id, batch_ids, ["area"], sum_store(db))
    return in_order(totals.astype({"cents": "int64"}))


def ledger_totals_by_batch(db: Engine | Snapshot, batch_ids: list[int]) -> pd.DataFrame:
    """Rows and cents per loaded batch, as the warehouse holds them."""
    t = LedgerRow
    stmt = select(func.count().label("rows"), func.coalesce(func.sum(t.amount_cents), 0).label("cents"))
    with db.connect() as conn:
        per_batch = sums_by_batch(conn, stmt, t.batch_id, batch_ids, sum_store(db))
        names = dict(conn.execute(select(LoadBatch.id, LoadBatch.file_name).where(LoadBatch.id.in_(batch_ids))).all())
    per_batch["file"] = per_batch[BATCH].map(names)
    totals = per_batch.groupby("file", as_index=False)[["rows", "cents"]].sum()
    return in_order(totals[["file", "rows", "cents"]])


class BatchVanished(RuntimeError):
    """A batch the run loaded or reused is no longer in the warehouse (another run replaced it)."""


class Snapshot:
    """One connection, one transaction: every read of a report sees the warehouse as it was at one moment.
    Stands in for an engine where the readers ask for a connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect
        # The batch sums computed while reading, kept once the reads are done.
        self.sums = SumStore()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        yield self.conn


@contextmanager
def snapshot(engine: Engine, loaded: Loaded) -> Iterator[Snapshot]:
    """A read-only snapshot of the warehouse for one report, after checking that its batches are all there.

    PostgreSQL reads in one REPEATABLE READ transaction; SQLite's one transaction holds its lock throughout.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        # By id and file hash: SQLite may give a replaced batch's id to the batch that replaced it.
        wanted = {(b.id, b.sha256): (b.source, b.period) for b in loaded.batches}
        rows = conn.execute(select(LoadBatch.id, LoadBatch.sha256).where(LoadBatch.id.in_([i for i, _ in wanted])))
        gone = sorted(set(wanted) - {tuple(r) for r in rows})
        if gone:
            where = ", ".join(f"{wanted[k][0]} {wanted[k][1]}" for k in gone[:5])
            raise BatchVanished(
                f"Tietovarastosta puuttuu {len(gone)} tämän ajon lataamaa erää ({where}); toinen ajo on korvannut "
                "ne kesken ajon. Aja raportti uudelleen."
            )
        snap = Snapshot(conn)
        yield snap
    store_sums(engine, snap.sums)


def sum_store(db: Engine | Snapshot) -> SumStore | None:
    """Where the batch sums of a report's reads are kept: a snapshot keeps them, a bare engine does not."""
    return db.sums if isinstance(db, Snapshot) else None


def reporting_data(engine: Engine | Snapshot, loaded: Loaded) -> ReportingData:
    """Everything the finances and unit tables compute from, read from the run's batches with set-based queries."""
    ledger = loaded.ids("ledger")
    monthly, by_group = ledger_sums(engine, ledger)
    return ReportingData(
        monthly=monthly,
        by_group=by_group,
        area_totals=ledger_area_totals(engine, ledger),
        loaded=ledger_totals_by_batch(engine, ledger),
        result_budget=read_facts(engine, "result_budget", loaded.ids("result_budget")),
        council_budget=read_facts(engine, "council_budget", loaded.ids("council_budget")),
        units={sid: read_facts(engine, sid, loaded.ids(sid)) for sid, src in sources().items() if src.by_unit},
    )


def read_facts(engine: Engine, source: str, batch_ids: list[int]) -> pd.DataFrame:
    """The batches' rows as they are, wherever each keeps them (table rows or a block)."""
    model = FACTS[source]
    columns = fact_columns(model)
    with engine.connect() as conn:
        # In the order of the files (by period and name), each file's rows as it had them: the same whichever
        # run loaded which month first (row ids interleave when runs load at once).
        order = (
            conn.execute(
                select(LoadBatch.id).where(LoadBatch.id.in_(batch_ids)).order_by(LoadBatch.period, LoadBatch.file_name)
            )
            .scalars()
            .all()
        )
        by_batch = rows_by_batch(conn, select(*(model.__table__.c[c] for c in columns)), model.__table__, list(order))
    return pd.DataFrame([r for b in order for r in by_batch[b]], columns=columns)
