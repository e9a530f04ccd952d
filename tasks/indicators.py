"""Indicators stage: the binding goals' indicators from the catalog, with status, forecast and control charts.

Every indicator of `reports/indicators.yaml` names a formula of this module.
A formula builds set-based SQL over the run's batches of its source and
returns monthly aggregates (`num`/`den`, raw values, yearly levels or manual
values, by the formula's kind); the rest is pure pandas:

* `measure` turns the aggregates into the year-to-date actual, the year-end
  forecast and the monthly series (docs/indicators.md gives each kind's method);
* `assess` gives the assessment: *toteutuu*, *riski*, *ei toteudu* or
  *ei arvioitavissa*, with the reason;
* `control_chart` is the individuals (XmR) chart with its signals;
* `goal_status` combines a goal's indicators: a goal is met only if each is.

Adding an indicator is a catalog entry plus, at most, one formula function
registered with `@formula`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Select, case, func, select
from sqlalchemy.engine import Engine

from reports import fmt
from tasks.contracts import settings
from tasks.contracts.catalog import Catalog, Indicator

MET, RISK, MISSED, UNKNOWN = "toteutuu", "riski", "ei toteudu", "ei arvioitavissa"
STATUSES = (MET, RISK, MISSED, UNKNOWN)
# Points of the current level when a ratio or median is carried to the year end.
LEVEL_MONTHS = 3


# --- formulas: SQL over the run's batches -------------------------------------------


@dataclass(frozen=True)
class Formula:
    """How an indicator's data is aggregated in SQL, and what kind of aggregate it gives.

    kinds: `ratio` (monthly num and den: value = Σnum / Σden × scale), `values`
    (raw values per month: medians), `total` (monthly sums), `annual` (one level
    per year), `manual` (values reported by hand), `budget` (from the finances).
    """

    kind: str
    build: Callable[[object, dict], Select] | None
    # The formula's own unit factor (NPS is on a −100…100 scale); the catalog's `scale` wins.
    scale: float = 1.0


FORMULAS: dict[str, Formula] = {}


def formula(kind: str, scale: float = 1.0) -> Callable:
    """Register a formula function under its own name."""

    def register(fn: Callable[[object, dict], Select] | None) -> Callable:
        FORMULAS[fn.__name__] = Formula(kind, fn, scale)
        return fn

    return register


def _where(t, params: dict) -> list:
    """Equality filters of a formula's `where:` parameters."""
    return [t.c[col] == value for col, value in (params.get("where") or {}).items()]


def _monthly(t, num, den, params: dict) -> Select:
    return (
        select(t.c.year, t.c.month, num.label("num"), den.label("den"))
        .where(*_where(t, params))
        .group_by(t.c.year, t.c.month)
    )


@formula("ratio")
def ratio(t, p: dict) -> Select:
    """Σ numerator / Σ denominator (e.g. assessments on time / completed)."""
    return _monthly(t, func.sum(t.c[p["numerator"]]), func.sum(t.c[p["denominator"]]), p)


@formula("ratio")
def share_within(t, p: dict) -> Select:
    """Share of events whose value is at most `limit` (e.g. response within 360 s)."""
    within = func.sum(case((t.c[p["value"]] <= p["limit"], 1), else_=0))
    return _monthly(t, within, func.count(), p)


@formula("ratio")
def mean(t, p: dict) -> Select:
    """Mean of a value over events (e.g. transfer delay in days)."""
    return _monthly(t, func.sum(t.c[p["value"]]), func.count(), p)


@formula("ratio", scale=100)
def nps(t, p: dict) -> Select:
    """Net promoter score: % promoters (9–10) − % detractors (0–6) of the answers."""
    score = t.c[p["score"]]
    net = func.sum(case((score >= 9, 1), (score <= 6, -1), else_=0))
    return _monthly(t, net, func.count(), p)


@formula("ratio")
def weighted_mean(t, p: dict) -> Select:
    """A percentage reported per unit, weighted by the unit's size (e.g. clients)."""
    value, weight = t.c[p["value"]], t.c[p["weight"]]
    return _monthly(t, func.sum(value * weight), func.sum(weight), p)


@formula("values")
def median(t, p: dict) -> Select:
    """Median of the reported values (e.g. T3 of the health stations)."""
    return select(t.c.year, t.c.month, t.c[p["value"]].label("value")).where(*_where(t, p))


