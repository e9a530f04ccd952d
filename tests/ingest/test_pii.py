import itertools
import re

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tasks.ingest.pii import (
    CANDIDATE,
    CENTURY_SIGNS,
    DASHES,
    PATTERN,
    certain_codes,
    contains_code,
    hetu_findings,
    hetu_rows,
    hetu_signs,
    mask,
    mask_codes,
)

# Valid codes built by the checksum rule (fictitious people).
VALID = ["131052-308T", "010101A123N", "311299+999N", "010100B123S", "010190Y123L", "150620F9876"]


def check_char(code: str) -> str:
    return "0123456789ABCDEFHJKLMNPRSTUVWXY"[int(code[:6] + code[7:10]) % 31]


@pytest.mark.parametrize("code", VALID)
def test_valid_codes_of_every_century_sign_are_found(code):
    code = code[:10] + check_char(code)  # make sure the fixture itself is right
    text = pd.Series([f"asiakas {code} soitti", "ei tunnusta", None])
    assert hetu_rows(text).tolist() == [True, False, False]


def test_impossible_dates_and_digit_runs_are_not_codes():
    values = pd.Series(["321052-308T", "131352-308T", "1310523-308T", "4000;131052", "Tili 123456-7890", "2024-08-01"])
    assert not hetu_rows(values).any()


@pytest.mark.parametrize(
    "written",
    [
        "131052-308t",  # lower-case check character
        "010101a123n",  # lower-case century sign
        "131052\u2013308T",  # en dash
        "131052\u2212308T",  # minus sign
        "asiakasnro131052-308Tsoitti",  # letters glued to both ends
        "131052 - 308T",  # spaces around the sign
        "131052-308 T",  # a space before the check character
        "1310 52-308T",  # a space inside the date
    ],
)
def test_carelessly_written_codes_are_found_and_certain(written):
    values = pd.Series([f"asiakas {written} soitti"])
    assert hetu_rows(values).tolist() == [True]
    assert certain_codes(values).tolist() == [True]
    assert "308" not in mask_codes(written) and "123" not in mask_codes(written)


def test_a_code_with_a_wrong_check_character_is_probable_and_still_stops_the_source():
    values = pd.Series(["131052-308U", "131052-308T", "ok"])
    assert hetu_rows(values).tolist() == [True, True, False]
    assert certain_codes(values).tolist() == [False, True, False]
    assert contains_code("Hyväksytty, asiakas 131052-308U") and not contains_code("Hyväksytty 24.9.2024")


def test_all_2023_century_signs_are_accepted():
    for sign in "YXWVUBCDEF":
        code = f"010203{sign}123"
        code += check_char(code + "X")
        assert hetu_rows(pd.Series([code])).all(), sign


def test_findings_name_column_and_line_but_never_the_code():
    second = "010100B123" + check_char("010100B123X")
    df = pd.DataFrame(
        {"Selitys": ["ok", "soita 131052-308T", "ok"], "Muu": ["a", "b", second], "_line": [2, 3, 4], "_file": "f.csv"}
    )
    f = hetu_findings(df, ["Selitys", "Muu"])
    assert f[["column", "file", "line"]].values.tolist() == [["Selitys", "f.csv", 3], ["Muu", "f.csv", 4]]
    assert f["masked"].tolist() == [mask("-"), mask("B")]
    assert "131052" not in f.to_csv() and "010100" not in f.to_csv()


def test_mask_codes_hides_every_code_shaped_text():
    # A valid code and one with a wrong check character: both are personal data in a message.
    assert mask_codes("löytyi: 150583-917P, 010101A123X, 1402001") == "löytyi: ******-****, ******A****, 1402001"


def test_scan_of_distinct_values_keeps_rows_index_and_missing_values():
    """The scan runs per distinct value; rows keep their own index (GX passes columns with gaps), and
    missing values, numbers and categoricals are judged as their text, as a row-by-row scan would."""
    code = "131052-308T"
    values = pd.Series(
        [f"x {code}", None, "ok", f"x {code}", 131052, "ok", pd.NA], index=[10, 11, 13, 17, 18, 19, 30], dtype=object
    )
    expected = [True, False, False, True, False, False, False]
    assert hetu_rows(values).tolist() == expected
    assert hetu_rows(values).index.tolist() == values.index.tolist()
    assert hetu_rows(values.astype("string[pyarrow]")).tolist() == expected
    assert hetu_rows(values.astype(str).where(values.notna()).astype("category")).tolist() == expected
    assert hetu_signs(values).tolist() == ["-", "", "", "-", "", "", ""]
    df = pd.DataFrame({"t": values.to_numpy(), "_line": range(2, 9), "_file": "f.csv"})
    assert hetu_findings(df, ["t"])[["line", "masked"]].values.tolist() == [[2, mask("-")], [5, mask("-")]]


