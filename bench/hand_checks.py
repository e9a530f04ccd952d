"""The yardstick: every expectation of `expectations/ledger.json`, written by hand in vectorised pandas.

This is what the ledger suite would cost without Great Expectations: the same
checks, with the same semantics (how GX treats missing values, `ignore_row_if`,
`keep=False` duplicates, inclusive bounds), written the way an engineer would
write them with pandas: column-wise, never a Python loop over rows. Values that
are naturally few are treated as few (the period of each of the twenty file
names, the personal identity code scan over distinct texts as `tasks.ingest.pii`
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
from tasks.ingest.pii import _signs_of_distinct


def _codes(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Row → code of its distinct value (-1 for a missing value), and the distinct values."""
    codes, uniques = pd.factorize(values)
    return codes, pd.Series(uniques)


def _rows_where(codes: np.ndarray, bad_distinct: np.ndarray) -> np.ndarray:
    """Row mask from a mask over the distinct values; a missing value (code -1) is never bad."""
    return np.append(bad_distinct, False)[codes]


def _file_facts(frame: pd.DataFrame, bands: pd.DataFrame | None) -> tuple[np.ndarray, pd.DataFrame]:
    """Row → file code, and per file: the period in its name, its row count and its row band."""
    codes, names = _codes(frame["_file"])
    stamp = names.astype(object).str.extract(r"(\d{4,6})\.\w+$")[0]
    facts = pd.DataFrame(
        {
            "file": names,
            "period": pd.to_numeric(stamp, errors="coerce").astype("float64"),
            "rows": np.bincount(codes, minlength=len(names)),
        }
    )
    b = (bands if bands is not None else pd.DataFrame(columns=["file", "lo", "hi"])).set_index("file")
    facts["lo"] = facts["file"].map(b["lo"]).astype("float64")
    facts["hi"] = facts["file"].map(b["hi"]).astype("float64")
    return codes, facts


def _outside(values, lo: float | None, hi: float | None) -> np.ndarray:
    """GX's between: missing values are not judged, bounds are inclusive."""
    values = pd.Series(values, dtype="float64")
    bad = np.zeros(len(values), dtype=bool)
    if lo is not None:
        bad |= (values < lo).to_numpy()
    if hi is not None:
        bad |= (values > hi).to_numpy()
    return bad & values.notna().to_numpy()


def _pair_unequal(a_codes: np.ndarray, a_values: pd.Series, b_codes: np.ndarray, b_values: pd.Series) -> int:
    """Rows where A != B, rows with either missing not judged; each side given as row codes
    into its distinct values (derived values are computed on the distinct values)."""
    a_values, b_values = a_values.astype(object), b_values.astype(object)
    space = pd.Index(pd.concat([a_values, b_values], ignore_index=True).dropna().unique())

    def in_space(codes: np.ndarray, values: pd.Series) -> np.ndarray:
        per_value = np.where(values.notna(), space.get_indexer(values), -1)
        return np.append(per_value, -1)[codes]

    a, b = in_space(a_codes, a_values), in_space(b_codes, b_values)
    return int(((a >= 0) & (b >= 0) & (a != b)).sum())


