"""Files already checked: which input files an earlier run validated clean and loaded, so this run need not.

A file is reused, neither parsed, validated nor loaded again, when the
warehouse holds its batch with the same bytes (SHA-256) validated clean (no
check failed; a warning check may have found rows, which the batch keeps, so
that the source warns of them again) under
the same *validation key*: the source's committed suite, the reference values
that suite reads, the source's contract, the structure and chart of accounts
the extract applies, and the bytes of its companion files (the ledger's control
file). A change to any of them gives a new key, so exactly the files it touches
are validated again. The suites' latest allowed date is left out: it only moves
forward, so a file that passed once passes again.

Checks that look across files are kept. Each monthly file's expected band of
rows is recomputed from every file's rows and a reused file outside it is read
and validated again (the extract stage does so); values a suite requires to be
unique are compared with those of the reused files (`collisions`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path

import pandas as pd

from reports import fmt
from tasks.contracts import accounts, sources, structure
from tasks.ingest.files import FileInfo, PeriodFile, companion_files
from tasks.ingest.findings import input_column_names
from tasks.ingest.parsing import sha256_of
from tasks.ingest.validate import reference_parameters, suite_document, uniqueness_keys

# What the manifest and the quality appendix say of a reused file.
REUSED_FI = "ennallaan, tarkistettu aiemmin"


@cache
def _source_part(source: str) -> str:
    """The validation key's part that depends on the source only (suite, reference values, contracts, code)."""
    suite = suite_document(source) or {}
    text = json.dumps(suite, sort_keys=True)
    params = reference_parameters()
    used = sorted({p for p in params if f'"{p}"' in text})
    parts = {
        "suite": suite,
        "parameters": {p: params[p] for p in used},
        "contract": repr(sources()[source]),
        # The extract spells names the structure's way and rolls accounts up to lines; the suites derive
        # services' codes and areas from the structure.
        "structure": repr(structure()),
        "accounts": repr(accounts()) if source == "ledger" else "",
        "katsaus": metadata.version("katsaus"),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def validation_key(source: str, companions: list[Path]) -> str:
    """The key a file's clean validation is kept under: the source's part and its companion files' bytes."""
    h = hashlib.sha256(_source_part(source).encode())
    for path in companions:
        h.update(f"{path.name}:{sha256_of(path) if path.is_file() else '-'}".encode())
    return h.hexdigest()


# The warehouse's record of files validated clean and loaded: one row per batch.
CHECKED_COLUMNS = ["source", "period", "file_name", "sha256", "rows", "validation_key", "batch_id", "run_id", "warned"]


def _digest_or_none(path: Path) -> str | None:
    try:
        return sha256_of(path)
    except OSError:
        return None


@dataclass(frozen=True)
class Checked:
    """Files earlier runs validated clean and loaded (`CHECKED_COLUMNS`), with what the row bands need."""

    files: pd.DataFrame
    # Row counts of every loaded period and the bands' margin (see `row_bands`).
    history: pd.DataFrame
    margin: float
    # SHA-256 of files hashed ahead (`hash_ahead`), by path, each taken once by `reusable`.
    digests: dict[Path, str] = field(default_factory=dict, compare=False, repr=False)

    def hash_ahead(self, candidates: Iterable[tuple[str, PeriodFile]]) -> None:
        """Hash at once, on every core, the files of `candidates` (source, file) that earlier runs checked: a
        rerun's files are mostly unchanged, and hashing them one by one took over a second of a next month's run.
        (hashlib and file reads let go of the GIL.)"""
        f = self.files
        checked = set(zip(f["source"], f["period"], f["file_name"]))
        paths = [pf.path for sid, pf in candidates if pf.path is not None and (sid, pf.period, pf.name) in checked]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            digests = zip(paths, pool.map(_digest_or_none, paths))
            # A file that could not be read now is hashed when its turn comes, and fails there as it did before.
            self.digests.update((path, digest) for path, digest in digests if digest is not None)

    def reusable(self, source: str, pf: PeriodFile, refused: frozenset[str] = frozenset()) -> FileInfo | None:
        """`pf` as a reused file if its batch was validated clean under the key it has now; else None.

        `refused` names files that must be read all the same (outside their row band).
        """
        if pf.path is None or pf.name in refused:
            return None
        f = self.files
        hit = f[(f["source"] == source) & (f["period"] == pf.period) & (f["file_name"] == pf.name)]
        if hit.empty:
            return None
        row = hit.iloc[0]
        digest = self.digests.pop(pf.path, None) or sha256_of(pf.path)
        if row["sha256"] != digest:
            return None
        key = validation_key(source, companion_files(pf, source))
        if row["validation_key"] != key:
            return None
        return FileInfo(
            pf.name,
            str(pf.path),
            row["sha256"],
            int(row["rows"]),
            pf.period,
            validation_key=key,
            reused_batch=int(row["batch_id"]),
            checked_by_run=str(row["run_id"]),
            warned=row["warned"] if isinstance(row["warned"], str) else "",
        )


def collisions(new: pd.DataFrame, earlier: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Rows of `new` (with `_file`, `_line`) whose `key` values a reused file (`earlier`, with `_file`) holds."""
    if new.empty or earlier.empty:
        return pd.DataFrame(columns=[*key, "_file", "_line", "earlier_file"])
    left = new[[*key, "_file", "_line"]].astype(dict.fromkeys(key, object))
    right = earlier[[*key, "_file"]].astype(dict.fromkeys(key, object)).rename(columns={"_file": "earlier_file"})
    both = left.dropna(subset=key).merge(right.drop_duplicates(key), on=key)
    return both.sort_values(["_file", "_line"]).reset_index(drop=True)


def collision_failures(source: str, new: pd.DataFrame, earlier: pd.DataFrame) -> list[str]:
    """In Finnish, each unique key of the suite that rows read now share with a reused file; never a value."""
    names = input_column_names(source)
    out = []
    for key in uniqueness_keys(source):
        if not set(key) <= set(earlier.columns):
            continue
        hits = collisions(new, earlier, key)
        if hits.empty:
            continue
        where = ", ".join(f"{f} rivi {ln}" for f, ln in zip(hits["_file"].head(5), hits["_line"].head(5)))
        out.append(
            f"avain ({', '.join(names.get(c, c) for c in key)}) toistuu: sama avain on jo aiemmin tarkistetussa "
            f"tiedostossa {hits['earlier_file'].iloc[0]} ({fmt.count(len(hits), 'rivi', 'riviä')}: {where}"
            f"{' …' if len(hits) > 5 else ''})"
        )
    return out
