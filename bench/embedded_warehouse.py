"""Which embedded warehouse (issue 14): SQLite, as katsaus loads it today, against DuckDB, the columnar candidate,
and against what katsaus now does for its largest sources: SQLite holding each batch's rows as one columnar block
(Parquet, `tasks.warehouse.columns`) instead of as table rows.

Not part of `make test`. On the sample of `--scale` (generated once under var/bench/data/, as `make bench-e2e`
does), every fact source is extracted as a run extracts it, then measured on both databases, each in a fresh file:

- load: the rows into the source's fact table (SQLite through katsaus's own `insert_rows`, the driver's
  executemany in one transaction; DuckDB by appending the Arrow-backed frame, its fastest path), committed;
  and, for "blocks", each source's rows a month at a time as katsaus's own blocks (`block_bytes`), one row of
  `batch_columns` per month, in the same kind of SQLite file and transaction as the batch's own row;
- SQLite's own limit: the same load with the settings one might tune (`SQLITE_VARIANTS`: a larger page cache,
  `synchronous = NORMAL`, no batch index), `--repeat` times each, every variant holding the same rows;
- read: the report's heaviest kind of read, the ledger's sums by year, month, service and account and the events'
  counts by month, over every row (for "blocks": the blocks read and decoded as katsaus reads them, then the same
  SQL run by an in-memory DuckDB over them);
- several runs at once: while one process holds the file open for writing, can a second process (the next run,
  `katsaus serve`'s other run, a four-month backfill) open it to write, or at least to read? For "blocks", a
  second process reads them while the first holds a write transaction open.

Prints a table and writes JSON to var/bench/results/. Usage: `python bench/embedded_warehouse.py --scale 10`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
from e2e import ROOT, machine, sample  # the benchmark's folder is first on sys.path; e2e puts the checkout there
from sqlalchemy import event, insert, select

from tasks.ingest.extract import extract_source
from tasks.warehouse.columns import block_bytes, blocks
from tasks.warehouse.engine import engine_for, migrate, warehouse
from tasks.warehouse.load import fact_rows, insert_rows
from tasks.warehouse.models import FACTS, BatchColumns, LoadBatch

YEAR, MONTH = 2024, 12
# A second process opening the file while the first holds it for writing: to write, then only to read.
SECOND_PROCESS = """
import sys, duckdb
try:
    duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "read").close()
    print("ok")
except Exception as exc:
    print(type(exc).__name__ + ": " + str(exc).splitlines()[0])
"""

# A reader in a second process while the first holds a write transaction on the SQLite file (blocks).
SECOND_SQLITE_READER = """
import sqlite3, sys
try:
    con = sqlite3.connect(sys.argv[1], timeout=5)
    print("ok" if con.execute("SELECT COUNT(*), SUM(LENGTH(data)) FROM batch_columns").fetchone()[0] else "empty")
except Exception as exc:
    print(type(exc).__name__ + ": " + str(exc).splitlines()[0])
