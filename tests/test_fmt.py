import datetime as dt

from reports import fmt

NB = "\u00a0"


def test_thousands_use_no_break_space_and_true_minus():
    assert fmt.thousands(-2_691_055_000) == f"\u22122{NB}691{NB}055"
    assert fmt.number(1234.56, 1) == f"1{NB}234,6"


def test_value_rounding_to_zero_has_no_sign():
    assert fmt.number(-0.004, 2) == "0,00"
    assert fmt.thousands(-400) == "0"


def test_percent_and_millions():
    assert fmt.pct(4.56) == f"4,6{NB}%"
    assert fmt.pct(-178.0) == f"\u2212178,0{NB}%"
    assert fmt.millions(-2_691_055_000) == f"\u22122{NB}691,1{NB}milj.{NB}euroa"


def test_missing_values_show_a_dash():
    assert fmt.pct(None) == fmt.MISSING
    assert fmt.thousands(float("nan")) == fmt.MISSING


def test_dates_and_periods_in_finnish():
    assert fmt.date(dt.date(2024, 8, 31)) == "31.8.2024"
    assert fmt.period(2024, 8) == "tammi–elokuu 2024"
    assert fmt.period(2024, 1) == "tammikuu 2024"
    assert fmt.period(2024, 12) == "tammi–joulukuu 2024"
    assert fmt.month_end(2024, 2) == dt.date(2024, 2, 29)
