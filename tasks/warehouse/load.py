"""Loading a period's files: one batch per file, replaced atomically, through the driver's fastest bulk path.

Every row belongs to a `load_batch` that records its lineage: source, period,
file name, SHA-256, row count and the run that loaded it. Loading a source's
period replaces that period's batch in one transaction, so a period is never
duplicated and never half-loaded. A file already loaded with the same SHA-256
is not loaded again: its batch is reused.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import BigInteger, Column, Date, DateTime, Integer, MetaData, Table, and_, delete, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from tasks.contracts import sources
from tasks.ingest.partwise import hash_scheme, key_hashes
from tasks.ingest.period import Extracted
from tasks.ingest.quality import Validated
from tasks.ingest.reuse import CHECKED_COLUMNS
from tasks.ingest.rows import Rows
from tasks.ingest.validate import uniqueness_keys
from tasks.warehouse.columns import block_bytes, kept_where, rows_by_batch
from tasks.warehouse.models import FACTS, BatchColumns, BatchKeyHashes, BatchSum, LoadBatch, fact_columns


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


def fact_rows(source: str, frame: pd.DataFrame) -> pd.DataFrame:
    """An extracted frame as the source's fact table takes it: its columns (the line number as `source_line`)."""
    rows = frame.rename(columns={"_line": "source_line"})
    return rows[[c for c in fact_columns(FACTS[source]) if c in rows.columns]]


def load_period(
    engine: Engine,
    source: str,
    period: str,
    file_name: str,
    sha256: str,
    frame: pd.DataFrame | None,
    run_id: str,
    force: bool = False,
    validation_key: str | None = None,
    warned: str | None = None,
    block: Future[bytes] | None = None,
) -> Batch:
    """Replace one source's period with `frame`, atomically.

    A file already loaded with the same SHA-256 is not loaded again: its batch
    is reused, so reruns are cheap and the lineage stays that of the first load
    (`force` loads it again all the same). `validation_key` is kept with the
    batch when this run validated the rows clean (None otherwise), and with it
    `warned`, what the warning checks found in them (JSON, None when nothing); a file that
    was not read at all (`frame` None: reused, see tasks.ingest.reuse) must have
    its batch still there. Two runs loading the same period at once meet at the
    batch table's unique key: the later one reads the winner's batch again and
    reuses or replaces it, never doubling the period. For a columnar source,
    `block` may bring the frame's block being encoded elsewhere (`load_files`).
    """
    for attempt in range(3):
        try:
            return _load_period_once(
                engine, source, period, file_name, sha256, frame, run_id, force, validation_key, warned, block
            )
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
    frame: pd.DataFrame | None,
    run_id: str,
    force: bool,
    validation_key: str | None,
    warned: str | None,
    block: Future[bytes] | None,
) -> Batch:
    model = FACTS[source]
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Loads of one period wait for each other here: two that both read the period's old batch would
            # otherwise both insert a new one, and the later one fail on the unique key (SQLite serialises writers
            # by itself). Held until this transaction ends.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"load/{source}/{period}"})
        lb = LoadBatch.__table__
        existing = conn.execute(select(lb).where(lb.c.source == source, lb.c.period == period)).all()
        same = len(existing) == 1 and existing[0].sha256 == sha256 and existing[0].file_name == file_name
        if same and (frame is None or not force):
            b = existing[0]
            if frame is not None and ((b.validation_key, b.warned) != (validation_key, warned) or b.key_ranges is None):
                # Validated again in this run: the batch is kept under this run's verdict (and, loaded before its
                # key ranges were kept, with them).
                conn.execute(
                    lb.update()
                    .where(lb.c.id == b.id)
                    .values(validation_key=validation_key, warned=warned, key_ranges=key_ranges(source, frame))
                )
            return Batch(b.id, source, period, b.file_name, b.sha256, b.rows, b.run_id, True)
        if frame is None:
            raise RuntimeError(
                f"Tiedoston {file_name} aiemmin tarkistetut rivit poistuivat tietovarastosta tämän ajon aikana "
                "(toinen ajo korvasi ne); aja raportti uudelleen."
            )
        old_ids = [r.id for r in existing]
        if old_ids:
            conn.execute(delete(model).where(model.batch_id.in_(old_ids)))
            conn.execute(delete(BatchColumns).where(BatchColumns.batch_id.in_(old_ids)))
            conn.execute(delete(BatchSum).where(BatchSum.batch_id.in_(old_ids)))
            conn.execute(delete(BatchKeyHashes).where(BatchKeyHashes.batch_id.in_(old_ids)))
            conn.execute(delete(LoadBatch).where(LoadBatch.id.in_(old_ids)))
        ranges = key_ranges(source, frame)
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
                "validation_key": validation_key,
                "warned": warned,
                "key_ranges": ranges,
            },
        ).scalar_one()
        others = conn.execute(select(lb.c.key_ranges).where(lb.c.source == source, lb.c.id != batch_id)).scalars()
        hashed = batch_key_hashes(source, frame, _ranges(ranges) or {}, [_ranges(r) for r in others])
        if hashed:
            conn.execute(BatchKeyHashes.__table__.insert(), [{**h, "batch_id": batch_id} for h in hashed])
        if sources()[source].columnar:
            data = block.result() if block is not None else block_bytes(fact_rows(source, frame), model.__table__)
            conn.execute(BatchColumns.__table__.insert(), {"batch_id": batch_id, "data": data})
        else:
            insert_rows(conn, model.__table__, fact_rows(source, frame).assign(batch_id=batch_id))
    return Batch(batch_id, source, period, file_name, sha256, len(frame), run_id, False)


