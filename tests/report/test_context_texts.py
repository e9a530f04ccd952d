"""The report's sentences on goals and indicators: numerals in words, decimals that tell, the risk band, the level."""

import pandas as pd
import pytest

from tasks.contracts.catalog import catalog
from tasks.contracts.vocab import MARGIN
from tasks.finance.followup import Finance
from tasks.goals.measure import LEVEL_MONTHS
from tasks.ingest.commentary import OK, Commentary
from tasks.report.context import ReportInputs, data_as_of, decimals_to_tell, decision_context, goal_sentence, level_note


@pytest.mark.parametrize(
    ("counts", "sentence"),
    [
        (
            {"toteutuu": 1, "riski": 0, "ei toteudu": 3, "ei arvioitavissa": 0},
            "Neljästä sitovasta toiminnan tavoitteesta yhden arvioidaan toteutuvan ja kolmen jäävän toteutumatta.",
        ),
        ({"toteutuu": 4}, "Kaikkien neljän sitovan toiminnan tavoitteen arvioidaan toteutuvan."),
        ({"ei toteudu": 1}, "Sitovan toiminnan tavoitteen arvioidaan jäävän toteutumatta."),
        (
            {"toteutuu": 2, "riski": 1, "ei toteudu": 1},
            "Neljästä sitovasta toiminnan tavoitteesta kahden arvioidaan toteutuvan, yhden olevan riskissä ja yhden "
            "jäävän toteutumatta.",
        ),
        (
            {"toteutuu": 2, "ei arvioitavissa": 1},
            "Kolmesta sitovasta toiminnan tavoitteesta kahden arvioidaan toteutuvan. Yhtä tavoitetta ei voida vielä "
            "arvioida.",
        ),
        ({"ei arvioitavissa": 2}, "Kahta sitovaa toiminnan tavoitetta ei voida vielä arvioida."),
        ({"toteutuu": 12}, "Kaikkien 12 sitovan toiminnan tavoitteen arvioidaan toteutuvan."),
        ({}, ""),
    ],
)
def test_the_goal_sentence_counts_in_words_and_in_the_right_case(counts, sentence):
    assert goal_sentence(counts) == sentence


@pytest.mark.parametrize(
    ("value", "target", "decimals", "told"),
    [
        (0.1477, 0.15, 2, 3),  # 0,15 against "alle 0,15" would contradict "toteutuu": 0,148
        (0.1454, 0.15, 2, 3),  # 0,145
        (0.1499, 0.15, 2, 4),  # 0,1499: as far as it takes
        (0.12, 0.15, 2, 2),
        (0.15, 0.15, 2, 2),  # equal is told as it is
        (None, 0.15, 2, 2),
    ],
)
def test_as_many_decimals_as_the_comparison_with_the_target_needs(value, target, decimals, told):
    assert decimals_to_tell(value, target, decimals) == told


def monthly(values: list[float], year: int = 2024) -> pd.DataFrame:
    return pd.DataFrame({"year": year, "month": range(1, len(values) + 1), "value": values})


def t3_row(forecast: float, status: str) -> dict:
    ind = catalog().indicator("t3_odotusaika")
    return {
        "id": ind.id,
        "kind": "ratio",
        "frequency": ind.frequency,
        "final": False,
        "forecast": forecast,
        "direction": ind.direction,
        "decimals": ind.decimals,
        "unit": ind.unit,
        "status": status,
    }


def test_a_forecast_better_than_the_recent_level_is_explained():
    # T3: the year-end forecast 16 vrk while the last three months were 19–20 vrk (target ≤ 14).
    chart = monthly([15, 16, 17, 18, 18, 19, 20, 19])
    note = level_note(t3_row(16, "ei toteudu"), chart, 2024)
    assert LEVEL_MONTHS == 3
    assert note.startswith("Ennuste on viimeisten kolmen kuukauden tasoa (19–20\u00a0vrk) parempi, koska se olettaa")
    assert note.endswith("Jos nykyinen taso jatkuu, tavoite jää saavuttamatta selvemmin.")
    # Judged as met or at risk, the current level would miss the target: that is what the reader must hear.
    assert level_note(t3_row(13, "toteutuu"), chart, 2024).endswith("Jos nykyinen taso jatkuu, tavoite ei toteudu.")
    # A level that meets the target anyway.
    low = monthly([12, 12, 12, 13, 13, 13, 12, 13])
    assert level_note(t3_row(11, "toteutuu"), low, 2024).endswith("Nykyiselläkin tasolla tavoite toteutuisi.")


def test_a_forecast_in_line_with_the_recent_level_needs_no_note():
    chart = monthly([15, 16, 17, 18, 18, 19, 20, 19])
    assert level_note(t3_row(20, "ei toteudu"), chart, 2024) == ""  # not better than the recent months
    assert level_note(t3_row(19, "ei toteudu"), chart, 2024) == ""  # equal to the best of them
    assert level_note(t3_row(16, "ei toteudu"), chart.head(2), 2024) == ""  # too few months to say
    assert level_note({**t3_row(16, "ei toteudu"), "final": True}, chart, 2024) == ""  # the year is over


def test_a_sources_data_are_dated_by_their_newest_period():
    assert data_as_of("2024-08") == "31.8.2024"
    assert data_as_of("2024-02") == "29.2.2024"
    assert data_as_of("2024") == "vuosi 2024"
    assert data_as_of("") == "–"


def test_the_decision_box_shows_each_area_before_and_after_the_proposed_reallocations():
    table = pd.DataFrame(
        {
            "level": ["sector", "area", "area", "area", "area"],
            "area": ["", "A", "B", "C", "D"],
            "line": [MARGIN] * 5,
            "forecast": [-1e6, -1.3e6, -0.5e6, -0.2e6, -0.4e6],
            "deviation": [0.0, -300e3, 500e3, -400.0, 10e3],
        }
    )
    transfers = pd.DataFrame(
        {
            "from_area": ["B", "D"],
            "to_area": ["A", "A"],
            "amount": [200.0, 50.5],  # as typed in the sheet: 1 000 €
            "reason": ["x", "y"],
        }
    )
    commentary = Commentary(OK, sheets={"comment_transfers": transfers})
    empty = pd.DataFrame()
    fin = Finance(empty, empty, table, empty, binding_level=None, methods=pd.Series(dtype=int))
    inp = ReportInputs(2024, 8, "forecast", None, fin, None, [], commentary=commentary)
    d = decision_context(inp)
    # C's 400 € rounds to no overrun in 1 000 €; D is shown because it gives appropriation away.
    assert [a["name"] for a in d["areas_over"]] == ["A"]
    after = {a["name"]: (a["transferred"], a["after"]) for a in d["after_transfers"]}
    assert after == {"A": (250_500.0, -49_500.0), "B": (-200_000.0, 300_000.0), "D": (-50_500.0, -40_500.0)}
    assert [t["reason"] for t in d["transfers"]] == ["x", "y"]
    # Without a workbook there is nothing to move.
    assert decision_context(ReportInputs(2024, 8, "forecast", None, fin, None, []))["transfers"] == []
