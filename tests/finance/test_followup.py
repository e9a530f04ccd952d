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
            "forecast": [90.0, -1050.0],
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
    t = fc.budget_table(f, budget)
    margin = t[(t["line"] == "Toimintakate") & (t["level"] == "sector")].iloc[0]
    assert margin["forecast"] == pytest.approx(-960)
    assert margin["deviation"] == pytest.approx(-60)  # 60 worse than budget
    assert margin["deviation_pct"] == pytest.approx(-60 / 900 * 100)
    assert margin["ytd_pct"] == pytest.approx(640 / 900 * 100)
    assert set(t["level"]) == {"service", "area", "sector"}


def test_cumulative_budget_profile_uses_last_years_shape():
    m = monthly({2023: [100] * 6 + [50] + [100] * 5, 2024: [10] * 3}, line="Menot")
    p = fc.cumulative_profile(m.assign(cents=-m["cents"]), -1150.0, 2024, 3)
    assert p["budget"].iloc[-1] == pytest.approx(-1150)
    assert p["budget"].iloc[6] - p["budget"].iloc[5] == pytest.approx(-50)
    assert np.isnan(p["actual"].iloc[3]) and p["actual"].iloc[2] == pytest.approx(-30)
