import pandas as pd
import pytest

from tasks.contracts import structure
from tasks.goals.unit_tables import access_table, assessments_table, personnel_table


def test_personnel_against_plan_and_yearly_turnover():
    areas = [a.name for a in structure().areas if a.has_staff]
    rows = []
    for year in (2023, 2024):
        for month in range(1, 5):
            for i, area in enumerate(areas):
                rows.append(
                    {
                        "year": year,
                        "month": month,
                        "area": area,
                        "headcount": 100 + i + year - 2023,
                        "permanent": 80,
                        "permanent_leavers": 2 if area == areas[0] else 0,
                    }
                )
    plan = pd.DataFrame({"year": 2024, "area": areas, "headcount": 100})
    t = personnel_table(pd.DataFrame(rows), plan, 2024, 4)
    first = t.iloc[0]
    assert (first["area"], first["headcount_prev"], first["headcount"], first["plan"], first["vs_plan"]) == (
        areas[0],
        100,
        101,
        100,
        1,
    )
    # Eight leavers in four months over 80 permanent staff: 8 / 80 × 12 / 4 = 30 % a year.
    assert first["turnover"] == pytest.approx(30.0)
    total = t.iloc[-1]
    assert total["area"] == "Yhteensä" and total["plan"] == 100 * len(areas) and total["leavers"] == 8
    assert not t["hidden"].any()


def test_a_unit_with_few_assessments_is_hidden_with_one_more():
    units = [u.name for u in structure().assessment_units]
    rows = [
        {
            "year": 2024,
            "month": 1,
            "unit": u,
            "completed": 3 if u == units[4] else 50 + i,
            "on_time": 3 if u == units[4] else 48,
        }
        for i, u in enumerate(units)
    ]
    t = assessments_table(pd.DataFrame(rows), 2024, 1)
    hidden = t.loc[t["hidden"], "unit"].tolist()
    # The small unit, and the smallest other so that it cannot be recovered from the total.
    assert hidden == [units[0], units[4]]
    assert t.iloc[-1]["completed"] == sum(r["completed"] for r in rows)
    assert t.iloc[-1]["share"] == pytest.approx(
        sum(r["on_time"] for r in rows) / sum(r["completed"] for r in rows) * 100
    )


def test_access_by_station_sums_the_year_and_shows_the_months_waiting_time():
    stations = list(structure().health_stations)[:2]
    rows = [
        {"year": 2024, "month": m, "station": s, "t3_days": 10 * m + i, "visits": 100, "visits_within_14": 60}
        for m in (1, 2)
        for i, s in enumerate(stations)
    ]
    t = access_table(pd.DataFrame(rows), 2024, 2).set_index("station")
    assert t.loc[stations[0], ["visits", "visits_within_14", "t3_days"]].tolist() == [200, 120, 20]
    assert t.loc[stations[0], "share"] == pytest.approx(60.0)
    assert pd.isna(t.loc[list(structure().health_stations)[5], "visits"])  # a station without rows shows nothing
    assert t.loc["Yhteensä", "t3_days"] == 20.5  # the median of the stations