def _plain_key(value):
    """A key value as JSON keeps it and Python compares it: numbers as numbers, dates and text as text."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()  # a numpy scalar
    return value if isinstance(value, (bool, int, float)) else str(value)


def value_ranges(frame: pd.DataFrame, columns: list[str]) -> dict[str, list | None]:
    """Each column's smallest and largest value (None for a column with none); a column whose values do not
    order (mixed types) is left out: its range is not known."""
    out: dict[str, list | None] = {}
    for c in columns:
        kind = frame[c].dtype
        if (isinstance(kind, pd.StringDtype) and kind.storage == "pyarrow") or (
            isinstance(kind, pd.ArrowDtype) and kind.pyarrow_dtype in (pa.string(), pa.large_string())
        ):
            # Arrow's text in one pass for both ends, nulls skipped (pandas' min and max: two passes after a
            # dropna; a month's answer ids are half a million strings).
            ends = pc.min_max(pa.array(frame[c]))
            out[c] = None if ends["min"].as_py() is None else [ends["min"].as_py(), ends["max"].as_py()]
            continue
        values = frame[c].dropna()
        try:
            out[c] = [_plain_key(values.min()), _plain_key(values.max())] if len(values) else None
        except TypeError:
            continue
    return out


def key_ranges(source: str, frame: pd.DataFrame) -> str | None:
    """The ranges of the columns of the source's unique keys in a batch's rows (JSON), or None when it has none."""
    columns = sorted({c for key in uniqueness_keys(source) for c in key if c in frame.columns})
    return json.dumps(value_ranges(frame, columns), ensure_ascii=False) if columns else None


def _ranges(kept: str | None) -> dict | None:
    return json.loads(kept) if kept else None


def _sorted_unique(hashes: np.ndarray) -> np.ndarray:
    """The hashes ascending, each once (a sort: numpy's own `unique` takes 100 times longer on millions)."""
    ordered = np.sort(hashes)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered


def batch_key_hashes(source: str, frame: pd.DataFrame, ranges: dict, others: list[dict | None]) -> list[dict]:
    """Per key the source's suite requires unique, the batch's key hashes as `BatchKeyHashes` keeps them (without
    the batch's id). Nothing for a key whose ranges keep apart from those of every other batch of the source (ids
    that run on with time): the ranges spare later months the comparison, and hashing millions of ids would only
    cost the load. The first batch of a source keeps them (there is nothing yet to tell)."""
    out = []
    for key in uniqueness_keys(source):
        if not set(key) <= set(frame.columns) or (others and not any(may_share(o, ranges, key) for o in others)):
            continue
        values = frame[key].dropna()
        hashes = _sorted_unique(key_hashes(values)).astype("<u8")
        out.append({"key": json.dumps(key), "scheme": hash_scheme(values), "hashes": hashes.tobytes()})
    return out


def may_share(kept: dict | None, new: dict[str, list | None], key: list[str]) -> bool:
    """Whether a batch with these kept ranges can hold a key whose columns' values fall in `new`'s ranges: unless
    some column's ranges do not meet (unknown ranges, or values that do not compare, count as meeting)."""
    if kept is None:
        return True
    for c in key:
        if c not in kept or new.get(c) is None:
            continue
        if kept[c] is None:
            return False
        try:
            if new[c][1] < kept[c][0] or kept[c][1] < new[c][0]:
                return False
        except TypeError:
            continue
    return True


def _stamp_text(s: pd.Series, as_date: bool = False) -> pa.Array:
    """Date-times as text to the microsecond (`2024-08-31 14:05:00.000000`), or dates (`2024-08-31`): the form
    SQLAlchemy keeps in SQLite and COPY reads. A zoned one as its wall-clock time; a missing one null. Arrow's cast,
    3–8 times faster than strftime."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        s = s.dt.tz_localize(None)
    stamps = pa.Array.from_pandas(s)
    return pc.cast(pc.cast(stamps, pa.date32() if as_date else pa.timestamp("us"), safe=False), pa.string())


def _column_values(s: pd.Series, column, dialect: str) -> list:
    """A column as the database driver takes it: Python values, None for missing."""
    if dialect == "sqlite" and pd.api.types.is_datetime64_any_dtype(s):
        # SQLAlchemy's own storage format for SQLite dates and date-times, so it reads them back.
        as_date = isinstance(column.type, Date) and not isinstance(column.type, DateTime)
        return _stamp_text(s, as_date).to_pylist()
    return s.to_numpy(dtype=object, na_value=None).tolist()


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
    quoted = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in cols)
    if dialect == "postgresql" and conn.dialect.driver == "psycopg":
        cursor = conn.connection.driver_connection.cursor()
        # The text format built column by column (writing row by row through the driver took 5 s a million rows),
        # a chunk at a time: the server parses one chunk while the next is built.
        with cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
            for start in range(0, len(rows), COPY_CHUNK_ROWS):
                copy.write(copy_text(rows.iloc[start : start + COPY_CHUNK_ROWS], table))
        return
    values = [_column_values(rows[c], table.c[c], dialect) for c in cols]
    if dialect == "sqlite":
        # The driver's own cursor takes the tuples as they are made (SQLAlchemy wants a list of them all: a third
        # of a second more a million rows), in the connection's transaction.
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.executemany(
                f"INSERT INTO {table.name} ({quoted}) VALUES ({', '.join('?' * len(cols))})", zip(*values, strict=True)
            )
        finally:
            cursor.close()
    else:
        conn.execute(table.insert(), [dict(zip(cols, row, strict=True)) for row in zip(*values, strict=True)])


@dataclass(frozen=True)
class PlannedLoad:
    """One file to load as its own batch: its rows (None for a reused file, whose batch is kept) and, when this
    run validated them clean, the key to keep with them and what the warning checks found (JSON)."""

    source: str
    period: str
    file_name: str
    sha256: str
    frame: pd.DataFrame | None
    validation_key: str | None
    warned: str | None = None


# COPY's text format: a missing value, and the characters a text value must have escaped.
COPY_NULL = "\\N"
COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
# Rows per chunk of COPY text: the server parses one chunk while the next is built.
COPY_CHUNK_ROWS = 100_000


def _copy_field(s: pd.Series, kind) -> pa.Array:
    """One column as COPY's text fields: whole numbers without a decimal point in integer columns, `t`/`f`,
    date-times to the microsecond, the shortest text that reads back as the same float, text escaped, `\\N` for a
    missing value."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return pc.fill_null(_stamp_text(s), COPY_NULL)
    values = pa.Array.from_pandas(s)  # a missing value (NA, NaN) is null
    if isinstance(values, pa.ChunkedArray):  # Arrow-backed text
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if isinstance(kind, Integer | BigInteger):
        text = pc.cast(pc.cast(values, pa.int64()), pa.string())  # a float column of whole numbers: "5", not "5.0"
    elif pa.types.is_boolean(values.type):
        text = pc.if_else(values, "t", "f")
    else:
        text = pc.cast(values, pa.string())
        if not (pa.types.is_floating(values.type) or pa.types.is_integer(values.type)):
            for char, escaped in COPY_ESCAPES:
                text = pc.replace_substring(text, char, escaped)
    return pc.fill_null(text, COPY_NULL)


def copy_text(rows: pd.DataFrame, table) -> memoryview:
    """The rows in PostgreSQL COPY's text format (UTF-8), built by Arrow column by column, no Python loop over
    rows (six times faster than pandas' string methods): tab between fields, a line per row."""
    fields = [_copy_field(rows[c], table.c[c].type) for c in rows.columns]
    lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*fields, "\t"), "\n", "")
    # The lines end to end are the values buffer of the array between its first and last offsets.
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]


