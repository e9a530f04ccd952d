import pandas as pd
import pytest

from tasks.pii import hetu_findings, hetu_rows, mask

# Valid codes built by the checksum rule (fictitious people).
VALID = ["131052-308T", "010101A123N", "311299+999N", "010100B123S", "010190Y123L", "150620F9876"]


def check_char(code: str) -> str:
    return "0123456789ABCDEFHJKLMNPRSTUVWXY"[int(code[:6] + code[7:10]) % 31]


@pytest.mark.parametrize("code", VALID)
def test_valid_codes_of_every_century_sign_are_found(code):
    code = code[:10] + check_char(code)  # make sure the fixture itself is right
    text = pd.Series([f"asiakas {code} soitti", "ei tunnusta", None])
    assert hetu_rows(text).tolist() == [True, False, False]


def test_wrong_check_character_and_impossible_dates_are_not_codes():
    good = "131052-308T"
    assert check_char(good) == "T"
    values = pd.Series(["131052-308U", "321052-308T", "131352-308T", "1310523-308T", "x131052-308Tx", "4000;131052"])
    assert not hetu_rows(values).any()


def test_all_2023_century_signs_are_accepted():
    for sign in "YXWVUBCDEF":
        code = f"010203{sign}123"
        code += check_char(code + "X")
        assert hetu_rows(pd.Series([code])).all(), sign


def test_findings_name_column_and_line_but_never_the_code():
    second = "010100B123" + check_char("010100B123X")
    df = pd.DataFrame({"Selitys": ["ok", "soita 131052-308T", "ok"], "Muu": ["a", "b", second], "_line": [2, 3, 4], "_file": "f.csv"})
    f = hetu_findings(df, ["Selitys", "Muu"])
    assert f[["column", "file", "line"]].values.tolist() == [["Selitys", "f.csv", 3], ["Muu", "f.csv", 4]]
    assert f["masked"].tolist() == [mask("-"), mask("B")]
    assert "131052" not in f.to_csv() and "010100" not in f.to_csv()


def test_mask_codes_hides_every_code_shaped_text():
    from tasks.pii import mask_codes

    # A valid code and one with a wrong check character: both are personal data in a message.
    assert mask_codes("löytyi: 150583-917P, 010101A123X, 1402001") == "löytyi: ******-****, ******A****, 1402001"
