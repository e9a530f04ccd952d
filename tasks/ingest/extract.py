"""Reading one source: every file of the period parsed and typed, or the reasons it cannot be used.

`extract_source` returns an `Extract`: the rows (with the warehouse's field
names), the files read with their SHA-256, and the errors found. A file with an
error makes its source `failed`; a source with no file is `missing`. Neither
stops the other sources. Columns are converted to their contract types here,
once, so everything downstream works on typed values.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tasks.contracts import Source, sources, structure
from tasks.contracts.vocab import SOURCE_FAILED, SOURCE_MISSING, SOURCE_OK
from tasks.ingest.distinct import Distinct
from tasks.ingest.files import FileInfo, PeriodFile, companion_files, period_files, size_problem, snapshot
from tasks.ingest.parsing import (
    SourceError,
    SourceFileError,
    date_shaped,
    errors_from_mask,
    excess_decimals,
    extra_columns,
    parse_datetimes,
    parse_numbers,
    read_delimited,
    read_xlsx,
)
from tasks.ingest.reuse import Checked, validation_key
from tasks.ingest.rows import Rows

# Yes/no texts a `store: flag` column accepts as yes; anything else is no.
FLAG_YES = ("kyllä", "kylla", "k", "x", "1", "true")


@dataclass
class Extract:
    source: str
    # The typed rows, part by part (`Rows`); a frame given here becomes rows of one part.
    rows: Rows | pd.DataFrame
    files: list[FileInfo] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # Files without which the period cannot be reported (e.g. a month of this year's ledger).
    required_missing: list[str] = field(default_factory=list)
    # Problems that do not stop the source (e.g. a column the contract does not know).
    warnings: list[SourceError] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.rows, pd.DataFrame):
            self.rows = Rows.of(self.rows)

    @property
    def frame(self) -> pd.DataFrame:
        """Every typed row at once: for small sources and tests (the run itself goes through `rows` part by part)."""
        return self.rows.whole()

    @property
    def status(self) -> str:
        if self.errors:
            return SOURCE_FAILED
        if not self.files or self.required_missing:
            return SOURCE_MISSING
        return SOURCE_OK


def _read(path: Path, src: Source) -> pd.DataFrame:
    required = [c.name for c in src.columns if c.required]
    if path.suffix.lower() == ".xlsx":
        return read_xlsx(path, src.names, required)
    return read_delimited(path, src.names, required)


def typed_columns(df: pd.DataFrame, src: Source, name: str | None) -> tuple[pd.DataFrame, list[SourceError]]:
    """Convert the columns to their declared types, collecting every bad cell.

    `name` is the file the rows come from; None when they are several files' rows, each named by `_file`.
    """
    errors: list[SourceError] = []
    out = pd.DataFrame({"_line": df["_line"].astype("int64")})
    for col in src.columns:
        values = df[col.name]
        if col.numeric:
            parsed, bad = parse_numbers(values, percent=col.type == "pct")
            errors += errors_from_mask(df, bad, name, col.name, "arvo ei ole luku")
            if col.type == "money":
                # Euros have cents at most: `23.339` is a thousands separator, not 23,339 €.
                over = excess_decimals(values, 2) & ~bad
                errors += errors_from_mask(
                    df, over, name, col.name, "arvossa on yli kaksi desimaalia (piste tuhaterottimena?)"
                )
                parsed, bad = parsed.where(~over), bad | over
            if col.type == "int":
                frac = parsed.notna() & (parsed % 1 != 0)
                errors += errors_from_mask(df, frac, name, col.name, "arvon pitää olla kokonaisluku")
                parsed, bad = parsed.where(~frac).astype("Int64"), bad | frac
            if col.store == "cents":
                # Money kept in whole cents from here on (as floats until the file is known to be clean).
                parsed = (parsed * 100).round()
        elif col.type in ("date", "datetime"):
            with_time = col.type == "datetime"
            parsed, bad = parse_datetimes(values, with_time=with_time)
            impossible = pd.Series(False, index=values.index)
            if bad.any():  # only the bad cells need telling apart
                impossible[bad] = date_shaped(values[bad], with_time=with_time)
            errors += errors_from_mask(df, impossible, name, col.name, "päivämäärää ei ole olemassa")
            errors += errors_from_mask(
                df, bad & ~impossible, name, col.name, "päivämäärä ei ole muotoa 31.8.2024 tai 2024-08-31"
            )
        else:
            parsed = values.astype(str).str.strip().astype("string[pyarrow]")
            bad = parsed.eq("")
            if col.names:
                # The structure's spelling of a name written in another case or as a source spells it;
                # an unknown name stays as written for the suite to report. Once per distinct name: a
                # column repeats a few dozen names on millions of rows.
                spelled = structure().spellings(col.names)
                parsed = Distinct(parsed).map(
                    lambda names, spelled=spelled: names.str.casefold().map(spelled).fillna(names)
                )
                parsed = parsed.astype("string[pyarrow]")
        if col.required:
            # A cell already reported as bad is not reported again as missing; a parsed number or
            # date is missing only as NA (none is written as ""): no text conversion of every value.
            missing = parsed.isna() & ~bad if col.numeric or col.type in ("date", "datetime") else bad
            errors += errors_from_mask(df, missing, name, col.name, "pakollinen arvo puuttuu")
        out[col.field] = parsed
    return out, errors


def read_raw(path: Path, src: Source) -> tuple[pd.DataFrame, list[SourceError]]:
    """One file's text columns with `_file`, untyped, and a warning for each column the contract does not know."""
    raw = read_safely(path, src)
    warnings = [
        SourceError(path.name, "sarake ei kuulu tietosopimukseen, sitä ei käytetty", line=1, column=c)
        for c in extra_columns(raw, src.names)
    ]
    raw["_file"] = path.name
    return raw, warnings