@formula("total")
def total(t, p: dict) -> Select:
    """Sum over the year (e.g. tonnes of plastic sorted)."""
    return _monthly(t, func.sum(t.c[p["value"]]), func.count(), p)


@formula("annual")
def year_level(t, p: dict) -> Select:
    """One level per year (e.g. homeless people at the year-end count)."""
    return select(t.c.year, func.sum(t.c[p["value"]]).label("value")).where(*_where(t, p)).group_by(t.c.year)


@formula("manual")
def latest(t, p: dict) -> Select:
    """Values reported by hand: the latest month's value and the controller's forecast."""
    return select(t.c.year, t.c.month, t.c.value, t.c.forecast).where(t.c.indicator == p["indicator"])


FORMULAS["budget_result"] = Formula("budget", None)


def scale_of(ind: Indicator) -> float:
    """The factor from num/den to the indicator's unit: the catalog's `scale` (100 for
    percentages), else the formula's own (100 for NPS)."""
    return float(ind.params.get("scale", FORMULAS[ind.formula].scale))


def indicator_data(engine: Engine, ind: Indicator, batch_ids: list[int]) -> pd.DataFrame:
    """Run the indicator's formula in SQL over the given batches of its source."""
    from tasks.warehouse import FACTS

    f = FORMULAS[ind.formula]
    table = FACTS[ind.source].__table__
    params = {**ind.params, "indicator": ind.id}
    stmt = f.build(table, params).where(table.c.batch_id.in_(batch_ids))
    with engine.connect() as conn:
        res = conn.execute(stmt)
        df = pd.DataFrame(res.all(), columns=list(res.keys()))
    for col in df.columns:
        df[col] = pd.to_numeric(df[col], errors="coerce")
    if f.kind == "ratio" and "den" in df:
        df["den"] = df["den"] * float(ind.params.get("denominator_scale", 1))
    return df


# --- measuring: actual, forecast and series ----------------------------------------


@dataclass
class Measured:
    """What the data says of one indicator for the period."""

    actual: float | None = None
    forecast: float | None = None
    # Observations behind the actual (answers, visits, missions): small counts are suppressed.
    n: float | None = None
    # The period the actual describes, e.g. "tammi–elokuu 2024" or "2023".
    actual_period: str = ""
    # The actual covers the target's deadline (a year-end judgement is possible).
    final: bool = False
    series: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["year", "month", "value", "n"]))
    baseline: float | None = None
    note: str = ""


def _rest_volume(cur: pd.Series, prev: pd.Series, month: int) -> float:
    """Expected volume (denominator) of the months after `month`.

    Last year's same months, scaled by this year's pace against last year's
    same months so far; without last year, this year's monthly average.
    """
    rest = range(month + 1, 13)
    done = cur.reindex(range(1, month + 1)).fillna(0)
    before = prev.reindex(range(1, month + 1)).fillna(0)
    after = prev.reindex(rest).fillna(0)
    if before.sum() > 0 and after.sum() > 0:
        return float(after.sum() * done.sum() / before.sum())
    observed = (cur.reindex(range(1, month + 1)) > 0).sum()
    return float(done.sum() / observed * len(rest)) if observed else 0.0


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def rest_ratio(by: pd.DataFrame, year: int, month: int) -> float:
    """The ratio expected for the months after `month` (num/den, before scaling).

    Last year's rest-of-year ratio against its ratio of the same months so
    far carries the season (summer leavers, winter delays) into this year:
    ratio_ytd × prev_rest / prev_ytd. Where that cannot be used (no complete
    previous year, or ratios that are not positive, as an NPS may be), the
    current level: the ratio of the last three months with data.
    """
    cur = by[(by["year"] == year) & (by["month"] <= month)]
    prev = by[by["year"] == year - 1]
    r_ytd = _ratio(cur["num"].sum(), cur["den"].sum())
    p_ytd = prev[prev["month"] <= month]
    p_rest = prev[prev["month"] > month]
    r_prev_ytd = _ratio(p_ytd["num"].sum(), p_ytd["den"].sum())
    r_prev_rest = _ratio(p_rest["num"].sum(), p_rest["den"].sum())
    if all(not math.isnan(v) and v > 0 for v in (r_ytd, r_prev_ytd, r_prev_rest)):
        return r_ytd * r_prev_rest / r_prev_ytd
    recent = cur.sort_values("month").tail(LEVEL_MONTHS)
    return _ratio(recent["num"].sum(), recent["den"].sum())


