import numpy as np
import pandas as pd
import pytest

from tasks.finance import followup as fc


def monthly(values_by_year, service="Kotihoito", line="Menot"):
    rows = [
        (y, m + 1, "Sairaala-, kuntoutus- ja hoivapalvelut", service, line, int(v * 100), 1)
        for y, vals in values_by_year.items()
        for m, v in enumerate(vals)
    ]
    return pd.DataFrame(rows, columns=["year", "month", "area", "service", "line", "cents", "rows"])


def test_forecast_follows_last_years_profile():
    # Last year: 100 a month, July 50, December 150 (total 1 200). This year 10 % higher so far.
    prev = [100] * 6 + [50, 100, 100, 100, 100, 150]
    cur = [110] * 6 + [55, 110]
    f = fc.service_forecast(monthly({2023: prev, 2024: cur}), 2024, 8)
    row = f.iloc[0]
    assert row["ytd"] == pytest.approx(825)
    # Share of the year by August last year: 750 / 1 200; forecast = 825 / 0.625,
    # i.e. the year-to-date plus last year's remaining 450 at this year's 10 % higher pace.
    assert row["forecast"] == pytest.approx(1320)
    assert row["forecast"] == pytest.approx(825 + 450 * 1.1)
    assert row["method"] == "edellisen vuoden kuukausiprofiili"


def test_forecast_without_previous_year_is_linear():
    f = fc.service_forecast(monthly({2024: [10, 20, 30]}), 2024, 3)
    assert f.iloc[0]["forecast"] == pytest.approx(60 * 12 / 3)
    assert f.iloc[0]["method"] == "lineaarinen"


def test_december_forecast_is_the_actual():
    f = fc.service_forecast(monthly({2023: [1] * 12, 2024: [2] * 12}), 2024, 12)
    assert f.iloc[0]["forecast"] == pytest.approx(24)


def test_previous_year_with_nothing_by_now_falls_back_to_linear():
    prev = [0] * 8 + [100] * 4
    f = fc.service_forecast(monthly({2023: prev, 2024: [10] * 8}), 2024, 8)
    assert f.iloc[0]["method"] == "lineaarinen"
    assert f.iloc[0]["forecast"] == pytest.approx(120)


def test_budget_table_levels_and_deviation_sign():
    f = pd.DataFrame(
        {
            "area": ["A", "A"],
            "service": ["s", "s"],
            "line": ["Tulot", "Menot"],
            "ytd": [60.0, -700.0],
            "prev_ytd": [50.0, -650.0],
            "forecast": [90.0, -1050.0],
            "share": [2 / 3, 2 / 3],
        }
    )
    budget = pd.DataFrame(
        {
            "area": ["A"] * 3,
            "service": ["s"] * 3,
            "line": ["Tulot", "Menot", "Toimintakate"],
            "tb": [100.0, -1000.0, -900.0],
        }
    )
    t = fc.budget_table(f, budget, 8)
    margin = t[(t["line"] == "Toimintakate") & (t["level"] == "sector")].iloc[0]
    assert margin["forecast"] == pytest.approx(-960)
    assert margin["deviation"] == pytest.approx(-60)  # 60 worse than budget
    assert margin["deviation_pct"] == pytest.approx(-60 / 900 * 100)
    assert margin["ytd_pct"] == pytest.approx(640 / 900 * 100)
    assert set(t["level"]) == {"service", "area", "sector"}
    # The budget to date follows the forecast's profile: two thirds of the year by now.
    assert margin["tb_to_date"] == pytest.approx(-600)
    assert margin["prev_ytd"] == pytest.approx(-600)


def two_services() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [("A", "s", "Tulot", 60.0, 90.0), ("A", "s", "Menot", -700.0, -1050.0), ("A", "t", "Menot", -300.0, -450.0)]
    f = pd.DataFrame(rows, columns=["area", "service", "line", "ytd", "forecast"]).assign(prev_ytd=0.0, share=2 / 3)
    budget = pd.DataFrame(
        [
            ("A", "s", "Tulot", 100.0),
            ("A", "s", "Menot", -1000.0),
            ("A", "s", "Toimintakate", -900.0),
            ("A", "t", "Menot", -400.0),
            ("A", "t", "Toimintakate", -400.0),
        ],
        columns=["area", "service", "line", "tb"],
    )
    return f, budget


def test_an_adjustment_moves_exactly_the_line_it_names():
    f, budget = two_services()
    plain = fc.budget_table(f, budget, 8)
    adj = pd.DataFrame(
        [("A", "t", "Menot", 30.0, "palkkasäästö")], columns=["area", "service", "line", "amount", "reason"]
    )
    moved = fc.budget_table(f, budget, 8, adj)
    diff = (
        moved.set_index(["level", "area", "service", "line"])["forecast"]
        - plain.set_index(["level", "area", "service", "line"])["forecast"]
    )
    changed = diff[diff.abs() > 1e-9]
    assert sorted(changed.index) == [
        ("area", "A", "", "Menot"),
        ("area", "A", "", "Toimintakate"),
        ("sector", "", "", "Menot"),
        ("sector", "", "", "Toimintakate"),
        ("service", "A", "t", "Menot"),
        ("service", "A", "t", "Toimintakate"),
    ]
    assert (changed == 30.0).all()
    row = moved[(moved["service"] == "t") & (moved["line"] == "Menot")].iloc[0]
    assert (row["mechanical"], row["adjustment"], row["forecast"]) == (-450.0, 30.0, -420.0)


def test_the_previous_round_stands_beside_each_row():
    f, budget = two_services()
    previous = pd.DataFrame(
        [("service", "A", "t", "Menot", -470.0), ("sector", "", "", "Toimintakate", -1500.0)],
        columns=["level", "area", "service", "line", "forecast"],
    )
    t = fc.budget_table(f, budget, 8, previous=previous)
    by = t.set_index(["level", "area", "service", "line"])["previous_forecast"]
    assert by[("service", "A", "t", "Menot")] == -470.0 and by[("sector", "", "", "Toimintakate")] == -1500.0
    assert pd.isna(by[("service", "A", "s", "Menot")])


def test_cumulative_budget_profile_uses_last_years_shape():
    m = monthly({2023: [100] * 6 + [50] + [100] * 5, 2024: [10] * 3}, line="Menot")
    p = fc.cumulative_profile(m.assign(cents=-m["cents"]), -1150.0, 2024, 3)
    assert p["budget"].iloc[-1] == pytest.approx(-1150)
    assert p["budget"].iloc[6] - p["budget"].iloc[5] == pytest.approx(-50)
    assert np.isnan(p["actual"].iloc[3]) and p["actual"].iloc[2] == pytest.approx(-30)
