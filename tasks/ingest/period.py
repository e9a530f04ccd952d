"""Every source of one reporting period, read: the extract stage's result.

`extract_period` reads the ledger (with its control files) and every other
source the contracts declare, each on its own: a missing or broken source
never stops another. The result, `Extracted`, is what validation and loading
take.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.contracts import reported_sources, sources
from tasks.contracts.vocab import SOURCE_OK
from tasks.ingest.extract import Extract, extract_source
from tasks.ingest.files import period_files
from tasks.ingest.ledger import extract_ledger
from tasks.ingest.reuse import Checked
from tasks.ingest.rows import Rows
from tasks.ingest.validate import row_bands

# Told of each source as soon as it has been read.
OnSource = Callable[[Extract], None]


@dataclass(frozen=True)
class Extracted:
    """Every source of the period as read, and the ledger's control facts per file."""

    sources: dict[str, Extract]
    # One row per ledger file that matched its control file: stated and counted rows and cents.
    controls: pd.DataFrame

    def readable(self) -> dict[str, Rows]:
        """The typed rows of every source that could be read and has files read in this run (not only reused)."""
        return {
            sid: e.rows
            for sid, e in self.sources.items()
            if e.status == SOURCE_OK and any(not f.reused for f in e.files)
        }

    def files(self) -> pd.DataFrame:
        """Every file of this run, read or reused: `source`, `file`, `period`, `rows`, `reused`."""
        rows = [(sid, f.name, f.period, f.rows, f.reused) for sid, e in self.sources.items() for f in e.files]
        return pd.DataFrame(rows, columns=["source", "file", "period", "rows", "reused"])

    @property
    def rows(self) -> int:
        return sum(f.rows for e in self.sources.values() for f in e.files)

    def forget_rows(self) -> None:
        """Let go of the rows read, keeping every source's columns, files and errors: once they are loaded, the later
        stages read the warehouse. In place, since the run's orchestrator holds each stage's result to its end."""
        for e in self.sources.values():
            e.rows.forget()


def extract_period(
    extracts: Path,
    year: int,
    month: int,
    earlier: Checked | None = None,
    on_source: OnSource | None = None,
    spill: Path | None = None,
) -> Extracted:
    """Read every source of the period (the ledger with its control files first).

    `on_source` is told of each source as soon as it has been read (the run's progress). With `spill`, the
    typed rows go to disk part by part under it (see `rows`); `Extracted.forget_rows` removes them.

    With `earlier`, files earlier runs validated clean and loaded are reused
    unread; a reused monthly file whose row count falls outside the band the
    files around it now give is read again, with its source, so that the
    suite judges it (and warns of it) as it would on a full run.
    """
    if earlier is not None:
        earlier.hash_ahead(
            (sid, pf) for sid in reported_sources() for pf in period_files(extracts, sources()[sid], year, month)
        )
    out, controls = _extract_all(extracts, year, month, earlier, {}, on_source, spill)
    if earlier is None:
        return Extracted(out, controls)
    outside = reused_outside_band(Extracted(out, controls).files(), earlier)
    if not outside:
        return Extracted(out, controls)
    for sid in outside:
        out[sid].rows.forget()  # read again below, into the same spill folder
    again, again_controls = _extract_all(extracts, year, month, earlier, outside, on_source, spill)
    if "ledger" in outside:
        controls = again_controls
    return Extracted({sid: again.get(sid, e) for sid, e in out.items()}, controls)


def _extract_all(
    extracts: Path,
    year: int,
    month: int,
    earlier: Checked | None,
    refused: dict[str, frozenset[str]],
    on_source: OnSource | None = None,
    spill: Path | None = None,
) -> tuple[dict[str, Extract], pd.DataFrame]:
    """Every source (or, with `refused`, only the sources it names, those files read again)."""
    out: dict[str, Extract] = {}
    controls = pd.DataFrame()
    for sid in reported_sources():
        if refused and sid not in refused:
            continue
        if sid == "ledger":
            out[sid], controls = extract_ledger(extracts, year, month, earlier, refused.get(sid, frozenset()), spill)
        else:
            refuse = refused.get(sid, frozenset())
            out[sid] = extract_source(extracts, sid, year, month, earlier=earlier, refused=refuse, spill=spill)
        if on_source is not None:
            on_source(out[sid])
    return out, controls


def reused_outside_band(files: pd.DataFrame, earlier: Checked) -> dict[str, frozenset[str]]:
    """Per source, the reused files whose rows fall outside the band every file's rows now give."""
    # Only monthly files are judged by their row counts (see `validation_frame`).
    monthly_ids = [sid for sid, src in sources().items() if src.period == "month"]
    monthly = files[files["source"].isin(monthly_ids)].reset_index(drop=True)
    bands = row_bands(monthly, earlier.history, earlier.margin)
    judged = monthly.join(bands[["lo", "hi"]].reset_index(drop=True))
    # A file without a band (too few earlier periods) is not judged.
    lo, hi = judged["lo"].astype("float64").fillna(-np.inf), judged["hi"].astype("float64").fillna(np.inf)
    outside = judged["reused"] & ((judged["rows"] < lo) | (judged["rows"] > hi))
    hits = judged[outside]
    return {sid: frozenset(g["file"]) for sid, g in hits.groupby("source")}