def measure_ratio(df: pd.DataFrame, year: int, month: int, scale: float) -> Measured:
    """Year-to-date Σnum/Σden; the rest of the year at the expected ratio (`rest_ratio`) and volume (`_rest_volume`)."""
    by = df.groupby(["year", "month"], as_index=False)[["num", "den"]].sum()
    by = by[by["den"] > 0]
    series = by.assign(value=by["num"] / by["den"] * scale, n=by["den"])[["year", "month", "value", "n"]]
    cur = by[(by["year"] == year) & (by["month"] <= month)]
    if cur.empty:
        return Measured(series=series)
    actual = cur["num"].sum() / cur["den"].sum() * scale
    if month >= 12:
        return Measured(actual, actual, cur["den"].sum(), series=series)
    prev = by[by["year"] == year - 1].set_index("month")["den"]
    rest = _rest_volume(cur.set_index("month")["den"], prev, month)
    forecast = (cur["num"].sum() + rest_ratio(by, year, month) * rest) / (cur["den"].sum() + rest) * scale
    return Measured(actual, forecast, cur["den"].sum(), series=series)


def measure_values(df: pd.DataFrame, year: int, month: int) -> Measured:
    """Median of the year's values; the year's median with the remaining months projected.

    The remaining months are last year's values of those months scaled by
    this year's level against last year's same months (median ratio); without
    last year, the median of the last three months' values.
    """
    df = df.dropna(subset=["value"])
    series = df.groupby(["year", "month"], as_index=False)["value"].agg(value="median", n="size")
    cur = df[(df["year"] == year) & (df["month"] <= month)]
    if cur.empty:
        return Measured(series=series)
    actual = float(cur["value"].median())
    prev = df[df["year"] == year - 1]
    prev_same, prev_rest = prev[prev["month"] <= month], prev[prev["month"] > month]
    if month >= 12:
        forecast = actual
    elif len(prev_same) and len(prev_rest) and prev_same["value"].median() > 0:
        projected = prev_rest["value"] * actual / prev_same["value"].median()
        forecast = float(pd.concat([cur["value"], projected]).median())
    else:
        recent_months = sorted(cur["month"].unique())[-LEVEL_MONTHS:]
        forecast = float(cur.loc[cur["month"].isin(recent_months), "value"].median())
    return Measured(actual, forecast, float(len(cur)), series=series)


def measure_total(df: pd.DataFrame, year: int, month: int) -> Measured:
    """The year's sum; the year end by last year's monthly profile (linear without one)."""
    by = df.groupby(["year", "month"], as_index=False)["num"].sum()
    series = by.rename(columns={"num": "value"}).assign(n=np.nan)
    cur = by[(by["year"] == year) & (by["month"] <= month)]
    if cur.empty:
        return Measured(series=series)
    ytd = float(cur["num"].sum())
    prev = by[by["year"] == year - 1].set_index("month")["num"]
    done = prev.reindex(range(1, month + 1))
    if month >= 12:
        forecast = ytd
    elif done.notna().all() and prev.reindex(range(1, 13)).notna().all() and done.sum() > 0:
        forecast = ytd / (done.sum() / prev.sum())
    else:
        forecast = ytd * 12 / month
    return Measured(ytd, forecast, None, series=series)


def measure_annual(df: pd.DataFrame, year: int, deadline_year: int) -> Measured:
    """The latest published year's level; the deadline year by the linear trend of the last four years."""
    df = df.dropna(subset=["value"]).sort_values("year")
    df = df[df["year"] <= year]
    series = df.assign(month=12, n=df["value"])[["year", "month", "value", "n"]]
    if df.empty:
        return Measured(series=series)
    last = df.iloc[-1]
    actual, last_year = float(last["value"]), int(last["year"])
    if last_year >= deadline_year or len(df) < 2:
        forecast = actual
    else:
        recent = df.tail(4)
        slope, intercept = np.polyfit(recent["year"].astype(float), recent["value"].astype(float), 1)
        forecast = max(float(slope * deadline_year + intercept), 0.0)
    return Measured(actual, forecast, actual, actual_period=str(last_year), final=last_year >= deadline_year, series=series)


