"""Grouped sums by batch: each batch's result kept beside it, so a report reads the rows of new batches only.

A batch never changes once loaded (a corrected file is a new batch, and the
batch it replaces goes with its results), so one batch's result of a grouped
SUM or COUNT is a fact about that batch. `grouped_sums` runs a statement over
the batches with no stored result for it (one query, grouped by batch as well),
adds the batches' results up in pandas and, given a store, keeps the new
results for the next report. Stored or computed now, each batch's rows reach
the addition as the same values in the same order (the batches by file hash),
so a report is the same whichever run summed which batch first.

Only additive statements belong here: every column that is not a key is a SUM
or a COUNT.
"""

from __future__ import annotations

import decimal
import hashlib
import json
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import Select, and_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from tasks.warehouse.columns import rows_by_batch
from tasks.warehouse.models import BatchSum, LoadBatch

BATCH = "batch_id"


@dataclass
class SumStore:
    """The batch results computed during one report's reads, written once the reads are done (in a
    transaction of their own: the reads' snapshot stays read-only)."""

    pending: list[dict] = field(default_factory=list)


def statement_key(stmt: Select, conn: Connection) -> str:
    """The digest of a statement as the database runs it: its SQL and its parameters."""
    compiled = stmt.compile(dialect=conn.dialect)
    text = str(compiled) + json.dumps(compiled.params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(value):
    """A database value as JSON keeps it: PostgreSQL's sums of integers arrive as decimals."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def sums_by_batch(
    conn: Connection, stmt: Select, batch_col, batch_ids: list[int], store: SumStore | None = None
) -> pd.DataFrame:
    """The statement's result for each batch (a `batch_id` column added), the batches in the order of their file
    hashes. Results stored earlier are read, the rest computed in one query; with a store, these are kept."""
    columns = [c.name for c in stmt.selected_columns]
    hashes = dict(conn.execute(select(LoadBatch.id, LoadBatch.sha256).where(LoadBatch.id.in_(batch_ids))).all())
    key = statement_key(stmt, conn)
    found: dict[int, list] = {}
    if store is not None and hashes:
        kept = conn.execute(
            select(BatchSum.batch_id, BatchSum.result)
            .join(LoadBatch, and_(LoadBatch.id == BatchSum.batch_id, LoadBatch.sha256 == BatchSum.sha256))
            .where(BatchSum.query == key, BatchSum.batch_id.in_(list(hashes)))
        )
        found = {batch: json.loads(result) for batch, result in kept}
    missing = [b for b in hashes if b not in found]
    if missing:
        computed = {
            b: [[_plain(v) for v in row] for row in rows]
            for b, rows in rows_by_batch(conn, stmt, batch_col.table, missing, summed=True).items()
        }
        found.update(computed)
        if store is not None:
            store.pending.extend(
                {"batch_id": b, "sha256": hashes[b], "query": key, "result": json.dumps(rows)}
                for b, rows in computed.items()
            )
    rows = [[*row, b] for b in sorted(found, key=hashes.__getitem__) for row in found[b]]
    return pd.DataFrame(rows, columns=[*columns, BATCH]) if rows else pd.DataFrame(columns=[*columns, BATCH])


def grouped_sums(
    conn: Connection, stmt: Select, batch_col, batch_ids: list[int], keys: list[str], store: SumStore | None = None
) -> pd.DataFrame:
    """The statement's sums over the given batches, grouped by `keys` (a missing key is a group too) and in their
    order: the batches' results (`sums_by_batch`) added up. A sum of nothing but NULLs stays NULL, as in SQL."""
    per_batch = sums_by_batch(conn, stmt, batch_col, batch_ids, store).drop(columns=BATCH)
    sums = [c for c in per_batch.columns if c not in keys]
    per_batch[sums] = per_batch[sums].apply(pd.to_numeric)
    summed = per_batch.groupby(keys, dropna=False, sort=False)[sums].sum(min_count=1)
    return summed.reset_index().sort_values(keys, kind="stable", ignore_index=True)


def store_sums(engine: Engine, store: SumStore) -> None:
    """Keep the batch results computed during a report's reads. Best effort: another run may have kept the same
    ones meanwhile, and a result that cannot be written only costs the next report its reading."""
    if not store.pending:
        return
    dialect = {"postgresql": postgresql, "sqlite": sqlite}.get(engine.dialect.name)
    if dialect is None:
        return
    try:
        with engine.begin() as conn:
            conn.execute(dialect.insert(BatchSum).on_conflict_do_nothing(), store.pending)
    except SQLAlchemyError:
        pass
    store.pending.clear()