def hand_checks(frame: pd.DataFrame, suite: dict, params: dict, bands: pd.DataFrame | None) -> dict[str, dict]:
    """Every expectation of the ledger suite, by hand: {id: {type, success, unexpected_count}}."""
    services = {s.name: s for s in structure().services}
    file_codes, files = _file_facts(frame, bands)
    distinct = {c: _codes(frame[c]) for c in ("area", "service", "cost_centre", "account", "account_name")}
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
            # As tasks.ingest.pii does: the pattern and checksum run over the distinct texts only.
            codes, uniques = distinct[col]
            bad = _signs_of_distinct(uniques.astype("string")).ne("").to_numpy()
            record(e, int(_rows_where(codes, bad).sum()))
        elif t == "expect_column_values_to_not_be_null":
            record(e, int(distinct[col][0].__lt__(0).sum()) if col in distinct else int(frame[col].isna().sum()))
        elif t == "expect_column_values_to_be_between" and col == "account_number":
            codes, uniques = distinct["account"]
            bad = _outside(pd.to_numeric(uniques, errors="coerce"), kw.get("min_value"), kw.get("max_value"))
            record(e, int(_rows_where(codes, bad).sum()))
        elif t == "expect_column_values_to_be_between":
            record(e, int(_outside(frame[col], kw.get("min_value"), kw.get("max_value")).sum()))
        elif t == "expect_column_values_to_be_in_set":
            allowed = kw["value_set"]
            if isinstance(allowed, dict):
                allowed = params[allowed["$PARAMETER"]]
            codes, uniques = distinct[col]
            record(e, int(_rows_where(codes, ~uniques.isin(allowed).to_numpy()).sum()))
        elif t == "expect_column_values_to_not_be_in_set":
            codes, uniques = distinct[col]
            record(e, int(_rows_where(codes, uniques.isin(kw["value_set"]).to_numpy()).sum()))
        elif t == "expect_compound_columns_to_be_unique":
            # One integer per key (mixed radix over the columns' codes), then duplicates with keep=False;
            # a missing value is a value of its own, as in DataFrame.duplicated.
            key = np.zeros(len(frame), dtype="int64")
            all_missing = np.ones(len(frame), dtype=bool)
            for c in kw["column_list"]:
                codes, uniques = distinct[c] if c in distinct else _codes(frame[c])
                key = key * (len(uniques) + 1) + (codes + 1)
                all_missing &= codes < 0
            key_codes, key_uniques = pd.factorize(key)
            repeated = np.bincount(key_codes, minlength=len(key_uniques)) > 1
            record(e, int((repeated[key_codes] & ~all_missing).sum()))  # ignore_row_if: all_values_are_missing
        elif t == "expect_column_pair_values_to_be_equal" and kw["column_A"] == "row_period":
            # Default ignore_row_if: both_values_are_missing (a row period is never missing).
            row_period = frame["year"].to_numpy("float64") * 100 + frame["month"].to_numpy("float64")
            record(e, int((row_period != files["period"].to_numpy()[file_codes]).sum()))
        elif t == "expect_column_pair_values_a_to_be_greater_than_b" and "file_rows" in (
            kw["column_A"],
            kw["column_B"],
        ):
            # Row band: one comparison per file, counted over its rows; no band, not judged.
            rows = files["rows"]
            bad = (rows < files["lo"]) if kw["column_B"] == "row_band_min" else (rows > files["hi"])
            record(e, int(rows[bad].sum()))
        elif t == "expect_column_values_to_be_of_type":
            record(e, None, success=frame[col].dtype.type is np.dtype(kw["type_"]).type)
        elif t == "expect_column_values_to_match_regex":
            codes, uniques = distinct[col]
            record(
                e,
                int(
                    _rows_where(codes, ~uniques.astype(str).str.contains(kw["regex"], regex=True).to_numpy(bool)).sum()
                ),
            )
        elif t == "expect_column_pair_values_to_be_equal" and kw["column_A"] in ("area", "cost_centre_service"):
            # ignore_row_if: either_value_is_missing (an unknown service has no area and no code).
            s_codes, s_uniques = distinct["service"]
            if kw["column_A"] == "area":
                a_codes, a_per_value = distinct["area"]
                b_per_service = s_uniques.map({n: s.area for n, s in services.items()})
            else:
                a_codes, cc_uniques = distinct["cost_centre"]
                a_per_value = cc_uniques.str[:4]
                b_per_service = s_uniques.map({n: s.code for n, s in services.items()})
            record(e, _pair_unequal(a_codes, a_per_value, s_codes, b_per_service))
        else:
            raise NotImplementedError(f"no hand-written check for {t} {kw}")
    return out
