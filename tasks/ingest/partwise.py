"""One verdict from a source validated part by part (see `rows`): the parts' results merged as one run's would be.

A suite's row checks (missing values, bounds, sets, pairs, patterns) count and
list failing rows part by part, so their results add up: counts summed, the
listed rows in the files' order up to the limit one run lists. A table check
(the columns) sees the same columns in every part. A key the suite requires to
be unique can repeat across parts, which no part's run sees: `KeysAcrossParts`
keeps a 64-bit hash of each part's keys, and rows whose hash recurs in another
part are compared by their values, read back from the parts, before they count.
They join the uniqueness check's failing rows, as one run over all rows would
have counted them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import pandas as pd

from tasks.ingest.rows import Rows

# A result's row counts, summed over the parts.
COUNTS = ("element_count", "missing_count", "unexpected_count")
# How many of the most frequent failing values a result lists (GX's own limit).
COUNTED_VALUES = 20

Key = tuple[str, ...]


def _position(order: dict[str, int]):
    def position(item) -> tuple[int, int]:
        file, line = (item.get("_file"), item.get("_line")) if isinstance(item, dict) else (None, None)
        file, line = (file[0], line[0]) if isinstance(line, list) and line else (file, line)
        return order.get(str(file), len(order)), int(line) if isinstance(line, int | np.integer) else 0

    return position


def _percent(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def merged_result(
    results: list[dict], listed: int, order: dict[str, int], repeated: pd.DataFrame | None = None
) -> dict:
    """One expectation's results on every part as one result: counts summed, failing rows listed in the files'
    order (`order`: file name to position) up to `listed`, and the rows of `repeated` (`_file`, `_line`: a unique
    key another part holds too) counted and listed as failing."""
    extra = repeated if repeated is not None and len(repeated) else None
    if len(results) == 1 and extra is None:
        return results[0]
    parts = [r.get("result") or {} for r in results]
    if "element_count" not in parts[0]:
        # A table check: every part has the same columns, so any part's result is the whole's.
        return next((r for r in results if not r["success"]), results[0])
    result = dict(parts[0])
    for count in COUNTS:
        if count in result:  # a check of missing values has no missing count
            result[count] = sum(p.get(count) or 0 for p in parts)
    index = [i for p in parts for i in p.get("partial_unexpected_index_list") or []]
    values = [v for p in parts for v in p.get("partial_unexpected_list") or []]
    if extra is not None:
        result["unexpected_count"] += len(extra)
        index += [{"_file": f, "_line": int(n)} for f, n in zip(extra["_file"].astype(str), extra["_line"])]
        index.sort(key=_position(order))
    result["partial_unexpected_index_list"] = index[:listed]
    result["partial_unexpected_list"] = values[:listed]
    tally: dict[str, list] = {}
    for p in parts:
        for item in p.get("partial_unexpected_counts") or []:
            key = json.dumps(item.get("value"), sort_keys=True, default=str)
            tally.setdefault(key, [item.get("value"), 0])[1] += item.get("count") or 0
    ranked = sorted(tally.values(), key=lambda vc: -vc[1])[:COUNTED_VALUES]
    result["partial_unexpected_counts"] = [{"value": v, "count": c} for v, c in ranked]
    elements, missing, unexpected = (result.get(c) or 0 for c in COUNTS)
    present = elements - missing
    percents = {
        "missing_percent": _percent(missing, elements),
        "unexpected_percent": _percent(unexpected, present),
        "unexpected_percent_total": _percent(unexpected, elements),
        "unexpected_percent_nonmissing": _percent(unexpected, present),
    }
    result.update({k: v for k, v in percents.items() if k in result})
    success = all(r["success"] for r in results) and extra is None
    return {**results[0], "success": success, "result": result}


def merged_validation(
    runs: list[dict], listed: int, order: dict[str, int], repeated: dict[Key, pd.DataFrame] | None = None
) -> dict:
    """A suite's runs on every part (GX's result JSON) as one run's: each expectation's results merged
    (`merged_result`), a uniqueness check's with the rows that repeat its key across parts."""
    if len(runs) == 1 and not repeated:
        return runs[0]
    results = []
    for position, first in enumerate(runs[0]["results"]):
        kwargs = first["expectation_config"]["kwargs"]
        key = tuple(kwargs.get("column_list") or [kwargs.get("column")])
        unique = "unique" in first["expectation_config"]["type"]
        extra = (repeated or {}).get(key) if unique else None
        results.append(merged_result([run["results"][position] for run in runs], listed, order, extra))
    passed = sum(r["success"] for r in results)
    statistics = {
        "evaluated_expectations": len(results),
        "successful_expectations": passed,
        "unsuccessful_expectations": len(results) - passed,
        "success_percent": _percent(passed, len(results)),
    }
    return {**runs[0], "success": passed == len(results), "results": results, "statistics": statistics}


