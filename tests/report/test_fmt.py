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
    # Running text takes the inessive: "tammi–elokuussa 2024".
    assert fmt.period(2024, 8, "inessive") == "tammi–elokuussa 2024"
    assert fmt.period(2024, 1, "inessive") == "tammikuussa 2024"


def test_a_count_takes_the_partitive_after_every_numeral_but_one():
    assert fmt.count(1, "poikkeama", "poikkeamaa") == "1 poikkeama"
    assert fmt.count(0, "poikkeama", "poikkeamaa") == "0 poikkeamaa"
    assert fmt.count(12_345, "rivi", "riviä") == f"12{NB}345 riviä"


def test_a_settings_number_reads_as_written_in_running_text():
    assert fmt.short(0.2) == "0,2"
    assert fmt.short(72.0) == "72"
    assert fmt.short(1.5) == "1,5"


def test_numbers_below_ten_are_words_in_the_case_the_sentence_needs():
    assert fmt.numeral(8) == "kahdeksan"
    assert fmt.numeral(3, "genitive") == "kolmen"  # viimeisten kolmen kuukauden
    assert fmt.numeral(4, "elative") == "neljästä"  # neljästä tavoitteesta
    assert fmt.numeral(1, "partitive") == "yhtä"
    assert fmt.numeral(0) == "nolla"
    assert fmt.numeral(10) == "10" and fmt.numeral(12_345, "genitive") == f"12{NB}345"
    assert fmt.numeral(2.5) == fmt.number(2.5)  # not a count: digits


def test_month_abbreviations_cannot_be_misread():
    assert [fmt.month_abbr(m) for m in (1, 3, 5, 11, 12)] == ["tammi", "maalis", "touko", "marras", "joulu"]
    # Every month's short form is its own: no two alike, none the start of another (mar/marras).
    forms = [fmt.month_abbr(m) for m in range(1, 13)]
    assert len(set(forms)) == 12
    assert not [(a, b) for a in forms for b in forms if a != b and b.startswith(a)]