def measure_manual(df: pd.DataFrame, year: int, month: int) -> Measured:
    """The latest reported value of the year and the controller's own forecast (or the value)."""
    series = df.assign(n=np.nan)[["year", "month", "value", "n"]]
    cur = df[(df["year"] == year) & (df["month"] <= month)].sort_values("month")
    if cur.empty:
        return Measured(series=series)
    last = cur.iloc[-1]
    forecast = last["forecast"] if not fmt.is_missing(last.get("forecast")) else last["value"]
    return Measured(float(last["value"]), float(forecast), None, series=series)


def measure_budget(finance: dict, year: int, month: int) -> Measured:
    """The operating margin against the budget, in millions of euros (positive: better than budget).

    Actual: the year-to-date margin against the budget's cumulative profile by
    now; forecast: the year-end forecast against the council's binding level.
    """
    table, profile, binding = finance.get("table"), finance.get("profile"), finance.get("binding_level")
    if table is None or table.empty:
        return Measured()
    sector = table[table["level"].eq("sector") & table["line"].eq("Toimintakate")]
    if sector.empty or fmt.is_missing(sector["ytd"].iloc[0]):
        return Measured()
    s = sector.iloc[0]
    budget_now = profile.loc[profile["month"] == month, "budget"]
    actual = (s["ytd"] - float(budget_now.iloc[0])) / 1e6 if len(budget_now) and not fmt.is_missing(float(budget_now.iloc[0])) else None
    forecast = (s["forecast"] - binding * 1000) / 1e6 if binding is not None else None
    series = profile.dropna(subset=["actual"]).assign(year=year, value=lambda d: (d["actual"] - d["budget"]) / 1e6, n=np.nan)
    return Measured(actual, forecast, None, final=month >= 12, series=series[["year", "month", "value", "n"]])


def measure(ind: Indicator, data: pd.DataFrame | None, year: int, month: int, finance: dict | None = None) -> Measured:
    """Actual, forecast and series of one indicator from its aggregates (pure)."""
    kind = FORMULAS[ind.formula].kind
    if kind == "budget":
        m = measure_budget(finance or {}, year, month)
    elif data is None:
        return Measured()
    elif kind == "ratio":
        m = measure_ratio(data, year, month, scale_of(ind))
    elif kind == "values":
        m = measure_values(data, year, month)
    elif kind == "total":
        m = measure_total(data, year, month)
    elif kind == "annual":
        m = measure_annual(data, year, ind.target.deadline_year)
    else:
        m = measure_manual(data, year, month)
    if kind != "annual":
        m.final = (year, month) >= (ind.target.deadline_year, ind.target.deadline_month)
    # Files of a year may hold later months than the report's: they are not shown.
    s = m.series
    m.series = s[(s["year"] < year) | ((s["year"] == year) & (s["month"] <= month))].reset_index(drop=True)
    if ind.baseline.from_data and data is not None and kind != "budget":
        m.baseline = measure(_without_baseline(ind), data, ind.baseline.from_data, 12).actual
    return m


def _without_baseline(ind: Indicator) -> Indicator:
    from dataclasses import replace

    return replace(ind, baseline=replace(ind.baseline, from_data=None))


# --- assessment --------------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    status: str
    reason: str = ""


def assess(ind: Indicator, m: Measured, source_status: str = "ok", threshold: int | None = None) -> Assessment:
    """The assessment of one indicator, by the rules of docs/indicators.md.

    1. A source that is missing or failed its checks: *ei arvioitavissa*.
    2. No target value: *ei arvioitavissa*.
    3. No actual for the period, or fewer observations than the small-count
       threshold: *ei arvioitavissa*.
    4. When the actual covers the target's deadline, the actual is judged:
       meets the target *toteutuu*, otherwise *ei toteudu*.
    5. Before that the year-end forecast is judged: meets the target
       *toteutuu*; short of it by at most the indicator's risk band *riski*;
       further *ei toteudu*.
    """
    from tasks.validate import SOURCE_STATUS_FI

    threshold = settings()["small_count_threshold"] if threshold is None else threshold
    if source_status != "ok":
        return Assessment(UNKNOWN, f"lähde: {SOURCE_STATUS_FI.get(source_status, source_status)}")
    if ind.target.value is None:
        return Assessment(UNKNOWN, "tavoitearvoa ei ole asetettu")
    if fmt.is_missing(m.actual):
        return Assessment(UNKNOWN, "kaudelta ei ole mittaustulosta")
    if m.n is not None and m.n < threshold:
        return Assessment(UNKNOWN, f"alle {threshold} havaintoa")
    if m.final:
        return Assessment(MET if ind.target.met_by(m.actual) else MISSED, "toteuma")
    if fmt.is_missing(m.forecast):
        return Assessment(UNKNOWN, "ennustetta ei voida laskea")
    if ind.target.met_by(m.forecast):
        return Assessment(MET, "ennuste")
    shortfall = (ind.target.value - m.forecast) * ind.better
    return Assessment(RISK if shortfall <= ind.risk_band + 1e-9 else MISSED, "ennuste")


