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
from tasks.ingest.extract import Extract, extract_source, read_raw, read_safely, typed_columns
from tasks.ingest.files import PeriodFile
from tasks.ingest.parsing import SourceError, SourceFileError, sha256_of
from tasks.ingest.reuse import Checked


def to_report_sign(sap_amount: pd.Series) -> pd.Series:
    """SAP (debit positive) to the report's convention (revenues positive, expenses negative)."""
    return -sap_amount


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


def _stated(ledger_file: Path) -> dict:
    """What the ledger file's control file states, and the control file's name and SHA-256."""
    ctl_path = ledger_file.with_suffix(".ctl")
    ctl_rows, ctl_cents = ledger_control(ctl_path)
    return {
        "stated_rows": ctl_rows,
        "stated_cents": ctl_cents,
        "control_file": ctl_path.name,
        "control_sha256": sha256_of(ctl_path),
    }


def in_report_sign(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed ledger rows as the report takes them: amounts in the report's sign, each account's budget line."""
    frame["amount_cents"] = to_report_sign(frame["amount_cents"].astype("int64"))
    frame["account"] = frame["account"].astype(str)
    frame["year"] = frame["year"].astype("int64")
    frame["month"] = frame["month"].astype("int64")
    # Account ranges come from the chart of accounts: the line each row rolls up to.
    frame["line"] = frame["account"].map(_account_lines(frame["account"].unique()))
    return frame


def extract_ledger(
    extracts: Path,
    year: int,
    month: int,
    earlier: Checked | None = None,
    refused: frozenset[str] = frozenset(),
    spill: Path | None = None,
) -> tuple[Extract, pd.DataFrame]:
    """All ledger months the period needs, and the control totals per file.

    Returns the extract (amounts in cents, report sign) and a frame of control
    facts per file: stated and counted rows, stated and computed sums (SAP sign).
    A reused month (see `extract_source`) matched its control file, the same
    bytes as now, when it was validated: its counts are the stated ones.
    """
    stated: dict[str, dict] = {}

    def read(pf: PeriodFile, src: Source) -> tuple[pd.DataFrame, list[SourceError]]:
        raw, warnings = read_raw(pf.path, src)
        stated[pf.name] = _stated(pf.path)
        return raw, warnings

    # Rows and the sum in cents (SAP sign) each typed file holds, counted once by the check.
    counted: dict[str, tuple[int, int]] = {}

    def check(typed: pd.DataFrame, names: list[str]) -> dict[str, list[SourceError]]:
        # The control file is the transfer's proof of completeness: a month that does not
        # match it is incomplete or altered, and is not used (like a month without one).
        by_file = typed.groupby("_file", sort=False)["amount_cents"].agg(["size", "sum"])
        for name, (n, c) in by_file.reindex(names, fill_value=0).astype("int64").iterrows():
            counted[name] = (int(n), int(c))
        # Only the files of this part: the earlier parts' were told when they were checked.
        return {
            name: control_mismatch(
                name, stated[name]["control_file"], n, stated[name]["stated_rows"], c, stated[name]["stated_cents"]
            )
            for name, (n, c) in ((name, counted[name]) for name in names)
        }

    extract = extract_source(extracts, "ledger", year, month, read, check, earlier, refused, in_report_sign, spill)
    for f in extract.files:
        if f.reused:
            stated[f.name] = _stated(Path(f.path))
            counted[f.name] = (stated[f.name]["stated_rows"], stated[f.name]["stated_cents"])
    controls = [
        {
            "file": f.name,
            "stated_rows": stated[f.name]["stated_rows"],
            "rows": counted[f.name][0],
            "stated_cents": stated[f.name]["stated_cents"],
            "cents": counted[f.name][1],
            "control_file": stated[f.name]["control_file"],
            "control_sha256": stated[f.name]["control_sha256"],
            "period": f.period,
        }
        for f in extract.files
    ]
    return extract, pd.DataFrame(controls)
