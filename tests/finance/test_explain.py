"""The drafts' Finnish at its edges: one group or many, up or down, nothing to say, revenues."""

from __future__ import annotations

import pandas as pd

from tasks.finance import explain as ex

NB = "\u00a0"


def groups(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["line", "group", "ytd", "prev_ytd"])


def test_the_deviation_says_how_much_and_which_way():
    assert (
        ex.deviation_sentence(-3_040_000, -2.13)
        == f"Toimintakatteen ennuste on 3,0{NB}milj.{NB}euroa (2,1{NB}%) tulosbudjettia heikompi."
    )
    assert (
        ex.deviation_sentence(12_400, 0.4)
        == f"Toimintakatteen ennuste on 12{NB}000{NB}euroa (0,4{NB}%) tulosbudjettia parempi."
    )
    assert ex.deviation_sentence(0.0, 0.0) == "Toimintakatteen ennuste vastaa tulosbudjettia."


def test_one_line_or_both_and_the_right_verb_for_each():
    # Expenses are negative: a negative deviation of expenses is an overrun.
    assert ex.lines_sentence(None, -4_200_000) == f"Menojen ennuste ylittää tulosbudjetin 4,2{NB}milj.{NB}eurolla."
    both = ex.lines_sentence(-300_000, -4_200_000)
    assert both == (
        f"Menojen ennuste ylittää tulosbudjetin 4,2{NB}milj.{NB}eurolla ja tulojen ennuste alittaa sen "
        f"0,3{NB}milj.{NB}eurolla."
    )
    assert ex.lines_sentence(260_000, 1_000_000) == (
        f"Menojen ennuste alittaa tulosbudjetin 1,0{NB}milj.{NB}eurolla ja tulojen ennuste ylittää sen "
        f"0,3{NB}milj.{NB}eurolla."
    )
    assert ex.lines_sentence(10.0, -20.0) == ""  # too small to mention


def test_to_date_against_the_budget_profile_in_the_inessive():
    assert ex.to_date_sentence(-10_000_000, -8_000_000, 2024, 8) == (
        f"Tammi–elokuussa 2024 toteuma on 2,0{NB}milj.{NB}euroa jaksotettua tulosbudjettia heikompi."
    )
    assert ex.to_date_sentence(-1_000, -1_000, 2024, 1) == "Tammikuussa 2024 toteuma vastaa jaksotettua tulosbudjettia."


def test_one_driver_is_a_sentence_of_its_own():
    g = groups(
        ("Menot", "Palvelujen ostot", -28_900_000.0, -25_800_000.0), ("Menot", "Henkilöstökulut", -10.0e6, -10.0e6)
    )
    assert ex.drivers_sentence(g, -3_000_000, 2024, 8, 3) == (
        f"Palvelujen ostot ovat tammi–elokuussa 3,1{NB}milj.{NB}euroa (12{NB}%) edellisvuotta suuremmat."
    )


def test_many_drivers_are_listed_with_their_own_direction_revenues_included():
    g = groups(
        ("Menot", "Palvelujen ostot", -28_900_000.0, -25_800_000.0),
        ("Menot", "Henkilöstökulut", -40_800_000.0, -40_000_000.0),
        ("Tulot", "Maksutuotot", 3_800_000.0, 4_000_000.0),
        ("Menot", "Vuokrat", -1_000_000.0, -1_200_000.0),  # fell: to the good, not a driver of an overrun
    )
    assert ex.drivers_sentence(g, -3_000_000, 2024, 8, 3) == (
        f"Palvelujen ostot ovat tammi–elokuussa 3,1{NB}milj.{NB}euroa (12{NB}%) edellisvuotta suuremmat, "
        f"henkilöstökulut 0,8{NB}milj.{NB}euroa (2,0{NB}%) suuremmat ja maksutuotot 0,2{NB}milj.{NB}euroa "
        f"(5,0{NB}%) pienemmät."
    )
    # An underrun names what improved the margin.
    assert ex.drivers_sentence(g, 500_000, 2024, 8, 3) == (
        f"Vuokrat ovat tammi–elokuussa 0,2{NB}milj.{NB}euroa (17{NB}%) edellisvuotta pienemmät."
    )


