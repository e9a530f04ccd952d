"""The ledger: monthly actuals with their control files, amounts in whole cents, turned to the report's sign.

Sign convention: the ledger arrives in SAP's convention (debit positive:
expenses positive, revenues negative). `to_report_sign` turns it into the
report's Helsinki convention (revenues positive, expenses negative) in this one
place; everything downstream of the extract stage uses the report convention.
Each month must agree with its control file (rows and the sum to the cent);
a month that does not is incomplete or altered and is not used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from reports.fmt import number
from tasks.contracts import Source, accounts, sources
from tasks.ingest.extract import Extract, extract_source, read_safely, read_typed, typed_columns
from tasks.ingest.files import PeriodFile
from tasks.ingest.parsing import SourceError, SourceFileError, sha256_of


def to_report_sign(sap_amount: pd.Series) -> pd.Series:
    """SAP (debit positive) to the report's convention (revenues positive, expenses negative)."""
    return -sap_amount


def ledger_month(path: Path) -> tuple[pd.DataFrame, list[SourceError], list[SourceError]]:
    """One monthly ledger file, amounts in whole cents (SAP sign still): (rows, errors, warnings)."""
    df, errors, warnings = read_typed(path, sources()["ledger"])
    if errors:
        return df, errors, warnings
    df["amount_cents"] = df["amount_cents"].astype("int64")
    df["account"] = df["account"].astype(str)
    df["year"] = df["year"].astype("int64")
    df["month"] = df["month"].astype("int64")
    return df, errors, warnings


def ledger_control(path: Path) -> tuple[int, int]:
    """Row count and the sum of Summa in cents (SAP sign) stated by the control file."""
    src = sources()["ledger_control"]
    if not path.exists():
        raise SourceFileError([SourceError(path.name, "kontrollitiedosto puuttuu")])
    df, errors = typed_columns(read_safely(path, src), src, path.name)
    if errors:
        raise SourceFileError(errors)
    if len(df) != 1:
        raise SourceFileError(
            [SourceError(path.name, f"kontrollitiedostossa pitää olla yksi tietorivi, löytyi {len(df)}")]
        )
    return int(df["rows"].iloc[0]), int(df["total_cents"].iloc[0])


def control_mismatch(
    name: str, ctl_name: str, rows: int, stated_rows: int, cents: int, stated_cents: int
) -> list[SourceError]:
    """The ledger file's row count and sum (cents, SAP sign) against its control file's, in Finnish."""
    out = []
    if rows != stated_rows:
        out.append(
            SourceError(
                name,
                f"tietorivejä on {rows}, mutta kontrollitiedoston {ctl_name} Rivimaara on {stated_rows} "
                "(tiedostosta puuttuu rivejä tai siinä on ylimääräisiä)",
            )
        )
    if cents != stated_cents:
        out.append(
            SourceError(
                name,
                f"Summa-sarakkeen summa on {number(cents / 100, 2)} €, mutta kontrollitiedoston {ctl_name} "
                "Summa_yhteensa on "
                f"{number(stated_cents / 100, 2)} € (ero {number((cents - stated_cents) / 100, 2)} €)",
            )
        )
    return out


def _account_lines(accts: np.ndarray) -> dict[str, str | None]:
    chart = accounts()
    return {a: chart.line_of(str(a)) for a in accts}


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
        controls.append(
            {
                "file": pf.name,
                "stated_rows": ctl_rows,
                "rows": len(df),
                "stated_cents": ctl_cents,
                "cents": int(df["amount_cents"].sum()),
                "control_file": ctl_path.name,
                "control_sha256": sha256_of(ctl_path),
                "period": pf.period,
            }
        )
        df["amount_cents"] = to_report_sign(df["amount_cents"])
        return df, [], warns

    extract = extract_source(extracts, "ledger", year, month, read)
    if not extract.frame.empty:
        # Account ranges come from the chart of accounts: the line each row rolls up to.
        extract.frame["line"] = extract.frame["account"].map(_account_lines(extract.frame["account"].unique()))
    return extract, pd.DataFrame(controls)