def key_hashes(values: pd.DataFrame) -> np.ndarray:
    """Each row's key (the frame's columns, no value missing) as a 64-bit hash, in the rows' order."""
    # Not categorized: a unique key's values are nearly all distinct, and hashing them directly beats hashing a
    # dictionary of them (3 M text ids: 0.5 s against 1.5 s; the same hashes either way).
    return pd.util.hash_pandas_object(values, index=False, categorize=False).to_numpy()


def hash_scheme(values: pd.DataFrame) -> str:
    """What decides `key_hashes` of these columns besides their values: pandas' hashing and the columns' types.
    Hashes kept under another scheme are not compared with these."""
    return f"pandas {pd.__version__}: " + ", ".join(str(t) for t in values.dtypes)


class KeysAcrossParts:
    """The values of a source's unique keys, part by part, as 64-bit hashes: what tells the rows that repeat a key
    across parts without holding every part's keys (8 bytes a row: 100 MB for 12.6 million answers)."""

    def __init__(self, keys: Iterable[list[str]]) -> None:
        # Per key, each part's hashes and the positions of its rows with the whole key (None: every row).
        self._hashes: dict[Key, list[tuple[np.ndarray, np.ndarray | None]]] = {tuple(k): [] for k in keys}

    def add(self, part: pd.DataFrame) -> None:
        """Hash the next part's keys (rows with a missing key value are not compared, as in a suite)."""
        for key, hashes in self._hashes.items():
            if not set(key) <= set(part.columns):
                continue
            values = part[list(key)]
            whole = values.notna().all(axis=1).to_numpy()
            rows = None if whole.all() else np.flatnonzero(whole)
            hashes.append((key_hashes(values if rows is None else values.iloc[rows]), rows))

    def repeated(self, rows: Rows) -> dict[Key, pd.DataFrame]:
        """Per key, the rows (`_file`, `_line`) whose key another part holds as well and which their own part's run
        did not count (the key is once in their part). Only when hashes recur in two parts are the parts' key
        columns read back and compared."""
        out = {}
        for key, hashes in self._hashes.items():
            suspects = _in_two_parts([h for h, _ in hashes])
            if not len(suspects):
                continue
            found = []
            for n, ((h, kept), part) in enumerate(zip(hashes, rows.parts([*key, "_file", "_line"]))):
                hit = np.flatnonzero(np.isin(h, suspects))
                if len(hit):
                    found.append(part.iloc[hit if kept is None else kept[hit]].assign(_part=n))
            candidates = pd.concat(found, ignore_index=True)
            across = candidates.groupby(list(key), sort=False, observed=True)["_part"].transform("nunique") > 1
            in_part = candidates.groupby([*key, "_part"], sort=False, observed=True)["_line"].transform("size")
            new = candidates[across & (in_part == 1)]
            if len(new):
                out[key] = new[["_file", "_line"]].reset_index(drop=True)
        return out


def _in_two_parts(hashes: list[np.ndarray]) -> np.ndarray:
    """The hashes found in at least two of the parts' arrays. Sorted, not hashed into a table: one copy of the
    hashes is the memory it takes."""
    if len(hashes) < 2:
        return np.array([], dtype="uint64")
    every = np.sort(np.concatenate(hashes))
    twice = np.unique(every[1:][every[1:] == every[:-1]])
    del every
    if not len(twice):
        return twice
    per_part = np.concatenate([np.unique(h[np.isin(h, twice)]) for h in hashes])
    values, parts = np.unique(per_part, return_counts=True)
    return values[parts > 1]