"""


def facts(extracts: Path) -> dict[str, pd.DataFrame]:
    """Every fact source's rows for the year, typed as a run types them, with the fact table's columns."""
    return {sid: fact_rows(sid, extract_source(extracts, sid, YEAR, MONTH).frame).assign(batch_id=1) for sid in FACTS}


# SQLite's load as katsaus does it, and with what one might tune: (pragmas set on each connection, whether
# the fact tables keep their index on the batch).
SQLITE_VARIANTS: dict[str, tuple[tuple[str, ...], bool]] = {
    "as katsaus loads": ((), True),
    "page cache 256 MB": (("PRAGMA cache_size = -262144",), True),
    "synchronous NORMAL": (("PRAGMA synchronous = NORMAL",), True),
    "no batch index": ((), False),
}


def bench_batch(conn, source: str, period: str, rows: int) -> int:
    """A load batch's row for the benchmark's rows of one source and period; its id."""
    values = dict(source=source, period=period, file_name="bench", sha256="0" * 64, rows=rows, run_id="bench")
    return conn.execute(insert(LoadBatch).values(**values, loaded_at=dt.datetime.now(dt.UTC))).inserted_primary_key[0]


def sqlite_load(
    path: Path, frames: dict[str, pd.DataFrame], pragmas: tuple[str, ...] = (), batch_index: bool = True
) -> float:
    """Seconds to load every frame into a migrated SQLite warehouse, one transaction per source, as katsaus does
    (with `pragmas` run on each connection, and without the fact tables' batch index if asked)."""
    engine = engine_for(f"sqlite:///{path}")
    if pragmas:  # on every connection as it opens (SQLite takes `synchronous` only outside a transaction)
        event.listen(engine, "connect", lambda dbapi, _record: [dbapi.execute(p) for p in pragmas])
    migrate(engine)
    if not batch_index:
        with engine.begin() as conn:
            for sid in frames:
                for index in FACTS[sid].__table__.indexes:
                    conn.exec_driver_sql(f"DROP INDEX {index.name}")
    start = time.perf_counter()
    for sid, frame in frames.items():
        with engine.begin() as conn:
            batch = bench_batch(conn, sid, "2024-12", len(frame))
            insert_rows(conn, FACTS[sid].__table__, frame.assign(batch_id=batch))
    seconds = time.perf_counter() - start
    engine.dispose()
    return seconds


def duckdb_load(path: Path, frames: dict[str, pd.DataFrame]) -> float:
    """Seconds to load every frame into DuckDB tables of the same columns, one transaction per source."""
    con = duckdb.connect(str(path))
    for sid, frame in frames.items():
        con.register("frame", frame.head(0))
        con.execute(f"CREATE TABLE {FACTS[sid].__tablename__} AS SELECT * FROM frame")
        con.unregister("frame")
    start = time.perf_counter()
    for sid, frame in frames.items():
        con.begin()
        con.register("frame", frame)
        con.execute(f"INSERT INTO {FACTS[sid].__tablename__} SELECT * FROM frame")
        con.unregister("frame")
        con.commit()
    con.execute("CHECKPOINT")
    seconds = time.perf_counter() - start
    con.close()
    return seconds


def months(frame: pd.DataFrame) -> list[pd.DataFrame]:
    """A source's rows a month at a time, as a run's batches hold them (the whole frame where it has no months)."""
    if not {"year", "month"} <= set(frame.columns):
        return [frame]
    return [part for _, part in frame.groupby(["year", "month"], sort=True)]


def block_load(path: Path, frames: dict[str, pd.DataFrame]) -> float:
    """Seconds to write every source a month at a time as katsaus's blocks into a migrated SQLite warehouse, one
    transaction per source with its batch row, as katsaus writes table rows."""
    engine = engine_for(f"sqlite:///{path}")
    migrate(engine)
    start = time.perf_counter()
    for sid, frame in frames.items():
        table = FACTS[sid].__table__
        with engine.begin() as conn:
            for m in months(frame):
                period = f"{m['year'].iloc[0]}-{m['month'].iloc[0]:02d}" if "month" in m else "2024"
                batch = bench_batch(conn, sid, period, len(m))
                conn.execute(insert(BatchColumns).values(batch_id=batch, data=block_bytes(m, table)))
    seconds = time.perf_counter() - start
    engine.dispose()
    return seconds


def block_reads(path: Path, reads: list[str]) -> tuple[float, list[list[tuple]]]:
    """`timed_reads` on the blocks: each read's table decoded from its blocks as katsaus decodes them (only the
    columns the read names), then the SQL run by an in-memory DuckDB over them."""
    tables = {m.__tablename__: m.__table__ for m in FACTS.values()}
    with warehouse(f"sqlite:///{path}", migrated=False) as engine, engine.connect() as conn:
        con = duckdb.connect()

        def run(sql: str) -> list[tuple]:
            table = tables[sql.split(" FROM ", 1)[1].split()[0]]
            named = [c for c in table.columns.keys() if re.search(rf"\b{c}\b", sql.split(" FROM ", 1)[0])]
            ids = conn.execute(
                select(BatchColumns.batch_id)
                .join(LoadBatch, LoadBatch.id == BatchColumns.batch_id)
                .where(LoadBatch.source == next(s for s, m in FACTS.items() if m.__table__ is table))
            ).scalars()
            con.register(table.name, pa.concat_tables(block for _, block in blocks(conn, table, list(ids), named)))
            try:
                return con.execute(sql).fetchall()
            finally:
                con.unregister(table.name)

        try:
            return timed_reads(run, reads)
        finally:
            con.close()


def block_second_process(path: Path) -> str:
    """What a second process gets when it reads the blocks while this one holds a write transaction open."""
    with warehouse(f"sqlite:///{path}", migrated=False) as engine, engine.begin() as conn:
        conn.execute(insert(BatchColumns).values(batch_id=0, data=b""))
        return subprocess.run(
            [sys.executable, "-c", SECOND_SQLITE_READER, str(path)], capture_output=True, text=True, timeout=60
        ).stdout.strip()


def sqlite_variants(
    folder: Path, frames: dict[str, pd.DataFrame], reads: list[str], expected: list[list[tuple]], repeat: int
) -> dict[str, dict]:
    """Each SQLite variant's load seconds, `repeat` times into a fresh file; stops if a variant's file does not give
    the report's reads that katsaus's own load gave (a faster load of other rows would prove nothing)."""
    out = {}
    for name, (pragmas, batch_index) in SQLITE_VARIANTS.items():
        seconds = []
        for n in range(repeat):
            path = folder / f"variant-{len(out)}-{n}.db"
            seconds.append(sqlite_load(path, frames, pragmas, batch_index))
            if sqlite_reads(path, reads)[1] != expected:
                sys.exit(f"SQLite variant {name!r} holds other rows than katsaus's own load: the comparison is void")
            for leftover in folder.glob(f"{path.name}*"):
                leftover.unlink()
        out[name] = {"load_s": seconds, "median_s": statistics.median(seconds)}
    return out


def report_reads() -> list[str]:
    """The ledger's sums and every monthly fact table's counts by month, in SQL both databases run."""
    ledger = FACTS["ledger"].__tablename__
    reads = [
        f"SELECT year, month, service, account, SUM(amount_cents) FROM {ledger} GROUP BY year, month, service, account"
    ]
    for sid, model in FACTS.items():
        if sid != "ledger" and {"year", "month"} <= set(model.__table__.columns.keys()):
            reads.append(f"SELECT year, month, COUNT(*) FROM {model.__tablename__} GROUP BY year, month")
    return reads


def timed_reads(run, reads: list[str]) -> tuple[float, list[list[tuple]]]:
    """Seconds for every read, and what each read gave (sorted, sums as integers: the cents are whole)."""
    start = time.perf_counter()
    results = [run(sql) for sql in reads]
    seconds = time.perf_counter() - start
    return seconds, [sorted(tuple(int(v) if isinstance(v, float) else v for v in row) for row in r) for r in results]


def sqlite_reads(path: Path, reads: list[str]) -> tuple[float, list[list[tuple]]]:
    """`timed_reads` on a loaded SQLite file."""
    with warehouse(f"sqlite:///{path}", migrated=False) as engine, engine.connect() as conn:
        return timed_reads(lambda sql: conn.exec_driver_sql(sql).fetchall(), reads)


def second_process(path: Path) -> dict[str, str]:
    """What a second process gets when it opens the DuckDB file that this one holds open for writing."""
    con = duckdb.connect(str(path))
    try:
        return {
            mode: subprocess.run(
                [sys.executable, "-c", SECOND_PROCESS, str(path), mode], capture_output=True, text=True, timeout=60
            ).stdout.strip()
            for mode in ("write", "read")
        }
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--root", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--repeat", type=int, default=3, help="loads of each SQLite variant (median and spread)")
    args = parser.parse_args()
    extracts = sample(args.scale, args.root / "data")
    start = time.perf_counter()
    frames = facts(extracts)
    extract_s = time.perf_counter() - start
    rows = sum(len(f) for f in frames.values())
    reads = report_reads()
    with tempfile.TemporaryDirectory(dir=args.root) as tmp:
        lite, duck, blocks_db = Path(tmp) / "w.db", Path(tmp) / "w.duckdb", Path(tmp) / "blocks.db"
        result = {"scale": args.scale, "rows": rows, "extract_s": extract_s, "machine": machine()}
        result["sqlite_load_s"] = sqlite_load(lite, frames)
        result["duckdb_load_s"] = duckdb_load(duck, frames)
        result["blocks_load_s"] = block_load(blocks_db, frames)
        result["sqlite_read_s"], sqlite_gave = sqlite_reads(lite, reads)
        with duckdb.connect(str(duck), read_only=True) as con:
            result["duckdb_read_s"], duckdb_gave = timed_reads(lambda sql: con.execute(sql).fetchall(), reads)
        result["blocks_read_s"], blocks_gave = block_reads(blocks_db, reads)
        # The yardstick is honest only if all hold the same rows and sum them alike.
        result["same_results"] = sqlite_gave == duckdb_gave == blocks_gave
        if not result["same_results"]:
            sys.exit("SQLite, DuckDB and the blocks disagree on the report's reads: the comparison is void")
        for db, path in (("sqlite", lite), ("duckdb", duck), ("blocks", blocks_db)):
            result[f"{db}_mb"] = path.stat().st_size / 1e6
        result["duckdb_second_process"] = second_process(duck)
        result["blocks_second_process"] = block_second_process(blocks_db)
        result["sqlite_variants"] = sqlite_variants(Path(tmp), frames, reads, sqlite_gave, args.repeat)
    print(f"scale {args.scale}: {rows:,} fact rows, extracted in {extract_s:.1f} s".replace(",", " "))
    print(f"{'':8} {'load s':>8} {'rows/s':>10} {'reads s':>8} {'file MB':>8}")
    for db in ("sqlite", "duckdb", "blocks"):
        load = result[f"{db}_load_s"]
        print(
            f"{db:8} {load:8.1f} {rows / load:10,.0f}".replace(",", " ")
            + f" {result[f'{db}_read_s']:8.2f} {result[f'{db}_mb']:8.0f}"
        )
    print("DuckDB, a second process while the first writes:", result["duckdb_second_process"])
    print("Blocks in SQLite, a second process reading while the first writes:", result["blocks_second_process"])
    print(f"SQLite's load by its settings, {args.repeat} loads each: {'median s':>9} {'min–max s':>13} {'rows/s':>10}")
    for name, v in result["sqlite_variants"].items():
        spread = f"{min(v['load_s']):.1f}–{max(v['load_s']):.1f}"
        print(f"  {name:<48} {v['median_s']:9.1f} {spread:>13} {rows / v['median_s']:10,.0f}".replace(",", " "))
    out = args.root / "results" / f"embedded-warehouse-s{args.scale}-{dt.datetime.now():%Y%m%dT%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
