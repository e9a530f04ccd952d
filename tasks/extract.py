"""Extract stage: find the period's source files and parse them into typed frames.

Each loader returns an `Extract`: the rows (with the warehouse's field names),
the files read with their SHA-256, and the errors found. A file with an error
makes its source `failed`; a source with no file is `missing`. Neither stops
the other sources.

Sign convention: the ledger arrives in SAP's convention (debit positive:
expenses positive, revenues negative). `to_report_sign` turns it into the
report's Helsinki convention (revenues positive, expenses negative) in this one
place; everything downstream of the extract stage uses the report convention.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks.contracts import Source, accounts, sources, structure
from tasks.parsing import (
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
    sha256_of,
)


@dataclass(frozen=True)
class FileInfo:
    name: str
    path: str
    sha256: str
    rows: int
    period: str


@dataclass
class Extract:
    source: str
    frame: pd.DataFrame
    files: list[FileInfo] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # Files without which the period cannot be reported (e.g. a month of this year's ledger).
    required_missing: list[str] = field(default_factory=list)
    # Problems that do not stop the source (e.g. a column the contract does not know).
    warnings: list[SourceError] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.errors:
            return "failed"
        if not self.files or self.required_missing:
            return "missing"
        return "ok"


# The ledger's amount is kept in whole cents from the extract stage on.
LEDGER_RENAMES = {"amount": "amount_cents"}


def to_report_sign(sap_amount: pd.Series) -> pd.Series:
    """SAP (debit positive) to the report's convention (revenues positive, expenses negative)."""
    return -sap_amount


def _read(path: Path, src: Source) -> pd.DataFrame:
    required = [c.name for c in src.columns if c.required]
    if path.suffix.lower() == ".xlsx":
        return read_xlsx(path, src.names, required)
    return read_delimited(path, src.names, required)


def _typed(df: pd.DataFrame, src: Source, name: str) -> tuple[pd.DataFrame, list[SourceError]]:
    """Convert the columns to their declared types, collecting every bad cell."""
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
                errors += errors_from_mask(df, over, name, col.name, "arvossa on yli kaksi desimaalia (piste tuhaterottimena?)")
                parsed, bad = parsed.where(~over), bad | over
            if col.type == "int":
                frac = parsed.notna() & (parsed % 1 != 0)
                errors += errors_from_mask(df, frac, name, col.name, "arvon pitää olla kokonaisluku")
                parsed, bad = parsed.where(~frac).astype("Int64"), bad | frac
        elif col.type in ("date", "datetime"):
            with_time = col.type == "datetime"
            parsed, bad = parse_datetimes(values, with_time=with_time)
            impossible = pd.Series(False, index=values.index)
            if bad.any():  # only the bad cells need telling apart
                impossible[bad] = date_shaped(values[bad], with_time=with_time)
            errors += errors_from_mask(df, impossible, name, col.name, "päivämäärää ei ole olemassa")
            errors += errors_from_mask(df, bad & ~impossible, name, col.name, "päivämäärä ei ole muotoa 31.8.2024 tai 2024-08-31")
        else:
            parsed = values.astype(str).str.strip().astype("string[pyarrow]")
            bad = parsed.eq("")
        if col.required:
            # A cell already reported as bad is not reported again as missing; a parsed number or
            # date is missing only as NA (none is written as ""): no text conversion of every value.
            missing = parsed.isna() & ~bad if col.numeric or col.type in ("date", "datetime") else bad
            errors += errors_from_mask(df, missing, name, col.name, "pakollinen arvo puuttuu")
        out[col.field] = parsed
    return out, errors


@dataclass(frozen=True)
class PeriodFile:
    """One file a run looks for: its period, its path if it exists, and whether it is required."""

    period: str
    name: str
    path: Path | None
    required: bool


def period_files(extracts: Path, src: Source, year: int, month: int) -> list[PeriodFile]:
    """The files a report for `year-month` reads of one source.

    Monthly sources: January of `year - history_years` up to `month`; yearly
    sources: `year - history_years` up to `year`. With `expect: all` every
    period of the report's own year is required; earlier years only shape
    forecasts and trends.
    """
    first = year - src.history_years
    if src.period == "month":
        wanted = [(y, m) for y in range(first, year + 1) for m in range(1, 13) if (y, m) <= (year, month)]
    else:
        wanted = [(y, 12) for y in range(first, year + 1)]
    out = []
    for y, m in wanted:
        path = _find(extracts, src, y, m)
        label = f"{y}-{m:02d}" if src.period == "month" else str(y)
        out.append(PeriodFile(label, src.file_name(y, m), path, src.expect == "all" and y == year))
    return out


