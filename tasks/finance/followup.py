"""Budget follow-up: year-to-date actuals, the year-end forecast and the budget table.

Takes the run's `ReportingData`, the controller's forecast adjustments and
the previous forecast round; gives `Finance`: the forecast per service, the
budget per service, the budget table (services, areas and the sector, each
with TB, actual, TB to date, the mechanical forecast, adjustments, the
forecast, its deviation, the previous round's forecast and last year's
actual of the same months), the actuals by account group, the budget's
cumulative month profile and the council's binding level.

The budget to date (*jaksotettu TB*) spreads each service's TB over the months
as its line was spread last year, the same profile the forecast uses, so the
actual against the budget to date and the forecast against TB tell the same
story.

Forecast method (docs/methods.md): for each service and line (Tulot, Menot),
the year-end forecast is the year-to-date actual plus the remaining months as
the previous year's monthly profile predicts them:

    share    = prev_ytd / prev_total          (last year's share of the year by now)
    forecast = ytd + ytd * (1 - share) / share = ytd / share

so the holiday pay of June, the July dip and December's peak are carried over,
and a service whose level changed (a transfer, a new unit) is projected at its
new level. Where the previous year gives no usable profile (no previous year,
nothing by now last year, or a share outside 5-100 %), the year-to-date is
extrapolated linearly. The method used is kept per row. In December the
forecast is the actual.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.contracts import accounts, settings, sources, structure
from tasks.contracts.vocab import BUDGET_LINES, EXPENSES, MARGIN, REVENUE
from tasks.warehouse.read import ReportingData

KEYS = ["area", "service", "line"]


@dataclass(frozen=True)
class Finance:
    """The budget follow-up of a period (euros, report sign)."""

    # Per area, service and line: ytd, previous year's ytd and total, the year's share by now, forecast and method.
    forecast: pd.DataFrame
    # TB per area, service and line.
    budget: pd.DataFrame
    # Every service, area and the sector (`level`) per line: TB, actual (`ytd`), actual-%, TB to date,
    # the mechanical forecast, adjustments, the forecast, deviation € and %, the previous round's forecast
    # and last year's actual of the same months (`prev_ytd`).
    table: pd.DataFrame
    # The sector's operating margin per month: cumulative actual and the budget's cumulative profile.
    profile: pd.DataFrame
    # The council's binding level of the sector's operating margin.
    binding_level: float | None
    # How many rows each forecast method gave.
    methods: pd.Series
    # Actuals by account group of this year and of last year's same months, per area and service.
    groups: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    # The controller's forecast adjustments (area, service, line, amount in €, reason).
    adjustments: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)
    # Which forecast the `previous_forecast` column is (`2. toteutumisennuste`), if any.
    previous_round: str | None = None

    def sector_margin(self) -> pd.Series | None:
        """The sector's operating-margin row of the table (None when the table has none)."""
        return sector_margin(self.table)


def sector_margin(table: pd.DataFrame) -> pd.Series | None:
    """The sector's operating-margin row of a budget table, or None."""
    rows = table[table["level"].eq("sector") & table["line"].eq(MARGIN)] if len(table) else table
    return rows.iloc[0] if len(rows) else None


def area_margins(table: pd.DataFrame) -> pd.DataFrame:
    """The service areas' operating-margin rows, by area, with `over`: the forecast exceeds the area's TB.

    Over budget as the table shows it: an overrun that rounds to 0 thousand euros is not one.
    """
    rows = table[table["line"].eq(MARGIN) & table["level"].eq("area")].set_index("area")
    return rows.assign(over=rows["deviation"].div(1000).round().lt(0))


def service_forecast(monthly: pd.DataFrame, year: int, month: int) -> pd.DataFrame:
    """Per area, service and line: ytd, previous year's ytd and total, forecast (all €)."""
    m = monthly.assign(eur=monthly["cents"] / 100)
    cur = m[(m["year"] == year) & (m["month"] <= month)].groupby(KEYS)["eur"].sum().rename("ytd")
    prev = m[m["year"] == year - 1]
    prev_ytd = prev[prev["month"] <= month].groupby(KEYS)["eur"].sum().rename("prev_ytd")
    prev_total = prev.groupby(KEYS)["eur"].sum().rename("prev_total")
    df = pd.concat([cur, prev_ytd, prev_total], axis=1).fillna(0.0).reset_index()
    with np.errstate(divide="ignore", invalid="ignore"):
        share = df["prev_ytd"] / df["prev_total"]
    usable = df["prev_total"].ne(0) & share.between(0.05, 1.0)
    # The year's share reached by now: last year's profile, else a linear year; all of it in December.
    df["share"] = np.select([month >= 12, usable], [1.0, share.where(usable, 1.0)], default=month / 12)
    df["forecast"] = df["ytd"] / df["share"]
    df["method"] = np.select(
        [month >= 12, usable], ["toteuma", "edellisen vuoden kuukausiprofiili"], default="lineaarinen"
    )
    return df