def read_safely(path: Path, src: Source) -> pd.DataFrame:
    """A file's text columns, with any parser failure turned into a SourceError: one odd file must not stop the run.

    I/O errors (OSError) pass, so the extract task's retries see them. The
    exception's own text is not shown: it may quote the file's content.
    """
    try:
        return _read(path, src)
    except (SourceFileError, OSError):
        raise
    except Exception as exc:
        raise SourceFileError([SourceError(path.name, f"tiedostoa ei voitu lukea ({type(exc).__name__})")]) from None


def empty_frame(source_id: str) -> pd.DataFrame:
    """A source's typed frame with no rows (its columns, lineage and derived columns)."""
    src = sources()[source_id]
    cols = [c.field for c in src.columns] + ["_line", "_file"]
    if src.date:
        cols += ["year", "month"]
    return pd.DataFrame({c: pd.Series(dtype="object") for c in dict.fromkeys(cols)})


def _flags(df: pd.DataFrame, src: Source) -> None:
    for c in src.columns:
        if c.store == "flag":
            df[c.field] = df[c.field].str.casefold().isin(FLAG_YES)


def _event_period(df: pd.DataFrame, date_field: str) -> None:
    """Rows of an event source are placed in a period by their date."""
    stamp = pd.to_datetime(df[date_field])
    df["year"] = stamp.dt.year.astype("Int64")
    df["month"] = stamp.dt.month.astype("Int64")


# A reader gives one file's untyped rows (with `_file`) and its warnings; the files are then typed a batch at a
# time. A check sees the typed rows of the files without a bad cell (and their names) and gives per file the
# problems that make it unusable (the ledger's control totals).
Reader = Callable[[PeriodFile, Source], tuple[pd.DataFrame, list[SourceError]]]
Check = Callable[[pd.DataFrame, list[str]], dict[str, list[SourceError]]]


def raw_file(pf: PeriodFile, src: Source) -> tuple[pd.DataFrame, list[SourceError]]:
    """The default reader: the file's text columns as they are, and its warnings."""
    return read_raw(pf.path, src)


# Files are typed, checked and loaded a part at a time (`rows`), a part being whole files up to about this many
# rows: the per-call overheads of typing and of the suites are paid once per part (a source of many small files is
# one part), and memory holds one part's raw text, typed rows and validation frame, never a whole source's.
# Measured on 3.1 M feedback answers (2 cores, 7.12.2026): 1 M rows a part peaked at 1.18 GB in validation, 500 000
# at 0.78 GB in the same time; 250 000 at 0.64 GB took 30 % longer.
PART_ROWS = 500_000


def _typed_batch(raws: list[pd.DataFrame], src: Source) -> tuple[pd.DataFrame, list[SourceError]]:
    """Several files' rows typed in one pass, with their `_file`, and every bad cell."""
    raw = pd.concat(raws, ignore_index=True)
    df, errors = typed_columns(raw, src, None)
    df["_file"] = raw["_file"]
    return df, errors