def read_typed(path: Path, src: Source) -> tuple[pd.DataFrame, list[SourceError], list[SourceError]]:
    """One file parsed and typed: (rows, errors, warnings); raises SourceFileError when it cannot be read at all."""
    raw = _read_safely(path, src)
    warnings = [
        SourceError(path.name, "sarake ei kuulu tietosopimukseen, sitä ei käytetty", line=1, column=c)
        for c in extra_columns(raw, src.names)
    ]
    df, errors = _typed(raw, src, path.name)
    df["_file"] = path.name
    return df, errors, warnings


def _read_safely(path: Path, src: Source) -> pd.DataFrame:
    """`_read`, with any parser failure turned into a SourceError: one odd file must not stop the run.

    I/O errors (OSError) pass, so the extract task's retries see them. The
    exception's own text is not shown: it may quote the file's content.
    """
    try:
        return _read(path, src)
    except (SourceFileError, OSError):
        raise
    except Exception as exc:
        raise SourceFileError([SourceError(path.name, f"tiedostoa ei voitu lukea ({type(exc).__name__})")]) from None


def ledger_month(path: Path) -> tuple[pd.DataFrame, list[SourceError], list[SourceError]]:
    """One monthly ledger file, amounts in whole cents (SAP sign still): (rows, errors, warnings)."""
    df, errors, warnings = read_typed(path, sources()["ledger"])
    if errors:
        return df, errors, warnings
    df[LEDGER_RENAMES["amount"]] = np.round(df.pop("amount") * 100).astype("int64")
    df["account"] = df["account"].astype(str)
    df["year"] = df["year"].astype("int64")
    df["month"] = df["month"].astype("int64")
    return df, errors, warnings


def ledger_control(path: Path) -> tuple[int, int]:
    """Row count and the sum of Summa in cents (SAP sign) stated by the control file."""
    src = sources()["ledger_control"]
    if not path.exists():
        raise SourceFileError([SourceError(path.name, "kontrollitiedosto puuttuu")])
    df, errors = _typed(_read_safely(path, src), src, path.name)
    if errors:
        raise SourceFileError(errors)
    if len(df) != 1:
        raise SourceFileError([SourceError(path.name, f"kontrollitiedostossa pitää olla yksi tietorivi, löytyi {len(df)}")])
    return int(df["rows"].iloc[0]), int(round(df["total"].iloc[0] * 100))


def extract_ledger(extracts: Path, year: int, month: int) -> tuple[Extract, pd.DataFrame]:
    """All ledger months the period needs, and the control totals per file.

    Returns the extract (amounts in cents, report sign) and a frame of control
    facts per file: stated and counted rows, stated and computed sums (SAP sign).
    """
    controls = []

    def read(pf: PeriodFile, src: Source) -> tuple[pd.DataFrame, list[SourceError], list[SourceError]]:
        df, errs, warns = ledger_month(pf.path)
        ctl_path = pf.path.with_suffix(".ctl")
        ctl_rows, ctl_cents = ledger_control(ctl_path)
        if errs:
            return df, errs, warns
        mismatch = control_mismatch(pf.name, ctl_path.name, len(df), ctl_rows, int(df["amount_cents"].sum()), ctl_cents)
        if mismatch:
            # The control file is the transfer's proof of completeness: a month that does not
            # match it is incomplete or altered, and is not used (like a month without one).
            return df, mismatch, warns
        controls.append({
            "file": pf.name, "stated_rows": ctl_rows, "rows": len(df), "stated_cents": ctl_cents,
            "cents": int(df["amount_cents"].sum()), "control_file": ctl_path.name,
            "control_sha256": sha256_of(ctl_path), "period": pf.period,
        })
        df["amount_cents"] = to_report_sign(df["amount_cents"])
        return df, [], warns

    extract = extract_source(extracts, "ledger", year, month, read)
    if not extract.frame.empty:
        # Account ranges come from the chart of accounts: the line each row rolls up to.
        extract.frame["line"] = extract.frame["account"].map(_account_lines(extract.frame["account"].unique()))
    return extract, pd.DataFrame(controls)


def control_mismatch(name: str, ctl_name: str, rows: int, stated_rows: int, cents: int, stated_cents: int) -> list[SourceError]:
    """The ledger file's row count and sum (cents, SAP sign) against its control file's, in Finnish."""
    from reports.fmt import number

    out = []
    if rows != stated_rows:
        out.append(SourceError(name, f"tietorivejä on {rows}, mutta kontrollitiedoston {ctl_name} Rivimaara on {stated_rows} (tiedostosta puuttuu rivejä tai siinä on ylimääräisiä)"))
    if cents != stated_cents:
        out.append(SourceError(
            name, f"Summa-sarakkeen summa on {number(cents / 100, 2)} €, mutta kontrollitiedoston {ctl_name} Summa_yhteensa on "
            f"{number(stated_cents / 100, 2)} € (ero {number((cents - stated_cents) / 100, 2)} €)",
        ))
    return out