def goal_status(statuses: list[str]) -> str:
    """A goal is met only if every one of its indicators is; one missed makes it missed."""
    if not statuses:
        return UNKNOWN
    for s in (MISSED, RISK, UNKNOWN):
        if s in statuses:
            return s
    return MET


# --- statistical process control ---------------------------------------------------

RUN_LENGTH = 8
# d2 of moving ranges of two: sigma = mean moving range / 1.128.
D2 = 1.128


def control_chart(series: pd.DataFrame, year: int) -> pd.DataFrame:
    """Individuals (XmR) chart of a monthly series, with its signals.

    The centre line and limits come from the baseline period: the months
    before `year` when there are at least eight of them, otherwise every point.
    Limits are the centre ± 3 σ, σ = mean moving range / 1.128. Signals: a
    point beyond a limit (`beyond`) and a run of eight or more successive
    points on one side of the centre (`run`, every point of the run).
    """
    s = series.dropna(subset=["value"]).sort_values(["year", "month"]).reset_index(drop=True)
    out = s.assign(centre=np.nan, ucl=np.nan, lcl=np.nan, beyond=False, run=False)
    if len(s) < 2:
        return out
    base = s[s["year"] < year] if (s["year"] < year).sum() >= RUN_LENGTH else s
    centre = base["value"].mean()
    sigma = base["value"].diff().abs().mean() / D2
    out["centre"], out["ucl"], out["lcl"] = centre, centre + 3 * sigma, centre - 3 * sigma
    out["beyond"] = (s["value"] > out["ucl"] + 1e-12) | (s["value"] < out["lcl"] - 1e-12)
    side = np.sign(s["value"] - centre)
    # A point on the centre line breaks a run; runs are counted by consecutive equal sides.
    block = (side != side.shift()).cumsum()
    length = side.groupby(block).transform("size")
    out["run"] = (side != 0) & (length >= RUN_LENGTH)
    return out


def signals_text(chart: pd.DataFrame, year: int) -> str:
    """Plain Finnish of the chart's signals in the report's year, empty when there are none."""
    from reports.fmt import month_name

    cur = chart[chart["year"] == year]
    texts = []
    beyond = cur[cur["beyond"]]
    if len(beyond):
        last = month_name(int(beyond["month"].iloc[-1]))
        n = len(beyond)
        texts.append(f"arvo ohjausrajojen ulkopuolella {n} kuukautena, viimeksi {last}ssa" if n > 1 else f"arvo ohjausrajojen ulkopuolella {last}ssa")
    if cur["run"].any():
        texts.append(f"vähintään {RUN_LENGTH} peräkkäistä arvoa keskiviivan samalla puolella")
    return "; ".join(texts)


# --- small counts ------------------------------------------------------------------


def suppress_small(df: pd.DataFrame, counts: list[str], threshold: int, total_row: bool = True) -> pd.Series:
    """Rows of a published table whose figures must be hidden (True), by the small-count rule.

    Primary: a row with a count from 1 to `threshold` − 1 in any of `counts`
    (zero identifies no one). Secondary: when the table publishes a total
    (`total_row`: its last row) and exactly one row is hidden, that row could
    be recovered by subtracting the others from the total, so the row with the
    next smallest count is hidden too. A hidden row hides its counts and every
    figure derived from them.
    """
    body = df.iloc[:-1] if total_row else df
    values = body[counts].apply(pd.to_numeric, errors="coerce")
    hidden = ((values > 0) & (values < threshold)).any(axis=1)
    if total_row and hidden.sum() == 1 and (~hidden).any():
        hidden[values.loc[~hidden, counts[0]].idxmin()] = True
    return hidden.reindex(df.index, fill_value=False)


# --- the report's results ------------------------------------------------------------

