"""Batches kept as columns: a source's rows of one batch as one Parquet block in the warehouse, not as table rows.

An event source's months are millions of rows, and the report only ever sums
them (`tasks.warehouse.summaries`) or looks up a few keys in them. Inserting
them row by row cost most of a full run (SQLite took 385 000 rows a second, the
blocks 2.6 million: `make bench-warehouse`, docs/operations.md). A source
declares `columnar: true` in its contract; its batches are then written as one
block each, in the same transaction as the batch's own row, so a block is
replaced, removed, backed up and read in a snapshot exactly as table rows are,
and any number of processes read while one writes.

A block holds the fact table's columns (not its id and batch), each of the type
the table would hold it as. The same SQL that runs on table rows runs on a
block: an in-memory DuckDB, one thread (sums in the rows' order: the same
figures every time), reads the columns the statement names. Batches loaded
before blocks existed keep their table rows, and readers take each batch from
where it is.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Float, Integer, Select, Table, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import visitors

from tasks.warehouse.models import BatchColumns, fact_columns

# The fact tables' column types as a block keeps them (what the table would hand back).
ARROW_TYPES = ((Boolean, pa.bool_()), (BigInteger, pa.int64()), (Integer, pa.int64()), (Float, pa.float64()))
# zstd: a tenth of SQLite's bytes for the same rows, and quick to decode.
COMPRESSION = "zstd"


class DamagedBlock(RuntimeError):
    """A batch's block cannot be read back (the warehouse's bytes were damaged)."""


def arrow_type(column) -> pa.DataType:
    """The Arrow type a block keeps a fact table's column as."""
    kind = column.type
    if isinstance(kind, DateTime):
        return pa.timestamp("us")
    if isinstance(kind, Date):
        return pa.date32()
    for sql_type, arrow in ARROW_TYPES:
        if isinstance(kind, sql_type):
            return arrow
    return pa.string()


def _arrow_column(s: pd.Series, kind: pa.DataType) -> pa.Array:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_localize(None)  # a zoned date-time as its wall-clock time, as the table keeps it
    values = pa.Array.from_pandas(s)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    # A date-time to the microsecond, a date without its time, as the table keeps them; otherwise a safe cast:
    # cents that are not whole stop the load rather than lose their fraction.
    return values.cast(kind, safe=not pa.types.is_temporal(kind))


def block_bytes(rows: pd.DataFrame, table: Table) -> bytes:
    """A batch's rows (the fact table's columns, without id and batch) as one Parquet block's bytes. A column the
    table declares NOT NULL with a missing value stops the load, as the table would."""
    columns = fact_columns(table)
    # A column the frame does not have is missing in every row, as the table would keep it.
    arrays = [
        _arrow_column(rows[c], arrow_type(table.c[c]))
        if c in rows.columns
        else pa.nulls(len(rows), arrow_type(table.c[c]))
        for c in columns
    ]
    for c, values in zip(columns, arrays, strict=True):
        if values.null_count and not table.c[c].nullable:
            raise ValueError(f"{table.name}.{c}: {values.null_count} missing values in a column that may have none")
    sink = io.BytesIO()
    pq.write_table(pa.table(arrays, names=columns), sink, compression=COMPRESSION)
    return sink.getvalue()


def kept_where(conn, batch_ids: list[int]) -> tuple[list[int], list[int]]:
    """The batches by where they keep their rows: (as table rows, as blocks), each in the order given."""
    if not batch_ids:
        return [], []
    held = set(conn.execute(select(BatchColumns.batch_id).where(BatchColumns.batch_id.in_(batch_ids))).scalars())
    return [b for b in batch_ids if b not in held], [b for b in batch_ids if b in held]