def _account_lines(accts: np.ndarray) -> dict[str, str | None]:
    chart = accounts()
    return {a: chart.line_of(str(a)) for a in accts}


def _empty(source_id: str) -> pd.DataFrame:
    src = sources()[source_id]
    renames = LEDGER_RENAMES if source_id == "ledger" else {}
    cols = [renames.get(c.field, c.field) for c in src.columns] + ["_line", "_file"]
    if src.date:
        cols += ["year", "month"]
    return pd.DataFrame({c: pd.Series(dtype="object") for c in dict.fromkeys(cols)})


def _find(extracts: Path, src: Source, year: int, month: int = 12) -> Path | None:
    for pattern in (src.file, *src.alternatives):
        p = extracts / pattern.format(year=year, month=month)
        if p.exists():
            return p
    return None


def _canonical_areas(df: pd.DataFrame) -> None:
    # Area names in any letter case map to the structure's spelling; unknown ones stay
    # as written for the suite to report.
    canon = df["area"].map(lambda a: structure().canonical_area(str(a)))
    df["area"] = canon.fillna(df["area"]).astype("string[pyarrow]")


def _binding_flag(df: pd.DataFrame) -> None:
    df["binding"] = df["binding"].str.casefold().isin(["kyllä", "kylla", "k", "x", "1", "true"])


# Source-specific completion of a typed frame, in place (everything else is generic).
REFINE: dict[str, Callable[[pd.DataFrame], None]] = {
    "result_budget": _canonical_areas,
    "council_budget": _binding_flag,
}


def _event_period(df: pd.DataFrame, date_field: str) -> None:
    """Rows of an event source are placed in a period by their date."""
    stamp = pd.to_datetime(df[date_field])
    df["year"] = stamp.dt.year.astype("Int64")
    df["month"] = stamp.dt.month.astype("Int64")


def typed_file(pf: PeriodFile, src: Source) -> tuple[pd.DataFrame, list[SourceError], list[SourceError]]:
    """One file of a source, typed and completed: its rows, errors and warnings."""
    df, errs, warns = read_typed(pf.path, src)
    if not errs:
        if src.date:
            _event_period(df, src.date)
        REFINE.get(src.id, lambda _: None)(df)
    return df, errs, warns


def extract_source(extracts: Path, source_id: str, year: int, month: int, read=typed_file) -> Extract:
    """Read every file of one source the period needs, each with `read` (the ledger brings its own).

    A file that cannot be read or has a bad cell makes the whole source
    `failed` for the period (never half a period); a required file that is
    absent makes it `missing`. Last year's files only shape forecasts and trends.
    """
    src = sources()[source_id]
    frames, files, errors, missing, required, warnings = [], [], [], [], [], []
    for pf in period_files(extracts, src, year, month):
        if pf.path is None:
            (required if pf.required else missing).append(pf.name)
            continue
        try:
            df, errs, warns = read(pf, src)
        except SourceFileError as exc:
            errors += exc.errors
            continue
        warnings += warns
        if errs:
            errors += errs
            continue
        frames.append(df)
        files.append(FileInfo(pf.name, str(pf.path), sha256_of(pf.path), len(df), pf.period))
    if src.expect == "any":
        # A period without a file had nothing to report; only an empty window is missing.
        required, missing = ([], []) if files or errors else (missing, [])
    frame = pd.concat(frames, ignore_index=True) if frames else _empty(source_id)
    return Extract(source_id, frame, files, errors, missing + required, required, warnings)


def extract_result_budget(extracts: Path, year: int) -> Extract:
    """The approved result budget sheet (CSV or XLSX), area names in canonical spelling."""
    return extract_source(extracts, "result_budget", year, 12)


def extract_council_budget(extracts: Path, year: int) -> Extract:
    """The council budget in long form, `binding` true on the line binding towards the council."""
    return extract_source(extracts, "council_budget", year, 12)


def files_frame(extracted: dict[str, Extract]) -> pd.DataFrame:
    """Every file read in this run: `source`, `file`, `period`, `rows`."""
    rows = [(sid, f.name, f.period, f.rows) for sid, e in extracted.items() for f in e.files]
    return pd.DataFrame(rows, columns=["source", "file", "period", "rows"])


def reported_sources() -> list[str]:
    """Every source a report reads, in the contract's order (control files go with the ledger)."""
    return [sid for sid in sources() if sid != "ledger_control"]


@task(name="extract", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def extract_sources(extracts: Path, year: int, month: int) -> tuple[dict[str, Extract], pd.DataFrame]:
    """Read every source of the period (I/O: retried on transient failures)."""
    ledger, controls = extract_ledger(extracts, year, month)
    out = {"ledger": ledger}
    for sid in reported_sources():
        if sid != "ledger":
            out[sid] = extract_source(extracts, sid, year, month)
    return out, controls