def _checked(
    df: pd.DataFrame, errors: list[SourceError], src: Source, check: Check | None
) -> tuple[pd.DataFrame, dict[str, list[SourceError]]]:
    """A typed batch's rows and each of its files' errors (its bad cells, then what `check` finds); a file with an
    error is left out."""
    found: dict[str, list[SourceError]] = {}
    for e in errors:
        found.setdefault(e.file, []).append(e)
    if check is not None:
        names = [n for n in df["_file"].unique() if n not in found]  # in the files' order, not row by row
        for name, errs in check(df[df["_file"].isin(names)], names).items():
            if errs:
                found.setdefault(name, []).extend(errs)
    good = df[~df["_file"].isin(found)].reset_index(drop=True)
    if src.date:
        _event_period(good, src.date)
    _flags(good, src)
    return good, found


def extract_source(
    extracts: Path,
    source_id: str,
    year: int,
    month: int,
    read: Reader = raw_file,
    check: Check | None = None,
    earlier: Checked | None = None,
    refused: frozenset[str] = frozenset(),
    shape: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    spill: Path | None = None,
) -> Extract:
    """Read every file of one source the period needs: each parsed with `read`, typed in batches, then `check`ed.

    A file that cannot be read or has a bad cell makes the whole source
    `failed` for the period (never half a period); a required file that is
    absent makes it `missing`. Last year's files only shape forecasts and trends.
    A file `earlier` runs validated clean and loaded, byte for byte, is not
    read at all (unless `refused` names it): it is listed as reused.
    `shape` finishes each part of clean rows (the ledger's sign and lines); with
    `spill`, each part goes to disk as soon as it is typed (see `rows`).
    """
    src = sources()[source_id]
    missing, required, warnings = [], [], []
    # Files read and not yet typed; the typed, checked rows part by part, and how many each file gave.
    pending: list[pd.DataFrame] = []
    rows = Rows(empty_frame(source_id), spill / source_id if spill is not None else None)
    counts: dict[str, int] = {}

    def type_pending() -> None:
        batch, bad = _typed_batch(pending, src)
        pending.clear()
        good, unusable = _checked(batch, bad, src, check)
        del batch
        for name, errs in unusable.items():
            errors_of[name] += errs
        counts.update((str(name), int(n)) for name, n in good["_file"].value_counts().items())
        if len(good) or not rows.part_count:  # the first part even when empty: it gives the columns their types
            rows.add(shape(good) if shape is not None else good)

    # Every file found, in the period's order: read now (with its SHA-256 and validation key) or reused.
    found: list[tuple[PeriodFile, str, str] | FileInfo] = []
    # Each file's errors in the files' order, whichever step found them.
    errors_of: dict[str, list[SourceError]] = {}
    for pf in period_files(extracts, src, year, month):
        if pf.path is None:
            (required if pf.required else missing).append(pf.name)
            continue
        reused = earlier.reusable(source_id, pf, refused) if earlier is not None else None
        if reused is not None:
            found.append(reused)
            continue
        too_large = size_problem(pf.path)
        if too_large:
            errors_of[pf.name] = [SourceError(pf.path.name, too_large.removeprefix(f"{pf.path.name}: "))]
            continue
        # The bytes parsed are the bytes hashed: a private copy, hashed as it is taken.
        with tempfile.TemporaryDirectory(prefix="katsaus-lahde-") as tmp:
            copy, sha256 = snapshot(pf, src, Path(tmp))
            key = validation_key(source_id, companion_files(copy, source_id))
            try:
                df, warns = read(copy, src)
            except SourceFileError as exc:
                errors_of[pf.name] = exc.errors
                continue
        warnings += warns
        errors_of[pf.name] = []
        pending.append(df)
        found.append((pf, sha256, key))
        if sum(map(len, pending)) >= PART_ROWS:
            type_pending()
    if pending:
        type_pending()
    files = [
        f
        if isinstance(f, FileInfo)
        else FileInfo(f[0].name, str(f[0].path), f[1], counts.get(f[0].name, 0), f[0].period, f[2])
        for f in found
        if isinstance(f, FileInfo) or not errors_of[f[0].name]
    ]
    errors = [e for errs in errors_of.values() for e in errs]
    if src.expect == "any":
        # A period without a file had nothing to report; only an empty window is missing.
        required, missing = ([], []) if files or errors else (missing, [])
    if not files:
        rows.forget()
    return Extract(source_id, rows, files, errors, missing + required, required, warnings)