def planned_loads(extracted: Extracted, validated: Validated) -> int:
    """How many batches `load_plan` gives (the load's progress)."""
    return sum(len(extracted.sources[sid].files) for sid in validated.usable)


def load_plan(extracted: Extracted, validated: Validated) -> Iterator[PlannedLoad]:
    """Every file of the usable sources: one batch each, a source and a part of its rows at a time (see
    `tasks.ingest.rows`), so that only one part's rows, split into its files, are held at once."""
    for sid in sorted(validated.usable):
        e = extracted.sources[sid]
        clean = validated.clean.get(sid, frozenset())
        warned = validated.warned.get(sid, {})
        of_file = _files_of(e.rows)
        for f in e.files:
            frame = None if f.reused else e.rows.template if f.rows == 0 else of_file(f.name)
            key = f.validation_key if f.name in clean else None
            yield PlannedLoad(sid, f.period, f.name, f.sha256, frame, key, warned.get(f.name) if key else None)


def _files_of(rows: Rows) -> Callable[[str], pd.DataFrame]:
    """The rows of each file read that has rows, asked for in the files' order: the parts are read in turn and
    split by file, the split of one part held at a time."""
    parts = rows.parts()
    split: dict[str, pd.DataFrame] = {}

    def of_file(name: str) -> pd.DataFrame:
        while name not in split:
            # The part before is done with: the files asked for come in the parts' order.
            split.clear()
            part = next(parts)
            split.update({str(n): g for n, g in part.groupby("_file", sort=False, observed=True)})
        return split.pop(name)

    return of_file


