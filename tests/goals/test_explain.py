"""Notes beside indicators at risk, and each key action's status."""

from __future__ import annotations

import pandas as pd

from tasks.contracts.catalog import catalog
from tasks.goals.explain import action_statuses, indicator_draft, indicator_notes

NB = "\u00a0"


def row(**kw) -> dict:
    base = dict(
        id="t3",
        unit="vrk",
        decimals=0,
        status="ei toteudu",
        kind="values",
        final=False,
        target=14.0,
        target_text="alle 14 vrk",
        forecast=16.4,
        actual=17.0,
        risk_band=2.0,
        frequency="monthly",
    )
    return {**base, **kw}


def chart(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"year": 2024, "month": range(1, len(values) + 1), "value": values})


def test_a_forecast_short_of_its_target_and_the_last_months_level():
    text = indicator_draft(row(), chart([15, 16, 17, 19, 20, 19]), 2024)
    assert text == (
        f"Vuoden lopun ennuste 16{NB}vrk jää tavoitteesta (alle 14 vrk) 2{NB}vrk. "
        f"Viimeisten kolmen kuukauden arvot ovat 19–20{NB}vrk."
    )
    risk = indicator_draft(row(status="riski", forecast=15.0), chart([15, 15, 15]), 2024)
    assert risk == (
        f"Vuoden lopun ennuste 15{NB}vrk jää tavoitteesta (alle 14 vrk) 1{NB}vrk. Ero on riskivälin "
        f"(2{NB}vrk) sisällä. "
        f"Viimeisten kolmen kuukauden arvo on 15{NB}vrk."
    )


def test_a_judged_actual_says_it_missed():
    assert indicator_draft(row(final=True, actual=724.0, unit="henkilöä", target_text="alle 599"), None, 2024) == (
        f"Toteuma 724{NB}henkilöä ei saavuta tavoitetta (alle 599)."
    )


def test_the_controllers_note_wins_and_met_indicators_get_none():
    results = pd.DataFrame([row(id="a"), row(id="b", status="toteutuu"), row(id="c", status="toteutuu")])
    controller = pd.DataFrame({"indicator": ["a", "c", ""], "text": ["Lääkärivaje jatkuu.", "Hyvä kehitys.", "x"]})
    notes = indicator_notes(results, {}, 2024, controller)
    assert (notes["a"].text, notes["a"].reviewed) == ("Lääkärivaje jatkuu.", True)
    assert "b" not in notes and notes["c"].text == "Hyvä kehitys."
    drafted = indicator_notes(results, {}, 2024)
    assert not drafted["a"].reviewed and drafted["a"].text.startswith("Vuoden lopun ennuste")


def test_every_action_has_a_status_unknown_without_the_controllers_word():
    cat = catalog()
    given = pd.DataFrame(
        {"goal": ["vetovoima"], "action": [2], "status": ["viivästynyt"], "comment": ["Järjestelmä myöhässä."]}
    )
    actions = action_statuses(cat, given)
    assert len(actions) == sum(len(g.actions) for g in cat.goals)
    by = {(a.goal, a.number): a for a in actions}
    assert (by[("vetovoima", 2)].status, by[("vetovoima", 2)].comment, by[("vetovoima", 2)].reviewed) == (
        "viivästynyt",
        "Järjestelmä myöhässä.",
        True,
    )
    assert (by[("vetovoima", 1)].status, by[("vetovoima", 1)].reviewed) == ("tila ei tiedossa", False)
