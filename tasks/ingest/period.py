"""Every source of one reporting period, read: the extract stage's result.

`extract_period` reads the ledger (with its control files) and every other
source the contracts declare, each on its own: a missing or broken source
never stops another. The result, `Extracted`, is what validation and loading
take.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tasks.contracts import reported_sources
from tasks.contracts.vocab import SOURCE_OK
from tasks.ingest.extract import Extract, extract_source
from tasks.ingest.ledger import extract_ledger


@dataclass(frozen=True)
class Extracted:
    """Every source of the period as read, and the ledger's control facts per file."""

    sources: dict[str, Extract]
    # One row per ledger file that matched its control file: stated and counted rows and cents.
    controls: pd.DataFrame

    def readable(self) -> dict[str, pd.DataFrame]:
        """The typed rows of every source that could be read."""
        return {sid: e.frame for sid, e in self.sources.items() if e.status == SOURCE_OK}

    def files(self) -> pd.DataFrame:
        """Every file read in this run: `source`, `file`, `period`, `rows`."""
        rows = [(sid, f.name, f.period, f.rows) for sid, e in self.sources.items() for f in e.files]
        return pd.DataFrame(rows, columns=["source", "file", "period", "rows"])

    @property
    def rows(self) -> int:
        return sum(f.rows for e in self.sources.values() for f in e.files)


def extract_period(extracts: Path, year: int, month: int) -> Extracted:
    """Read every source of the period (the ledger with its control files first)."""
    ledger, controls = extract_ledger(extracts, year, month)
    out = {"ledger": ledger}
    for sid in reported_sources():
        if sid != "ledger":
            out[sid] = extract_source(extracts, sid, year, month)
    return Extracted(out, controls)