RESULT_COLUMNS = [
    "id", "goal", "name", "unit", "decimals", "direction", "baseline", "baseline_period", "baseline_text",
    "target", "target_op", "target_text", "actual", "actual_period", "forecast", "n", "suppressed",
    "status", "reason", "signals", "frequency", "kind",
]


def indicator_results(
    cat: Catalog, data: dict[str, pd.DataFrame], source_status: dict[str, str], finance: dict, year: int, month: int,
    threshold: int | None = None,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every catalog indicator measured and assessed; and each one's chart data.

    Returns one row per indicator (RESULT_COLUMNS) and, per indicator id, its
    series: a control chart for monthly ratio, median and total indicators, the
    plain series for the others. A suppressed actual (fewer observations than
    the threshold) is not published and cannot be assessed.
    """
    from reports.fmt import period as period_text

    threshold = settings()["small_count_threshold"] if threshold is None else threshold
    rows, charts = [], {}
    for ind in cat.indicators:
        status = source_status.get(ind.source, "missing")
        m = measure(ind, data.get(ind.id), year, month, finance) if status == "ok" else Measured()
        a = assess(ind, m, status, threshold)
        suppressed = m.n is not None and 0 < m.n < threshold
        kind = FORMULAS[ind.formula].kind
        chart = control_chart(m.series, year) if kind in ("ratio", "values", "total") and ind.frequency == "monthly" else m.series
        charts[ind.id] = chart
        baseline = m.baseline if ind.baseline.from_data else ind.baseline.value
        rows.append({
            "id": ind.id, "goal": ind.goal, "name": ind.name, "unit": ind.unit, "decimals": ind.decimals,
            "direction": ind.direction, "baseline": baseline, "baseline_period": ind.baseline.period,
            "baseline_text": ind.baseline.text, "target": ind.target.value, "target_op": ind.target.op,
            "target_text": ind.target.text,
            "actual": None if suppressed else m.actual,
            "actual_period": m.actual_period or (period_text(year, month) if not fmt.is_missing(m.actual) else ""),
            "forecast": None if suppressed else m.forecast,
            "n": m.n, "suppressed": suppressed, "status": a.status, "reason": a.reason,
            "signals": signals_text(chart, year) if "beyond" in chart else "", "frequency": ind.frequency,
            "kind": kind,
        })
    return pd.DataFrame(rows, columns=RESULT_COLUMNS), charts


def goal_results(cat: Catalog, results: pd.DataFrame) -> pd.DataFrame:
    """One row per goal: its assessment (every indicator must be met) and its indicators' ids."""
    by_id = results.set_index("id")["status"]
    return pd.DataFrame([
        {
            "id": g.id, "name": g.name, "binding": g.binding, "theme": g.theme, "actions": list(g.actions),
            "indicators": list(g.indicators), "status": goal_status([by_id[i] for i in g.indicators]),
        }
        for g in cat.goals
    ])


def status_counts(goals: pd.DataFrame) -> dict[str, int]:
    """Binding goals by assessment, in the order of STATUSES (zeros kept)."""
    binding = goals[goals["binding"]]
    return {s: int((binding["status"] == s).sum()) for s in STATUSES}


def goals_and_tables(data: dict, statuses: list[dict], fin: dict, year: int, month: int) -> dict:
    """The goals section's content: indicator results, their charts, goal assessments and the unit tables."""
    from tasks.contracts.catalog import catalog
    from tasks.unit_tables import access_table, assessments_table, personnel_table

    status = {s["source"]: s["status"] for s in statuses}
    results, charts = indicator_results(catalog(), data["indicator_data"], status, fin, year, month)
    tables = {}
    if status.get("personnel") == "ok":
        plan = data["personnel_plan"] if status.get("personnel_plan") == "ok" else pd.DataFrame(columns=["year", "area", "headcount"])
        tables["personnel"] = personnel_table(data["personnel"], plan, year, month)
    if status.get("assessments") == "ok":
        tables["assessments"] = assessments_table(data["assessments"], year, month)
    if status.get("access") == "ok":
        tables["access"] = access_table(data["access"], year, month)
    return {"results": results, "charts": charts, "goals": goal_results(catalog(), results), "tables": tables}


@task(name="compute-indicators", cache_policy=NO_CACHE)
def compute_indicators(data: dict, statuses: list[dict], fin: dict, year: int, month: int) -> dict:
    return goals_and_tables(data, statuses, fin, year, month)