def with_margin(df: pd.DataFrame, value_cols: list[str]) -> pd.DataFrame:
    """Add Toimintakate rows (Tulot + Menot) for every area and service."""
    margin = df.groupby(["area", "service"], as_index=False)[value_cols].sum(min_count=1)
    margin["line"] = MARGIN
    return pd.concat([df, margin], ignore_index=True)


def budget_by_service(result_budget: pd.DataFrame, council_budget: pd.DataFrame, year: int) -> pd.DataFrame:
    """TB per area, service and line in €, for every unit of the structure.

    Areas that are their own single service take the area's total rows; areas
    whose budget is the council's (HUS) take their budget item's TA lines.
    """
    st = structure()
    rb = result_budget
    council, sheet = sources()["council_budget"], sources()["result_budget"]
    rows = []
    for area in st.areas:
        if area.budget_from_council:
            ta = council_budget[
                (council_budget["item"] == area.budget_item)
                & (council_budget["version"] == settings().council_version_of(year))
            ]
            for line, ta_line in zip(BUDGET_LINES, council.lines):
                v = ta.loc[ta["line"] == ta_line, "amount"]
                rows.append(
                    (area.name, area.services[0].name, line, council.to_euros(float(v.sum())) if len(v) else np.nan)
                )
            continue
        own = st.has_own_services(area)
        for s in area.services:
            part = rb[(rb["area"] == area.name) & (rb["service"] == (s.name if own else ""))]
            for line in BUDGET_LINES:
                v = part.loc[part["line"] == line, "tb"]
                rows.append((area.name, s.name, line, sheet.to_euros(float(v.iloc[0])) if len(v) else np.nan))
    return pd.DataFrame(rows, columns=["area", "service", "line", "tb"])


VALUES = ["tb", "ytd", "tb_to_date", "mechanical", "adjustment", "forecast", "prev_ytd"]


def _adjustments_by_line(adjustments: pd.DataFrame | None) -> pd.DataFrame:
    if adjustments is None or adjustments.empty:
        return pd.DataFrame(columns=[*KEYS, "adjustment"])
    return adjustments.groupby(KEYS, as_index=False)["amount"].sum().rename(columns={"amount": "adjustment"})


