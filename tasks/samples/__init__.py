"""Samples: deterministic sample extracts, modelled on the seeds, for the demo, the tests and the benchmarks.

`sample_extracts(year, out, scale)` writes every source's files for `year`
and the history a report reads: the finances (`finance`) and the operational
sources (`operational`). Same arguments, same bytes. Takes the contracts;
gives files in the extracts folder.
"""

from __future__ import annotations

from pathlib import Path

from tasks.samples.finance import ledger_frame, sample_budget, write_council_budget, write_ledger, write_result_budget
from tasks.samples.operational import write_operational

__all__ = ["sample_extracts"]


def sample_extracts(year: int, out: Path, scale: int = 1) -> list[Path]:
    """Write the whole sample for `year` (and the previous year's ledger) into `out`."""
    seed = sample_budget()
    if seed["result_budget"]["year"] != year:
        raise ValueError(f"näyteaineisto on saatavilla vuodelle {seed['result_budget']['year']}, ei vuodelle {year}")
    out.mkdir(parents=True, exist_ok=True)
    written = [write_result_budget(out, seed), write_council_budget(out, seed)]
    for y in (year - 1, year):
        written += write_ledger(out, ledger_frame(seed, y, scale), y, year)
    return written + write_operational(out, year, scale)
