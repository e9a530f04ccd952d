"""The yardstick: every expectation of `expectations/ledger.json`, written by hand in vectorised pandas.

This is what the ledger suite would cost without Great Expectations: the same
checks, with the same semantics (how GX treats missing values, `ignore_row_if`,
`keep=False` duplicates, inclusive bounds), written the way an engineer would
write them with pandas: column-wise, never a Python loop over rows. Values that
are naturally few are treated as few (the period of each of the twenty file
names, the personal identity code scan over distinct texts as `tasks.pii`
does); everything else is one vectorised operation over the rows.

`hand_checks` returns, per expectation id, `success` and `unexpected_count`
(None for table-level and type checks), so the benchmark can assert that it
agrees with Great Expectations on every expectation before comparing times.
It lives in `bench/` on purpose: it is the measure, not part of the product.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.contracts import structure
from tasks.pii import hetu_rows


def _file_facts(frame: pd.DataFrame, bands: pd.DataFrame | None) -> tuple[np.ndarray, pd.DataFrame]:
    """Row → file code, and per file: the period in its name, its row count and its row band."""
    codes, names = pd.factorize(frame["_file"])
    names = pd.Series(names, dtype=object)
    stamp = names.str.extract(r"(\d{4,6})\.\w+$")[0]
    facts = pd.DataFrame({
        "file": names,
        "period": pd.to_numeric(stamp, errors="coerce").astype("float64"),
        "rows": np.bincount(codes, minlength=len(names)),
    })
    b = (bands if bands is not None else pd.DataFrame(columns=["file", "lo", "hi"])).set_index("file")
    facts["lo"] = facts["file"].map(b["lo"]).astype("float64")
    facts["hi"] = facts["file"].map(b["hi"]).astype("float64")
    return codes, facts


def _nonnull_outside(values: pd.Series, lo: float | None, hi: float | None) -> int:
    """GX's between: missing values are not judged, bounds are inclusive."""
    bad = pd.Series(False, index=values.index)
    if lo is not None:
        bad |= values < lo
    if hi is not None:
        bad |= values > hi
    return int((bad & values.notna()).sum())


def hand_checks(frame: pd.DataFrame, suite: dict, params: dict, bands: pd.DataFrame | None) -> dict[str, dict]:
    """Every expectation of the ledger suite, by hand: {id: {type, success, unexpected_count}}."""
    services = {s.name: s for s in structure().services}
    codes, files = _file_facts(frame, bands)
    out: dict[str, dict] = {}

    def record(e: dict, unexpected: int | None, success: bool | None = None) -> None:
        out[e["id"]] = {
            "type": e["type"],
            "success": (unexpected == 0) if success is None else success,
            "unexpected_count": unexpected,
        }

    for e in suite["expectations"]:
        t, kw = e["type"], e["kwargs"]
        col = kw.get("column")
        if t == "expect_table_columns_to_match_set":
            record(e, None, success=set(kw["column_set"]) <= set(frame.columns))
        elif t == "expect_column_values_to_not_contain_hetu":
            # tasks.pii scans the distinct texts only; missing values are not judged.
            record(e, int(hetu_rows(frame[col]).sum()))
        elif t == "expect_column_values_to_not_be_null":
            record(e, int(frame[col].isna().sum()))
        elif t == "expect_column_values_to_be_between":
            values = pd.to_numeric(frame["account"], errors="coerce") if col == "account_number" else frame[col]
            record(e, _nonnull_outside(values, kw.get("min_value"), kw.get("max_value")))
        elif t == "expect_column_values_to_be_in_set":
            allowed = kw["value_set"]
            if isinstance(allowed, dict):
                allowed = params[allowed["$PARAMETER"]]
            values = frame[col]
            record(e, int((values.notna() & ~values.isin(allowed)).sum()))
        elif t == "expect_compound_columns_to_be_unique":
            keys = frame[kw["column_list"]]
            considered = keys.notna().any(axis=1)  # ignore_row_if: all_values_are_missing
            record(e, int((keys.duplicated(keep=False) & considered).sum()))
        elif t == "expect_column_pair_values_to_be_equal" and kw["column_A"] == "row_period":
            # Default ignore_row_if: both_values_are_missing (a row period is never missing).
            row_period = frame["year"].astype("float64") * 100 + frame["month"].astype("float64")
            file_period = files["period"].to_numpy()[codes]
            record(e, int((row_period.to_numpy() != file_period).sum()))
        elif t == "expect_column_pair_values_a_to_be_greater_than_b" and "file_rows" in (kw["column_A"], kw["column_B"]):
            # Row band: one comparison per file, counted over its rows; no band, not judged.
            lo, hi, rows = files["lo"], files["hi"], files["rows"]
            bad = (rows < lo) if kw["column_B"] == "row_band_min" else (rows > hi)
            record(e, int(rows[bad].sum()))
        elif t == "expect_column_values_to_be_of_type":
            record(e, None, success=frame[col].dtype.type is np.dtype(kw["type_"]).type)
        elif t == "expect_column_values_to_match_regex":
            values = frame[col]
            record(e, int((values.notna() & ~values.str.contains(kw["regex"], regex=True)).sum()))
        elif t == "expect_column_pair_values_to_be_equal" and kw["column_A"] == "area":
            # ignore_row_if: either_value_is_missing (an unknown service has no area).
            of_service = frame["service"].map({n: s.area for n, s in services.items()})
            both = frame["area"].notna() & of_service.notna()
            record(e, int((both & (frame["area"] != of_service)).fillna(False).sum()))
        elif t == "expect_column_pair_values_to_be_equal" and kw["column_A"] == "cost_centre_service":
            code = frame["service"].map({n: s.code for n, s in services.items()})
            prefix = frame["cost_centre"].str[:4]
            both = prefix.notna() & code.notna()
            record(e, int((both & (prefix != code)).fillna(False).sum()))
        else:
            raise NotImplementedError(f"no hand-written check for {t} {kw}")
    return out
