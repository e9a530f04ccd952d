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
    errors_from_mask,
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
        if col.type in ("money", "pct", "int"):
            parsed, bad = parse_numbers(values, percent=col.type == "pct")
            errors += errors_from_mask(df, bad, name, col.name, "arvo ei ole luku")
            if col.type == "int":
                frac = parsed.notna() & (parsed % 1 != 0)
                errors += errors_from_mask(df, frac, name, col.name, "arvon pitää olla kokonaisluku")
            if col.required:
                empty = parsed.isna() & ~bad
                errors += errors_from_mask(df, empty, name, col.name, "pakollinen arvo puuttuu")
            out[col.field] = parsed
        else:
            text = values.astype(str).str.strip()
            if col.required:
                errors += errors_from_mask(df, text.eq(""), name, col.name, "pakollinen arvo puuttuu")
            out[col.field] = text.astype("string[pyarrow]")
    return out, errors


def ledger_files(extracts: Path, year: int, month: int) -> list[tuple[int, int, Path | None]]:
    """The ledger files a report for `year-month` needs: the previous year whole, this year to `month`."""
    src = sources()["ledger"]
    wanted = [(year - 1, m) for m in range(1, 13)] + [(year, m) for m in range(1, month + 1)]
    out = []
    for y, m in wanted:
        p = extracts / src.file_name(y, m)
        out.append((y, m, p if p.exists() else None))
    return out


def ledger_month(path: Path) -> tuple[pd.DataFrame, list[SourceError]]:
    """One monthly ledger file plus its control file, checked row count and sum."""
    src = sources()["ledger"]
    name = path.name
    df, errors = _typed(_read(path, src), src, name)
    if errors:
        return df, errors
    df[LEDGER_RENAMES["amount"]] = np.round(df.pop("amount") * 100).astype("int64")
    df["account"] = df["account"].astype(str)
    df["year"] = df["year"].astype("int64")
    df["month"] = df["month"].astype("int64")
    return df, errors


def ledger_control(path: Path) -> tuple[int, int]:
    """Row count and the sum of Summa in cents (SAP sign) stated by the control file."""
    src = sources()["ledger_control"]
    if not path.exists():
        raise SourceFileError([SourceError(path.name, "kontrollitiedosto puuttuu")])
    df, errors = _typed(_read(path, src), src, path.name)
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
    frames, files, errors, missing, required, controls = [], [], [], [], [], []
    for y, m, path in ledger_files(extracts, year, month):
        if path is None:
            # Last year's months only shape the forecast; this year's make the actuals.
            (required if y == year else missing).append(sources()["ledger"].file_name(y, m))
            continue
        try:
            df, errs = ledger_month(path)
            ctl_path = path.with_suffix(".ctl")
            ctl_rows, ctl_cents = ledger_control(ctl_path)
        except SourceFileError as exc:
            errors += exc.errors
            continue
        if errs:
            errors += errs
            continue
        controls.append(
            {
                "file": path.name,
                "stated_rows": ctl_rows,
                "rows": len(df),
                "stated_cents": ctl_cents,
                "cents": int(df["amount_cents"].sum()),
            }
        )
        df["amount_cents"] = to_report_sign(df["amount_cents"])
        df["_file"] = path.name
        frames.append(df)
        files.append(FileInfo(path.name, str(path), sha256_of(path), len(df), f"{y}-{m:02d}"))
    frame = pd.concat(frames, ignore_index=True) if frames else _empty("ledger")
    if not frame.empty:
        # Account ranges come from the chart of accounts: the line each row rolls up to.
        frame["line"] = frame["account"].map(_account_lines(frame["account"].unique()))
    return Extract("ledger", frame, files, errors, missing + required, required), pd.DataFrame(controls)


def _account_lines(accts: np.ndarray) -> dict[str, str | None]:
    chart = accounts()
    return {a: chart.line_of(str(a)) for a in accts}


def _empty(source_id: str) -> pd.DataFrame:
    renames = LEDGER_RENAMES if source_id == "ledger" else {}
    cols = [renames.get(c.field, c.field) for c in sources()[source_id].columns] + ["_line", "_file"]
    return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})


def _find(extracts: Path, src: Source, year: int) -> Path | None:
    for pattern in (src.file, *src.alternatives):
        p = extracts / pattern.format(year=year, month=12)
        if p.exists():
            return p
    return None


def _extract_yearly(extracts: Path, source_id: str, year: int, refine: Callable[[pd.DataFrame], None]) -> Extract:
    """Read a source kept as one file per year; `refine` completes the typed frame in place."""
    src = sources()[source_id]
    path = _find(extracts, src, year)
    if path is None:
        return Extract(src.id, _empty(src.id), missing=[src.file_name(year)], required_missing=[src.file_name(year)])
    try:
        df, errors = _typed(_read(path, src), src, path.name)
    except SourceFileError as exc:
        return Extract(src.id, _empty(src.id), errors=exc.errors)
    refine(df)
    df["_file"] = path.name
    return Extract(src.id, df, [FileInfo(path.name, str(path), sha256_of(path), len(df), str(year))], errors)


def extract_result_budget(extracts: Path, year: int) -> Extract:
    """The approved result budget sheet (CSV or XLSX), area names in canonical spelling."""
    def refine(df: pd.DataFrame) -> None:
        # Area names in any letter case map to the structure's spelling; unknown ones stay
        # as written for the suite to report.
        canon = df["area"].map(lambda a: structure().canonical_area(str(a)))
        df["area"] = canon.fillna(df["area"]).astype("string[pyarrow]")

    return _extract_yearly(extracts, "result_budget", year, refine)


def extract_council_budget(extracts: Path, year: int) -> Extract:
    """The council budget in long form, `binding` true on the line binding towards the council."""
    def refine(df: pd.DataFrame) -> None:
        df["binding"] = df["binding"].str.casefold().isin(["kyllä", "kylla", "k", "x", "1", "true"])

    return _extract_yearly(extracts, "council_budget", year, refine)


@task(name="extract", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def extract_sources(extracts: Path, year: int, month: int) -> tuple[dict[str, Extract], pd.DataFrame]:
    """Read every financial source of the period (I/O: retried on transient failures)."""
    ledger, controls = extract_ledger(extracts, year, month)
    return {
        "ledger": ledger,
        "result_budget": extract_result_budget(extracts, year),
        "council_budget": extract_council_budget(extracts, year),
    }, controls