def _block_data(conn, batch_id: int) -> bytes:
    """A batch's block as bytes. From PostgreSQL in the binary format (psycopg's own cursor, in the connection's
    transaction): its text format sends each byte as two hex digits, four times slower to fetch."""
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        with conn.connection.driver_connection.cursor(binary=True) as cursor:
            cursor.execute(f"SELECT data FROM {BatchColumns.__tablename__} WHERE batch_id = %s", (batch_id,))
            found = cursor.fetchone()
        if found is None:
            raise LookupError(f"batch {batch_id} has no block")
        return found[0]
    return conn.execute(select(BatchColumns.data).where(BatchColumns.batch_id == batch_id)).scalar_one()


def blocks(conn, table: Table, batch_ids: list[int], columns: list[str]) -> Iterator[tuple[int, pa.Table]]:
    """Each batch's block of the fact table, read one at a time (a month of an event source is half a million rows):
    only the given columns. A column added to the table after a block was written is missing in its every row."""
    for b in batch_ids:
        data = _block_data(conn, b)
        try:
            block = pq.ParquetFile(pa.BufferReader(data))
            kept = [c for c in columns if c in block.schema_arrow.names]
            read = block.read(columns=kept)
        except (pa.ArrowException, OSError) as exc:
            raise DamagedBlock(
                f"Tietovaraston erän {b} rivejä ei voi lukea (tallennettu sarakemuoto on vioittunut: {exc}). "
                "Lataa erän tiedosto uudelleen (katsaus run --force)."
            ) from exc
        for c in columns:
            if c not in kept:
                read = read.append_column(c, pa.nulls(read.num_rows, arrow_type(table.c[c])))
        yield b, read.select(columns)


def columns_named(stmt: Select, table: Table) -> list[str]:
    """The table's columns a statement reads (the block's columns to decode), in the table's order."""
    named = {c.name for c in visitors.iterate(stmt) if isinstance(c, Column) and c.table is table}
    return [c for c in fact_columns(table) if c in named]


def duckdb_sql(stmt: Select) -> str:
    """A statement as DuckDB runs it: PostgreSQL's SQL, which DuckDB speaks, its parameters written in."""
    return str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def rows_from_blocks(
    conn, stmt: Select, table: Table, batch_ids: list[int], beside: dict[str, pd.DataFrame] | None = None
) -> Iterator[tuple[int, list[tuple]]]:
    """The statement's result rows on each batch's block, by batch: the statement reads `table`, which stands for
    one batch's rows at a time, and the frames `beside` under their names (new keys to join)."""
    if not batch_ids:
        return
    import duckdb  # heavy: only reading blocks needs it

    sql = duckdb_sql(stmt)
    con = duckdb.connect(config={"threads": 1})
    try:
        for name, frame in (beside or {}).items():
            con.register(name, frame)
        for b, block in blocks(conn, table, batch_ids, columns_named(stmt, table)):
            con.register(table.name, block)
            try:
                yield b, con.execute(sql).fetchall()
            finally:
                con.unregister(table.name)
    finally:
        con.close()


def rows_by_batch(
    conn,
    stmt: Select,
    table: Table,
    batch_ids: list[int],
    summed: bool = False,
    beside: dict[str, pd.DataFrame] | None = None,
) -> dict[int, list[tuple]]:
    """The statement's result rows on each of the batches, wherever each keeps its rows: the table rows' in one
    query (grouped by batch as well when the statement sums, else in the rows' order), each block's on its own.
    `beside`: frames the statement reads under their names beside the table (for the table rows, already a table
    of the database under that name: new keys in a temporary table)."""
    as_rows, as_columns = kept_where(conn, batch_ids)
    out: dict[int, list[tuple]] = {b: [] for b in batch_ids}
    if as_rows:
        batch = table.c.batch_id
        per_batch = stmt.add_columns(batch).where(batch.in_(as_rows))
        for row in conn.execute(per_batch.group_by(batch) if summed else per_batch.order_by(table.c.id)):
            out[row[-1]].append(tuple(row[:-1]))
    for b, rows in rows_from_blocks(conn, stmt, table, as_columns, beside):
        out[b] = rows
    return out