def load_files(
    engine: Engine,
    loads: Iterable[PlannedLoad],
    run_id: str,
    force: bool = False,
    on_batch: Callable[[list[Batch], int], None] | None = None,
    planned: int | None = None,
) -> Loaded:
    """Load each planned file as its own atomic batch; `on_batch` is told of the batches so far and how many are
    `planned` after each (the run's progress; a list's length unless given, so an iterator such as `load_plan`'s
    needs it: `planned_loads`)."""
    batches: list[Batch] = []
    planned = len(loads) if planned is None else planned
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="block") as encoder:
        for p, block in _blocks_ahead(loads, encoder):  # one transaction per file: a few hundred files, not rows
            batches.append(
                load_period(
                    engine,
                    p.source,
                    p.period,
                    p.file_name,
                    p.sha256,
                    p.frame,
                    run_id,
                    force,
                    p.validation_key,
                    p.warned,
                    block,
                )
            )
            if on_batch is not None:
                on_batch(batches, planned)
    return Loaded(batches)


def _blocks_ahead(
    loads: Iterable[PlannedLoad], encoder: ThreadPoolExecutor
) -> Iterator[tuple[PlannedLoad, Future[bytes] | None]]:
    """Each planned load with its block (a columnar source's) being encoded on the encoder's thread, the next
    load's begun before this one is given: Arrow lets go of the interpreter while it encodes, so the encoding runs
    on the other core beside the load's own work (a third of the full run's load at scale 89)."""
    pending = None
    for p in loads:
        block = None
        if p.frame is not None and sources()[p.source].columnar:
            block = encoder.submit(block_bytes, fact_rows(p.source, p.frame), FACTS[p.source].__table__)
        if pending is not None:
            yield pending
        pending = (p, block)
    if pending is not None:
        yield pending


def checked_files(engine: Engine) -> pd.DataFrame:
    """The batches earlier runs validated clean (`CHECKED_COLUMNS`): the files a run may reuse unread."""
    lb = LoadBatch
    stmt = select(
        lb.source, lb.period, lb.file_name, lb.sha256, lb.rows, lb.validation_key, lb.id, lb.run_id, lb.warned
    ).where(lb.validation_key.is_not(None))
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(stmt).all(), columns=CHECKED_COLUMNS)


