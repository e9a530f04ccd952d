"""Measuring an indicator: the year-to-date actual, the year-end forecast and the monthly series.

Pure pandas over a formula's aggregates (docs/indicators.md gives each kind's
method); the budget indicator measures the finances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from reports import fmt
from tasks.contracts.catalog import Indicator
from tasks.finance.followup import Finance
from tasks.goals.formulas import FORMULAS, scale_of

# Points of the current level when a ratio or median is carried to the year end.
LEVEL_MONTHS = 3


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
    return Measured(
        actual, forecast, actual, actual_period=str(last_year), final=last_year >= deadline_year, series=series
    )


def measure_manual(df: pd.DataFrame, year: int, month: int) -> Measured:
    """The latest reported value of the year and the controller's own forecast (or the value)."""
    series = df.assign(n=np.nan)[["year", "month", "value", "n"]]
    cur = df[(df["year"] == year) & (df["month"] <= month)].sort_values("month")
    if cur.empty:
        return Measured(series=series)
    last = cur.iloc[-1]
    forecast = last["forecast"] if not fmt.is_missing(last.get("forecast")) else last["value"]
    return Measured(float(last["value"]), float(forecast), None, series=series)


def measure_budget(finance: Finance | None, year: int, month: int) -> Measured:
    """The operating margin against the budget, in millions of euros (positive: better than budget).

    Actual: the year-to-date margin against the budget's cumulative profile by
    now; forecast: the year-end forecast against the council's binding level.
    """
    s = finance.sector_margin() if finance is not None else None
    if s is None or fmt.is_missing(s["ytd"]):
        return Measured()
    profile, binding = finance.profile, finance.binding_level
    budget_now = profile.loc[profile["month"] == month, "budget"]
    actual = (
        (s["ytd"] - float(budget_now.iloc[0])) / 1e6
        if len(budget_now) and not fmt.is_missing(float(budget_now.iloc[0]))
        else None
    )
    forecast = (s["forecast"] - binding) / 1e6 if binding is not None else None
    series = profile.dropna(subset=["actual"]).assign(
        year=year, value=lambda d: (d["actual"] - d["budget"]) / 1e6, n=np.nan
    )
    return Measured(actual, forecast, None, final=month >= 12, series=series[["year", "month", "value", "n"]])


def measure(
    ind: Indicator, data: pd.DataFrame | None, year: int, month: int, finance: Finance | None = None
) -> Measured:
    """Actual, forecast and series of one indicator from its aggregates (pure)."""
    kind = FORMULAS[ind.formula].kind
    if kind == "budget":
        m = measure_budget(finance, year, month)
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
    return replace(ind, baseline=replace(ind.baseline, from_data=None))
