"""Tables by unit behind the indicators: staffing by service area, assessments by unit, access by health station.

Pure functions over the run's (small) operational facts; each returns the rows
of one published table, a total row last, and a `hidden` column marking the
rows that the small-count rule keeps out of print (`disclosure.suppress_small`).
`UNIT_TABLES` maps each source that has a table by unit to its builder; the
warehouse reads the rows of every source whose contract says `by_unit`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from tasks.contracts import settings, structure
from tasks.contracts.vocab import SOURCE_OK
from tasks.goals.disclosure import suppress_small

TOTAL = "Yhteensä"


def _ytd(df: pd.DataFrame, year: int, month: int) -> pd.DataFrame:
    return df[(df["year"] == year) & (df["month"] <= month)]


def _with_total(rows: pd.DataFrame, total: dict) -> pd.DataFrame:
    return pd.concat([rows, pd.DataFrame([total])], ignore_index=True)


def personnel_table(personnel: pd.DataFrame, plan: pd.DataFrame, year: int, month: int) -> pd.DataFrame:
    """Headcount against plan by service area, like table 8 of the plan, with permanent staff turnover.

    Headcount is the report month's; the same month a year earlier is beside
    it. Turnover is the year's permanent leavers over the average permanent
    staff, on a yearly basis (× 12 / months).
    """
    areas = structure().staffed_areas
    now = personnel[(personnel["year"] == year) & (personnel["month"] == month)].set_index("area")
    before = personnel[(personnel["year"] == year - 1) & (personnel["month"] == month)].set_index("area")
    ytd = (
        _ytd(personnel, year, month)
        .groupby("area")
        .agg(leavers=("permanent_leavers", "sum"), permanent_avg=("permanent", "mean"))
    )
    planned = plan[plan["year"] == year].set_index("area")["headcount"] if not plan.empty else pd.Series(dtype=float)
    rows = pd.DataFrame({"area": areas})
    rows["headcount_prev"] = rows["area"].map(before["headcount"]) if not before.empty else np.nan
    rows["headcount"] = rows["area"].map(now["headcount"]) if not now.empty else np.nan
    rows["plan"] = rows["area"].map(planned)
    rows["permanent"] = rows["area"].map(now["permanent"]) if not now.empty else np.nan
    rows["leavers"] = rows["area"].map(ytd["leavers"])
    rows["permanent_avg"] = rows["area"].map(ytd["permanent_avg"])
    for col in ("headcount_prev", "headcount", "plan", "permanent", "leavers", "permanent_avg"):
        rows[col] = pd.to_numeric(rows[col], errors="coerce").astype("float64")
    total = {
        "area": TOTAL,
        **{
            c: rows[c].sum(min_count=len(rows))
            for c in ("headcount_prev", "headcount", "plan", "permanent", "leavers", "permanent_avg")
        },
    }
    out = _with_total(rows, total)
    out["vs_plan"] = out["headcount"] - out["plan"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["turnover"] = out["leavers"] / out["permanent_avg"] * 12 / month * 100
    out["hidden"] = suppress_small(out, ["leavers"], settings().small_count_threshold)
    return out


def assessments_table(assessments: pd.DataFrame, year: int, month: int) -> pd.DataFrame:
    """Completed service-need assessments and those in the statutory time, by unit, year to date."""
    units = pd.DataFrame([(u.name, u.service) for u in structure().assessment_units], columns=["unit", "service"])
    sums = _ytd(assessments, year, month).groupby("unit")[["completed", "on_time"]].sum()
    rows = units.join(sums, on="unit")
    rows[["completed", "on_time"]] = rows[["completed", "on_time"]].astype("float64")
    out = _with_total(
        rows, {"unit": TOTAL, "service": "", "completed": rows["completed"].sum(), "on_time": rows["on_time"].sum()}
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share"] = out["on_time"] / out["completed"] * 100
    out["hidden"] = suppress_small(out, ["completed", "on_time"], settings().small_count_threshold)
    return out


def access_table(access: pd.DataFrame, year: int, month: int) -> pd.DataFrame:
    """Non-urgent doctor's visits and those within 14 days by health station, year to date, with the month's T3."""
    stations = pd.DataFrame({"station": list(structure().health_stations)})
    ytd = _ytd(access, year, month)
    sums = ytd.groupby("station")[["visits", "visits_within_14"]].sum()
    t3 = ytd[ytd["month"] == month].set_index("station")["t3_days"]
    rows = stations.join(sums, on="station")
    rows["t3_days"] = rows["station"].map(t3)
    rows[["visits", "visits_within_14", "t3_days"]] = rows[["visits", "visits_within_14", "t3_days"]].astype("float64")
    total = {
        "station": TOTAL,
        "visits": rows["visits"].sum(),
        "visits_within_14": rows["visits_within_14"].sum(),
        "t3_days": rows["t3_days"].median(),
    }
    out = _with_total(rows, total)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share"] = out["visits_within_14"] / out["visits"] * 100
    out["hidden"] = suppress_small(out, ["visits", "visits_within_14"], settings().small_count_threshold)
    return out


def _personnel(units: dict[str, pd.DataFrame], status: dict[str, str], year: int, month: int) -> pd.DataFrame:
    plan = (
        units["personnel_plan"]
        if status.get("personnel_plan") == SOURCE_OK
        else pd.DataFrame(columns=["year", "area", "headcount"])
    )
    return personnel_table(units["personnel"], plan, year, month)


# The table by unit of each source that has one (personnel's is the staffing section's), by source.
UNIT_TABLES: dict[str, Callable[[dict[str, pd.DataFrame], dict[str, str], int, int], pd.DataFrame]] = {
    "personnel": _personnel,
    "assessments": lambda units, status, year, month: assessments_table(units["assessments"], year, month),
    "access": lambda units, status, year, month: access_table(units["access"], year, month),
}


def unit_tables(
    units: dict[str, pd.DataFrame], status: dict[str, str], year: int, month: int
) -> dict[str, pd.DataFrame]:
    """The tables by unit of every source that has one and could be used."""
    return {
        sid: build(units, status, year, month) for sid, build in UNIT_TABLES.items() if status.get(sid) == SOURCE_OK
    }
