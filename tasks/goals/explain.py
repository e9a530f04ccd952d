"""Why an indicator is at risk or will miss its target, and where each key action stands.

An indicator assessed *riski* or *ei toteudu* gets a sentence: the
controller's, from the commentary (`Selitykset`, the `Mittari` column), or a
draft from its figures and trend, marked unreviewed. Each key action of the
catalog gets the status and comment the controller gave it, or *tila ei
tiedossa*.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from reports import fmt
from tasks.contracts.catalog import Catalog
from tasks.contracts.vocab import ACTION_STATUSES, ACTION_UNKNOWN, MISSED, RISK
from tasks.goals.measure import LEVEL_MONTHS


@dataclass(frozen=True)
class IndicatorNote:
    """The sentence beside an indicator at risk: the controller's words or a draft."""

    indicator: str
    text: str
    reviewed: bool


@dataclass(frozen=True)
class ActionStatus:
    """A key action of a goal (numbered from 1, as in the catalog) with its status and comment."""

    goal: str
    number: int
    action: str
    status: str
    comment: str
    reviewed: bool


def _value(v: float | None, row: dict) -> str:
    return fmt.measure(None if v is None or pd.isna(v) else float(v), row["unit"], int(row["decimals"]))


def indicator_draft(row: dict, chart: pd.DataFrame | None, year: int) -> str:
    """A draft sentence for an indicator at risk or off target, from its forecast and the last months' level."""
    parts = []
    target = row.get("target_text") or ""
    if row["kind"] == "budget":
        return ""
    if row["final"] if "final" in row else False:
        parts.append(f"Toteuma {_value(row['actual'], row)} ei saavuta tavoitetta ({target}).")
    elif row.get("forecast") is not None and not pd.isna(row["forecast"]) and row.get("target") is not None:
        gap = abs(float(row["target"]) - float(row["forecast"]))
        parts.append(
            f"Vuoden lopun ennuste {_value(row['forecast'], row)} jää tavoitteesta ({target}) {_value(gap, row)}."
        )
        if row["status"] == RISK:
            parts.append(f"Ero on riskivälin ({_value(row['risk_band'], row)}) sisällä.")
    if chart is not None and len(chart) and row.get("frequency") == "monthly":
        this_year = chart[(chart["year"] == year)].dropna(subset=["value"]).sort_values("month").tail(LEVEL_MONTHS)
        if len(this_year) == LEVEL_MONTHS:
            lo, hi = this_year["value"].min(), this_year["value"].max()
            months = fmt.numeral(LEVEL_MONTHS, "genitive")
            if round(lo, int(row["decimals"])) == round(hi, int(row["decimals"])):
                parts.append(f"Viimeisten {months} kuukauden arvo on {_value(lo, row)}.")
            else:
                low = fmt.number(lo, int(row["decimals"]))
                parts.append(f"Viimeisten {months} kuukauden arvot ovat {low}–{_value(hi, row)}.")
    return " ".join(parts)


def indicator_notes(
    results: pd.DataFrame, charts: dict[str, pd.DataFrame], year: int, controller: pd.DataFrame | None = None
) -> dict[str, IndicatorNote]:
    """A note for every indicator at risk or off target, and for any the controller wrote about."""
    written = {}
    if controller is not None and len(controller):
        rows = controller[controller["indicator"].fillna("").ne("")]
        written = {r.indicator: str(r.text).strip() for r in rows.itertuples() if str(r.text).strip()}
    out = {}
    for row in results.to_dict("records"):
        iid = row["id"]
        if iid in written:
            out[iid] = IndicatorNote(iid, written[iid], True)
        elif row["status"] in (RISK, MISSED):
            draft = indicator_draft(row, charts.get(iid), year)
            if draft:
                out[iid] = IndicatorNote(iid, draft, False)
    return out


def action_statuses(cat: Catalog, controller: pd.DataFrame | None = None) -> list[ActionStatus]:
    """Every key action of the catalog with the controller's status and comment, or *tila ei tiedossa*."""
    given = {}
    if controller is not None and len(controller):
        for r in controller.itertuples():
            status = str(r.status).strip()
            given[(r.goal, int(r.action))] = (status if status in ACTION_STATUSES else "", str(r.comment).strip())
    out = []
    for g in cat.goals:
        for n, action in enumerate(g.actions, start=1):
            status, comment = given.get((g.id, n), ("", ""))
            out.append(ActionStatus(g.id, n, action, status or ACTION_UNKNOWN, comment, bool(status or comment)))
    return out