def reused_keys(engine: Engine, extracted: Extracted) -> dict[str, pd.DataFrame]:
    """Per source read in part and reused in part, the reused batches' rows that share a value of a key its suite
    requires to be unique with the rows read now (with each row's file as `_file`): the only ones they can repeat.

    Only the batches whose key ranges the new keys meet are compared. Those that keep their key hashes are compared
    in memory first, and the database is asked only about the new keys found among them; the others are joined
    with every new key: a temporary table of them joined to the fact table, so that a reused batch is never read
    whole (an event source's ids of 23 months are millions of rows).
    """
    out = {}
    for sid, e in extracted.sources.items():
        reused = {f.reused_batch: f.name for f in e.files if f.reused}
        keysets = [key for key in uniqueness_keys(sid) if set(key) <= set(e.rows.columns)]
        if not reused or len(reused) == len(e.files) or not keysets or e.rows.empty:
            continue
        table = FACTS[sid].__table__
        columns = sorted({c for key in keysets for c in key})
        found = []
        with engine.begin() as conn:
            kept = conn.execute(select(LoadBatch.id, LoadBatch.key_ranges).where(LoadBatch.id.in_(list(reused))))
            ranges = {b: _ranges(r) for b, r in kept}
            for key in keysets:
                new = e.rows.whole(key).dropna().drop_duplicates()
                if new.empty:
                    continue
                # Only the batches whose key ranges the new keys fall in can hold one of them (ids run on with
                # time: usually none).
                within = value_ranges(new, key)
                candidates = [b for b in reused if may_share(ranges.get(b), within, key)]
                if not candidates:
                    continue
                hashed = _kept_hashes(conn, candidates, key, hash_scheme(new))
                blind = [b for b in candidates if b not in hashed]
                if blind:
                    found += _rows_with_keys(conn, table, key, columns, new, blind)
                if hashed:
                    hits = _found_in(hashed, key_hashes(new))
                    asked = [b for b, hit in hits.items() if hit.any()]
                    if asked:
                        suspects = new[np.any([hits[b] for b in asked], axis=0)]
                        found += _rows_with_keys(conn, table, key, columns, suspects, asked)
        rows = pd.DataFrame(found, columns=["batch_id", *columns]).drop_duplicates()
        out[sid] = rows.assign(_file=rows.pop("batch_id").map(reused)).reset_index(drop=True)
    return out


def _kept_hashes(conn, batches: list[int], key: list[str], scheme: str) -> dict[int, np.ndarray]:
    """The given batches' kept hashes of `key` made under `scheme`, by batch. Hashes that are not whole 64-bit
    values in ascending order (damaged) are left out: that batch is joined with every new key instead."""
    t = BatchKeyHashes
    kept = conn.execute(
        select(t.batch_id, t.hashes).where(t.batch_id.in_(batches), t.key == json.dumps(key), t.scheme == scheme)
    )
    out = {}
    for b, blob in kept:
        hashes = np.frombuffer(blob, dtype="<u8") if len(blob) % 8 == 0 else None
        if hashes is not None and bool(np.all(hashes[1:] > hashes[:-1])):
            out[b] = hashes
    return out


def _found_in(kept: dict[int, np.ndarray], hashes: np.ndarray) -> dict[int, np.ndarray]:
    """Per batch, which of `hashes` are among its kept ones (ascending, each once)."""
    order = np.argsort(hashes)
    ordered = hashes[order]  # looked up in order: a hundred thousand random look-ups miss the cache
    out = {}
    for b, kept_of_b in kept.items():
        hit = np.zeros(len(hashes), dtype=bool)
        if len(kept_of_b):
            at = np.minimum(np.searchsorted(kept_of_b, ordered), len(kept_of_b) - 1)
            hit[order] = kept_of_b[at] == ordered
        out[b] = hit
    return out


def _rows_with_keys(
    conn, table: Table, key: list[str], columns: list[str], keys: pd.DataFrame, batches: list[int]
) -> list:
    """The batches' rows (batch, `columns`) whose `key` is one of `keys`: the keys as a temporary table joined to the
    table rows, and the same join on each block (`tasks.warehouse.columns`)."""
    new_keys = Table(
        f"new_keys_{table.name}", MetaData(), *(Column(c, table.c[c].type) for c in key), prefixes=["TEMPORARY"]
    )
    stmt = select(*(table.c[c] for c in columns)).join(new_keys, and_(*(table.c[c] == new_keys.c[c] for c in key)))
    as_rows, _ = kept_where(conn, batches)
    if as_rows:  # the table rows' side joins a table of the database
        new_keys.create(conn)
        insert_rows(conn, new_keys, keys)
    by_batch = rows_by_batch(conn, stmt, table, batches, beside={new_keys.name: keys})
    if as_rows:
        new_keys.drop(conn)
    return [(b, *row) for b, rows in by_batch.items() for row in rows]