def budget_table(
    forecast: pd.DataFrame,
    budget: pd.DataFrame,
    month: int,
    adjustments: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """TB, actual, TB to date, forecast (mechanical, adjusted) and deviation for every service, area and the sector.

    Deviation is forecast − TB in the report's sign, so a positive deviation of
    the operating margin is an underrun (better than budget). `adjustments` (€
    per area, service and line) move the mechanical forecast; `previous` gives
    each row's forecast of the previous round (`area`, `service`, `line`,
    `level`, `forecast`).
    """
    fc = forecast[[*KEYS, "ytd", "prev_ytd", "forecast", "share"]].rename(columns={"forecast": "mechanical"})
    df = budget.merge(fc, on=KEYS, how="outer").merge(_adjustments_by_line(adjustments), on=KEYS, how="left")
    share = df["share"].fillna(1.0 if month >= 12 else month / 12)
    df["tb_to_date"] = df["tb"] * share
    df["forecast"] = df["mechanical"] + df["adjustment"].fillna(0.0)
    # The margin's own TB is the budget's stated figure; every other margin value is revenues + expenses.
    lines = df[df["line"].ne(MARGIN)]
    margin_tb = df.loc[df["line"].eq(MARGIN), [*KEYS, "tb"]]
    summed = [v for v in VALUES if v != "tb"]
    df = with_margin(lines[[*KEYS, *VALUES]], summed)
    df = df.merge(margin_tb.rename(columns={"tb": "margin_tb"}), on=KEYS, how="left")
    df["tb"] = df["tb"].where(df["line"].ne(MARGIN), df.pop("margin_tb"))
    df[VALUES] = df[VALUES].astype("float64")
    df["level"] = "service"
    areas = df.groupby(["area", "line"], as_index=False)[VALUES].sum(min_count=1).assign(service="", level="area")
    sector = df.groupby(["line"], as_index=False)[VALUES].sum(min_count=1).assign(area="", service="", level="sector")
    out = pd.concat([df, areas, sector], ignore_index=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ytd_pct"] = (out["ytd"] / out["tb"] * 100).where(out["tb"].fillna(0).ne(0))
        out["deviation"] = out["forecast"] - out["tb"]
        out["deviation_pct"] = (out["deviation"] / out["tb"].abs() * 100).where(out["tb"].fillna(0).ne(0))
    if previous is not None and not previous.empty:
        prev = previous[["area", "service", "line", "level", "forecast"]].rename(
            columns={"forecast": "previous_forecast"}
        )
        out = out.merge(prev, on=["area", "service", "line", "level"], how="left")
    else:
        out["previous_forecast"] = np.nan
    order_area = {a.name: i for i, a in enumerate(structure().areas)}
    order_service = {s.name: i for i, s in enumerate(structure().services)}
    out["_a"] = out["area"].map(order_area).fillna(len(order_area))
    out["_s"] = out["service"].map(order_service).fillna(-1)
    out["_l"] = out["line"].map({line: i for i, line in enumerate(BUDGET_LINES)})
    out = out.sort_values(["_a", "_s", "_l"]).drop(columns=["_a", "_s", "_l"]).reset_index(drop=True)
    return out


def account_groups(by_group: pd.DataFrame, year: int, month: int) -> pd.DataFrame:
    """Actuals by account group (the chart's names) per area and service: this year's to date (`ytd`) and last
    year's same months (`prev_ytd`), in euros, report sign."""
    names = {g.prefix: g.name for g in accounts().groups}
    df = by_group[by_group["month"] <= month].assign(
        group=lambda d: d["prefix"].map(names), eur=lambda d: d["cents"] / 100
    )
    df = df.dropna(subset=["group"])
    keys = ["area", "service", "line", "group"]
    cur = df[df["year"] == year].groupby(keys)["eur"].sum().rename("ytd")
    prev = df[df["year"] == year - 1].groupby(keys)["eur"].sum().rename("prev_ytd")
    return pd.concat([cur, prev], axis=1).fillna(0.0).reset_index()


def cumulative_profile(monthly: pd.DataFrame, budget_margin: float, year: int, month: int) -> pd.DataFrame:
    """Sector operating margin per month: cumulative actual and the budget's cumulative profile (€).

    The budget profile spreads the sector's TB over the months as the previous
    year's actuals were spread (linear where there is no previous year).
    """
    m = monthly[monthly["line"].isin([REVENUE, EXPENSES])]
    by_month = m.groupby(["year", "month"])["cents"].sum() / 100
    prev = (
        by_month.get(year - 1, pd.Series(dtype=float)).reindex(range(1, 13))
        if (year - 1) in by_month.index.get_level_values(0)
        else None
    )
    share = (
        (prev / prev.sum()).to_numpy()
        if prev is not None and prev.notna().all() and prev.sum() != 0
        else np.full(12, 1 / 12)
    )
    cur = (
        by_month.get(year, pd.Series(dtype=float)).reindex(range(1, 13))
        if year in by_month.index.get_level_values(0)
        else pd.Series(np.nan, index=range(1, 13))
    )
    actual = cur.cumsum().where(cur.index <= month)
    return pd.DataFrame(
        {"month": range(1, 13), "actual": actual.to_numpy(), "budget": np.cumsum(share) * budget_margin}
    )


def follow_up(
    data: ReportingData,
    year: int,
    month: int,
    adjustments: pd.DataFrame | None = None,
    previous: pd.DataFrame | None = None,
    previous_round: str | None = None,
) -> Finance:
    """The budget follow-up of the period: forecast per service, the budget table, the actuals by account group,
    the cumulative profile and the binding level; the controller's adjustments applied, the previous round beside.
    """
    monthly, rb, cb = data.monthly, data.result_budget, data.council_budget
    forecast = service_forecast(monthly, year, month)
    budget = budget_by_service(rb, cb, year)
    table = budget_table(forecast, budget, month, adjustments, previous)
    sector = sector_margin(table)
    profile = cumulative_profile(monthly, float(sector["tb"]) if sector is not None else float("nan"), year, month)
    version = settings().council_version_of(year)
    binding = (
        cb.loc[cb["binding"].astype(bool) & cb["version"].eq(version), "amount"]
        if not cb.empty
        else pd.Series(dtype=float)
    )
    return Finance(
        forecast=forecast,
        budget=budget,
        table=table,
        profile=profile,
        binding_level=sources()["council_budget"].to_euros(float(binding.iloc[0])) if len(binding) else None,
        methods=forecast["method"].value_counts().sort_index(),
        groups=account_groups(data.by_group, year, month),
        adjustments=adjustments if adjustments is not None else pd.DataFrame(columns=[*KEYS, "amount", "reason"]),
        previous_round=previous_round if previous is not None and not previous.empty else None,
    )
