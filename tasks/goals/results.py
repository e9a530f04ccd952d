"""The goals stage's results: every indicator measured and assessed, each goal judged, the tables by unit.

Takes the indicators' aggregates (`formulas.indicator_inputs`), the sources'
statuses, the finances and the run's unit rows; gives `GoalResults`: one row
per indicator (RESULT_COLUMNS), each one's chart data, one row per goal and
the tables by unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from reports import fmt
from tasks.contracts import settings
from tasks.contracts.catalog import Catalog
from tasks.contracts.vocab import SOURCE_MISSING, SOURCE_OK, STATUSES
from tasks.finance.followup import Finance
from tasks.goals.assess import assess, goal_status
from tasks.goals.explain import ActionStatus, IndicatorNote, action_statuses, indicator_notes
from tasks.goals.formulas import FORMULAS
from tasks.goals.measure import Measured, measure
from tasks.goals.spc import control_chart, signals_direction, signals_text
from tasks.goals.unit_tables import unit_tables


@dataclass(frozen=True)
class GoalResults:
    """Indicator results, their charts, goal assessments and the tables by unit (by source)."""

    results: pd.DataFrame
    charts: dict[str, pd.DataFrame]
    goals: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    # The sentence beside each indicator at risk or off target (the controller's, or a draft), by id.
    notes: dict[str, IndicatorNote] = field(default_factory=dict)
    # Every key action with its status.
    actions: list[ActionStatus] = field(default_factory=list)

    def status_counts(self) -> dict[str, int]:
        return status_counts(self.goals)


RESULT_COLUMNS = [
    "id",
    "goal",
    "name",
    "unit",
    "decimals",
    "direction",
    "baseline",
    "baseline_period",
    "baseline_text",
    "target",
    "target_op",
    "target_text",
    "actual",
    "actual_period",
    "forecast",
    "n",
    "suppressed",
    "status",
    "reason",
    "signals",
    "signals_direction",
    "frequency",
    "kind",
    "final",
    "risk_band",
    "deadline_year",
]


def indicator_results(
    cat: Catalog,
    data: dict[str, pd.DataFrame],
    source_status: dict[str, str],
    finance: Finance | None,
    year: int,
    month: int,
    threshold: int | None = None,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every catalog indicator measured and assessed; and each one's chart data.

    Returns one row per indicator (RESULT_COLUMNS) and, per indicator id, its
    series: a control chart for monthly ratio, median and total indicators, the
    plain series for the others. A suppressed actual (fewer observations than
    the threshold) is not published and cannot be assessed.
    """
    threshold = settings().small_count_threshold if threshold is None else threshold
    rows, charts = [], {}
    for ind in cat.indicators:
        status = source_status.get(ind.source, SOURCE_MISSING)
        m = measure(ind, data.get(ind.id), year, month, finance) if status == SOURCE_OK else Measured()
        if ind.count and m.forecast is not None and not fmt.is_missing(m.forecast):
            # A count is a whole number: judged and shown as the reader will read it.
            m.forecast = float(round(m.forecast))
        a = assess(ind, m, status, threshold)
        suppressed = m.n is not None and 0 < m.n < threshold
        kind = FORMULAS[ind.formula].kind
        chart = (
            control_chart(m.series, year)
            # A yearly total is drawn as its running sum against the target: its months are not a process.
            if kind in ("ratio", "values") and ind.frequency == "monthly"
            else m.series
        )
        charts[ind.id] = chart
        baseline = m.baseline if ind.baseline.from_data else ind.baseline.value
        rows.append(
            {
                "id": ind.id,
                "goal": ind.goal,
                "name": ind.name,
                "unit": ind.unit,
                "decimals": ind.decimals,
                "direction": ind.direction,
                "baseline": baseline,
                "baseline_period": ind.baseline.period,
                "baseline_text": ind.baseline.text,
                "target": ind.target.value,
                "target_op": ind.target.op,
                "target_text": ind.target.text,
                "actual": None if suppressed else m.actual,
                "actual_period": m.actual_period or (fmt.period(year, month) if not fmt.is_missing(m.actual) else ""),
                "forecast": None if suppressed else m.forecast,
                "n": m.n,
                "suppressed": suppressed,
                "status": a.status,
                "reason": a.reason,
                "signals": signals_text(chart, year, ind.better),
                "signals_direction": signals_direction(chart, year, ind.better),
                "frequency": ind.frequency,
                "kind": kind,
                "final": m.final,
                "risk_band": ind.risk_band,
                "deadline_year": ind.target.deadline_year,
            }
        )
    return pd.DataFrame(rows, columns=RESULT_COLUMNS), charts


def goal_results(cat: Catalog, results: pd.DataFrame) -> pd.DataFrame:
    """One row per goal: its assessment (every indicator must be met) and its indicators' ids."""
    by_id = results.set_index("id")["status"]
    return pd.DataFrame(
        [
            {
                "id": g.id,
                "name": g.name,
                "binding": g.binding,
                "theme": g.theme,
                "actions": list(g.actions),
                "indicators": list(g.indicators),
                "status": goal_status([by_id[i] for i in g.indicators]),
            }
            for g in cat.goals
        ]
    )


def status_counts(goals: pd.DataFrame) -> dict[str, int]:
    """Binding goals by assessment, in the order of STATUSES (zeros kept)."""
    binding = goals[goals["binding"]]
    return {s: int((binding["status"] == s).sum()) for s in STATUSES}


def goal_results_of_period(
    cat: Catalog,
    inputs: dict[str, pd.DataFrame],
    units: dict[str, pd.DataFrame],
    status: dict[str, str],
    fin: Finance | None,
    year: int,
    month: int,
    explanations: pd.DataFrame | None = None,
    actions: pd.DataFrame | None = None,
) -> GoalResults:
    """The goals section's content: indicator results, their charts and notes, goal assessments, the key actions'
    statuses and the unit tables. `explanations` and `actions` are the controller's commentary, when there is one."""
    results, charts = indicator_results(cat, inputs, status, fin, year, month)
    return GoalResults(
        results,
        charts,
        goal_results(cat, results),
        unit_tables(units, status, year, month),
        indicator_notes(results, charts, year, explanations),
        action_statuses(cat, actions),
    )