def test_no_driver_and_no_previous_year_are_said_plainly():
    flat = groups(("Menot", "Henkilöstökulut", -10.0e6, -10.0e6))
    assert ex.drivers_sentence(flat, -2_000_000, 2024, 8, 3) == (
        "Tiliryhmät ovat tammi–elokuussa edellisvuoden tasolla tai sitä paremmat, joten poikkeama johtuu "
        "tulosbudjetin mitoituksesta."
    )
    new = groups(("Menot", "Henkilöstökulut", -10.0e6, 0.0))
    assert (
        ex.drivers_sentence(new, -2_000_000, 2024, 8, 3)
        == "Edellisen vuoden vertailutietoa samoilta kuukausilta ei ole."
    )
    assert "edellisvuonna ei kirjauksia" in ex.drivers_sentence(
        groups(("Menot", "Avustukset", -500_000.0, 0.0), ("Menot", "Henkilöstökulut", -10.0e6, -10.0e6)),
        -2_000_000,
        2024,
        8,
        3,
    )


def margins(*rows) -> pd.DataFrame:
    """Operating-margin rows of a budget table: (level, area, service, deviation €, deviation %)."""
    df = pd.DataFrame(rows, columns=["level", "area", "service", "deviation", "deviation_pct"])
    return df.assign(line="Toimintakate")


PERHE, HUS = "Perhe- ja sosiaalipalvelut", "HUS-yhtymä"


def test_a_subject_needs_words_from_a_million_or_two_percent_either_way():
    from tasks.contracts import settings

    eur, pct = settings().explanation_threshold_eur, settings().explanation_threshold_pct
    table = margins(
        ("sector", "", "", -eur, -0.1),  # exactly the euro threshold
        ("area", PERHE, "", eur - 1, pct - 0.01),  # just under both
        ("service", PERHE, "Vammaistyö", 10_000.0, pct),  # small in euros, exactly the share
        ("service", PERHE, "Lastensuojelu- ja perhesosiaalityö", -5_000.0, None),  # no share, small
        ("area", HUS, "", 2 * eur, 0.5),
        ("service", HUS, HUS, 2 * eur, 0.5),  # the area's own single service: the area speaks for it
    )
    chosen = ex.explanation_subjects(table)
    assert list(zip(chosen["level"], chosen["area"], chosen["service"])) == [
        ("sector", "", ""),
        ("service", PERHE, "Vammaistyö"),
        ("area", HUS, ""),
    ]


def test_the_largest_overruns_are_units_not_totals_worst_first_and_at_most_three():
    table = margins(
        ("sector", "", "", -9e6, -1.0),
        ("area", PERHE, "", -5e6, -1.0),  # an area with services is told through its services
        ("service", PERHE, "Vammaistyö", -3e6, -1.0),
        ("service", PERHE, "Lastensuojelu- ja perhesosiaalityö", -400.0, 0.0),  # rounds to no overrun
        ("service", PERHE, "Nuorten palvelut ja aikuissosiaalityö", -1e6, -1.0),
        ("service", PERHE, "Perhe- ja sosiaalipalvelujen yhteiset", 2e6, 1.0),  # under budget
        ("area", HUS, "", -4e6, -1.0),  # its own service: the area is the unit
        ("service", HUS, HUS, -4e6, -1.0),
        ("area", "Hallinto", "", -0.5e6, -1.0),  # an area with services: not a unit either
    )
    assert ex.largest_overruns(table) == [
        (HUS, -4e6),
        ("Vammaistyö", -3e6),
        ("Nuorten palvelut ja aikuissosiaalityö", -1e6),
    ]
    assert len(ex.largest_overruns(table, limit=5)) == 3
