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


def test_long_words_get_soft_hyphens_at_finnish_syllable_breaks():
    shown = lambda text: fmt.hyphenable(text).replace(fmt.SOFT_HYPHEN, "-")  # noqa: E731
    assert shown("perusterveydenhoitoon alle 0,15 vrk") == "perus-ter-vey-den-hoi-toon alle 0,15 vrk"
    # a word's opening consonants stay together; three letters at least on either side
    assert shown("strategiakausi") == "stra-te-gia-kausi"
    # short words, numbers and acronyms are left as they are
    assert shown("tuen 98,5 % HYVÄTOIMINTAMALLI") == "tuen 98,5 % HYVÄTOIMINTAMALLI"
    # removing the soft hyphens gives the text back unchanged
    text = "Lastensuojelun ja erityisen tuen palvelutarpeen arvioinnit lakisääteisessä ajassa"
    assert fmt.hyphenable(text).replace(fmt.SOFT_HYPHEN, "") == text
    assert fmt.hyphenable(None) == ""


def test_known_compound_seams_break_between_the_parts():
    shown = lambda text: fmt.hyphenable(text).replace(fmt.SOFT_HYPHEN, "-")  # noqa: E731
    # the syllable rule alone would give talou-sarvion and kaupunkist-rategian
    assert shown("Talousarvion") == "Talous-ar-vion"
    assert shown("Kaupunkistrategian") == "Kau-pun-ki-stra-te-gian"
    assert shown("etäasioinnin") == "etä-a-sioin-nin"
    assert shown("käyttöönotto") == "käyt-töön-otto"


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