def test_categorical_column_is_scanned_through_its_categories_only_rows_count():
    """A categorical is scanned by its categories; a code in an unused category flags no row."""
    unused = "010100B123" + check_char("010100B123X")
    values = pd.Series(
        pd.Categorical(["a 131052-308T", None, "b", "a 131052-308T"], categories=[unused, "a 131052-308T", "b"]),
        index=[5, 6, 7, 9],
    )
    assert hetu_rows(values).tolist() == [True, False, False, True]
    assert hetu_rows(values).index.tolist() == [5, 6, 7, 9]
    assert hetu_signs(values).tolist() == ["-", "", "", "-"]


def test_a_categorical_and_its_views_are_scanned_once_and_judged_as_their_text(monkeypatch):
    """Validation scans a column for the report and the suite's expectation scans it again (GX passes a view
    without the missing values): one scan of the categories serves both, with the verdicts of a scan of text."""
    from tasks.ingest import pii

    scanned, scan = [], pii._signs_of_distinct
    monkeypatch.setattr(pii, "_signs_of_distinct", lambda text: scanned.append(len(text)) or scan(text))
    texts = [f"x {VALID[0]}", None, "ok", VALID[1].lower(), "tili 4000", f"{VALID[2]}y"] * 3
    values = pd.Series(texts, index=range(100, 118), dtype="category")
    as_text = hetu_signs(values.astype("string"))
    assert hetu_signs(values).equals(as_text)
    view = values[values.notna()]
    assert hetu_rows(view).tolist() == as_text[values.notna()].ne("").tolist()
    assert hetu_rows(view).index.tolist() == view.index.tolist()
    assert scanned == [6, 5]  # the text's distinct values (and a missing one); the five categories, once for both
    other = values.cat.set_categories([*values.cat.categories, "new"])  # other categories: scanned anew
    assert hetu_signs(other).equals(as_text) and scanned == [6, 5, 6]


def test_record_ids_in_hexadecimal_hold_no_codes():
    """A hash-like id holds code-shaped stretches by chance (`048194e3761` in `…048194e3761…`): not a code."""
    ids = pd.Series(["5c1bde2059fb4f13", "a1048194e3761f0c", "425197b395b9c2d1", "asiakasnro150583-917P"])
    assert hetu_rows(ids).tolist() == [False, False, False, True]
    assert mask_codes("tunniste a1048194e3761f0c") == "tunniste a1048194e3761f0c"


def test_the_quick_prefilter_lets_every_code_shaped_text_through():
    """The C++ prefilter (CANDIDATE) must pass every text the exact pattern matches, however the code is spelled:
    Unicode digits, every century sign and dash, the gaps, glued letters, check characters that only case folding
    matches (long s, the kelvin sign)."""
    digits = ["131052", "\u0661\u0663\u0661\u0660\u0665\u0662", "\uff11\uff13\uff11\uff10\uff15\uff12"]
    gaps = ["", " ", "\u00a0", "\u202f"]
    checks = ["T", "t", "0", "\u017f", "\u212a", "T5"]
    texts = [
        f"{before}{d[:2]}{g}{d[2:4]}{g}{d[4:]}{g}{sign}{g}308{g}{check}"
        for before, d, g, sign, check in itertools.product(
            ["", "x", "9"], digits, gaps, CENTURY_SIGNS + CENTURY_SIGNS.lower() + DASHES, checks
        )
    ]
    exact = [t for t in texts if re.search(PATTERN, t, re.IGNORECASE)]
    assert len(exact) > len(texts) // 2  # the exact pattern itself finds most of them (sanity of the fixture)
    passed = pc.match_substring_regex(pa.array(exact, type=pa.large_string()), CANDIDATE, ignore_case=True)
    assert all(passed.to_pylist()), [t for t, ok in zip(exact, passed.to_pylist()) if not ok]
    # Record ids shaped like codes except for their last digits or the sign are not let through.
    ids = ["AP2023010000001", "PEL-202301-0000001", "9131052-308T", "131052-308T5", "Tili 4000", "2024-08-01"]
    assert not any(pc.match_substring_regex(pa.array(ids), CANDIDATE, ignore_case=True).to_pylist())
