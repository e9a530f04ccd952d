"""Indicators: each formula on small hand-computed data (in SQLite and PostgreSQL), the status rules at their edges,
the control chart's signals."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, select

from tasks.contracts import sources
from tasks.contracts.catalog import Baseline, Indicator, Target, catalog
from tasks.goals import assess as ax
from tasks.goals import disclosure as disc
from tasks.goals import formulas as fx
from tasks.goals import measure as mx
from tasks.goals import results as rx
from tasks.goals import spc
from tasks.warehouse import load as wh_load
from tasks.warehouse.models import FACTS, BatchColumns, LoadBatch
from tasks.warehouse.read import snapshot


def indicator(formula: str, source: str, params: dict | None = None, **kw) -> Indicator:
    base = dict(
        id="x",
        name="Testimittari",
        unit="%",
        decimals=1,
        direction="higher",
        baseline=Baseline(50.0, "2023"),
        target=Target(53.0, ">=", "2024-12", "53 %"),
        risk_band=1.0,
        source=source,
        formula=formula,
        frequency="monthly",
        params=params or {},
        goal="g",
    )
    base.update(kw)
    return Indicator(**base)


def load(engine, source: str, rows: list[dict]) -> list[int]:
    """Land typed rows as one batch per period, the way the flow does; return the batch ids."""
    df = pd.DataFrame(rows)
    df["_line"] = range(2, len(df) + 2)
    df["_file"] = f"{source}.csv"
    periods = (
        df["year"].astype(str) + "-" + df.get("month", pd.Series(12, index=df.index)).astype(int).map("{:02d}".format)
    )
    return [
        wh_load.load_period(engine, source, p, f"{source}_{p}.csv", p * 8, part, "run").id
        for p, part in df.groupby(periods)
    ]


def answers(scores: list[int], month: int, year: int = 2024) -> list[dict]:
    return [
        {
            "answer_id": f"A{year}{month}{i}",
            "answer_date": dt.date(year, month, 1 + i % 28),
            "area": "Pelastuslaitos",
            "score": s,
            "comment": "",
            "year": year,
            "month": month,
        }
        for i, s in enumerate(scores)
    ]


def test_nps_is_promoters_minus_detractors(engine):
    # January: promoters 10, 9, 9, 10 and detractors 6, 0, 3, 5 of ten answers: NPS 0.
    # February: three promoters and a passive of four: NPS 75.
    ids = load(engine, "feedback", answers([10, 9, 9, 8, 7, 6, 0, 3, 10, 5], 1) + answers([10, 10, 10, 7], 2))
    ind = indicator("nps", "feedback", {"score": "score"}, unit="NPS", decimals=0)
    data = fx.indicator_data(engine, ind, ids)
    m = mx.measure(ind, data, 2024, 2)
    assert m.series["value"].tolist() == [0.0, 75.0]
    assert m.actual == pytest.approx((0 + 3) / 14 * 100)  # four promoters − four detractors, three promoters
    assert m.n == 14


def test_a_later_report_adds_up_the_monthly_aggregates_kept_for_each_batch(engine):
    """Read through a report's snapshot, each month's aggregates are kept with its batch: a later report takes them
    without reading the rows (here gone behind the warehouse's back) and gets the same figures; a changed formula
    (another `where`) is summed afresh."""
    scores = answers([10, 9, 9, 8, 7, 6, 0, 3, 10, 5], 1) + answers([10, 10, 10, 7], 2)
    ids = load(engine, "feedback", scores)
    ind = indicator("nps", "feedback", {"score": "score"}, unit="NPS", decimals=0)
    with engine.connect() as c:
        kept = c.execute(select(LoadBatch.id, LoadBatch.sha256).where(LoadBatch.id.in_(ids))).all()
    loaded = wh_load.Loaded([wh_load.Batch(i, "feedback", "", "", sha, 0, "run", True) for i, sha in kept])

    def read(ind) -> pd.DataFrame:
        with snapshot(engine, loaded) as snap:
            return fx.indicator_data(snap, ind, ids)

    first = read(ind)
    with engine.begin() as c:
        c.execute(delete(FACTS["feedback"]).where(FACTS["feedback"].batch_id == ids[0]))
        c.execute(delete(BatchColumns).where(BatchColumns.batch_id == ids[0]))
    again = read(ind)
    assert again.equals(first) and again["num"].tolist() == [0, 3] and again["den"].tolist() == [10, 4]
    # January's rows are gone: a formula never summed before finds February's answers only.
    other = read(dataclasses.replace(ind, params={"score": "score", "where": {"area": "Pelastuslaitos"}}))
    assert other["den"].tolist() == [4]


def test_share_of_urgent_missions_within_six_minutes_counts_only_its_risk_class(engine):
    rows = [
        {
            "mission_id": f"PEL-{i:06d}",
            "alarm_time": dt.datetime(2024, 3, 1, 12),
            "risk_class": c,
            "response_s": s,
            "year": 2024,
            "month": 3,
        }
        for i, (c, s) in enumerate([("I", 300), ("I", 360), ("I", 361), ("I", 500), ("II", 100)])
    ]
    ids = load(engine, "rescue", rows)
    ind = indicator(
        "share_within", "rescue", {"value": "response_s", "limit": 360, "where": {"risk_class": "I"}, "scale": 100}
    )
    m = mx.measure(ind, fx.indicator_data(engine, ind, ids), 2024, 3)
    assert m.actual == 50.0 and m.n == 4  # 360 s itself is within the limit


def test_mean_transfer_delay_from_emergency_departments(engine):
    rows = [
        {
            "transfer_id": f"{i:016x}",
            "transfer_date": dt.date(2024, 1, 5),
            "origin": o,
            "delay_days": d,
            "year": 2024,
            "month": 1,
        }
        for i, (o, d) in enumerate(
            [("Päivystys", 0.1), ("Päivystys", 0.2), ("Päivystys", 0.3), ("Erikoissairaanhoidon osasto", 5.0)]
        )
    ]
    ids = load(engine, "transfers", rows)
    ind = indicator(
        "mean", "transfers", {"value": "delay_days", "where": {"origin": "Päivystys"}}, unit="vrk", decimals=2
    )
    assert mx.measure(ind, fx.indicator_data(engine, ind, ids), 2024, 1).actual == pytest.approx(0.2)


def test_median_of_station_waiting_times(engine):
    rows = [
        {"year": 2024, "month": 1, "station": s, "t3_days": t, "visits": 100, "visits_within_14": 50}
        for s, t in zip("ABCD", [10, 20, 30, 40])
    ]
    rows += [{"year": 2024, "month": 2, "station": "A", "t3_days": 14, "visits": 100, "visits_within_14": 50}]
    ids = load(engine, "access", rows)
    ind = indicator("median", "access", {"value": "t3_days"}, unit="vrk", decimals=0, direction="lower")
    m = mx.measure(ind, fx.indicator_data(engine, ind, ids), 2024, 2)
    assert m.actual == 20.0  # median of 10, 20, 30, 40 and 14
    assert m.series["value"].tolist() == [25.0, 14.0]
    assert m.forecast == 20.0  # no previous year: the median of the last three months' values


def test_ratio_of_sums_and_weighted_percentages(engine):
    ids = load(
        engine,
        "assessments",
        [
            {"year": 2024, "month": 1, "unit": "U1", "completed": 10, "on_time": 9},
            {"year": 2024, "month": 1, "unit": "U2", "completed": 20, "on_time": 20},
        ],
    )
    ind = indicator("ratio", "assessments", {"numerator": "on_time", "denominator": "completed", "scale": 100})
    assert mx.measure(ind, fx.indicator_data(engine, ind, ids), 2024, 1).actual == pytest.approx(29 / 30 * 100)
    ids = load(
        engine,
        "mobility",
        [
            {"year": 2024, "month": 1, "service": "Kotihoito", "clients": 100, "agreement_pct": 50.0},
            {"year": 2024, "month": 1, "service": "Seniorikeskukset", "clients": 300, "agreement_pct": 70.0},
        ],
    )
    ind = indicator("weighted_mean", "mobility", {"value": "agreement_pct", "weight": "clients"})
    assert mx.measure(ind, fx.indicator_data(engine, ind, ids), 2024, 1).actual == pytest.approx(65.0)


def test_turnover_is_leavers_over_average_permanent_staff(engine):
    # A year of 100 permanent staff, one leaver a month: 12 % a year.
    rows = [
        {"year": 2023, "month": m, "area": "Hallinto", "headcount": 120, "permanent": 100, "permanent_leavers": 1}
        for m in range(1, 13)
    ]
    ids = load(engine, "personnel", rows)
    ind = catalog().indicator("lahtovaihtuvuus")
    m = mx.measure(ind, fx.indicator_data(engine, ind, ids), 2023, 12)
    assert m.actual == pytest.approx(12.0) and m.forecast == pytest.approx(12.0)


def test_total_forecast_follows_last_years_profile():
    # Last year 10 a month; this year 12 a month so far: 96 by August, 2/3 of last year by then.
    df = pd.DataFrame(
        [(2023, m, 10.0) for m in range(1, 13)] + [(2024, m, 12.0) for m in range(1, 9)],
        columns=["year", "month", "num"],
    )
    m = mx.measure_total(df, 2024, 8)
    assert m.actual == 96.0 and m.forecast == pytest.approx(144.0)
    assert mx.measure_total(df[df["year"] == 2024], 2024, 8).forecast == pytest.approx(
        144.0
    )  # linear without last year


def test_ratio_forecast_carries_last_years_season():
    # Last year: 1 % a month in January–August, 2 % in September–December; this year 1,5 % so far.
    rows = [(2023, m, 1.0 if m <= 8 else 2.0, 100.0) for m in range(1, 13)] + [
        (2024, m, 1.5, 100.0) for m in range(1, 9)
    ]
    df = pd.DataFrame(rows, columns=["year", "month", "num", "den"])
    m = mx.measure_ratio(df, 2024, 8, 100)
    assert m.actual == pytest.approx(1.5)
    # The rest of the year at 1,5 × 2 / 1 = 3 %: (12 + 3 × 4) / 1 200.
    assert m.forecast == pytest.approx((8 * 1.5 + 4 * 3.0) / 1200 * 100)


def test_ratio_forecast_uses_the_current_level_for_negative_scores():
    # An NPS can be negative: then last year's ratio of ratios means nothing, the last three months do.
    rows = [(2023, m, -5.0, 100.0) for m in range(1, 13)] + [
        (2024, m, v, 100.0) for m, v in zip(range(1, 9), [-10, -10, -10, -10, -10, 10, 10, 10])
    ]
    m = mx.measure_ratio(pd.DataFrame(rows, columns=["year", "month", "num", "den"]), 2024, 8, 100)
    assert m.forecast == pytest.approx((-20 + 0.1 * 400) / 1200 * 100)


def test_yearly_level_is_the_latest_count_and_forecast_by_trend():
    df = pd.DataFrame({"year": [2020, 2021, 2022, 2023], "value": [1000.0, 900.0, 800.0, 700.0]})
    m = mx.measure_annual(df, 2024, 2024)
    assert (m.actual, m.actual_period, m.final) == (700.0, "2023", False)
    assert m.forecast == pytest.approx(600.0)


def test_manual_values_take_the_controllers_forecast():
    df = pd.DataFrame(
        {"year": 2024, "month": [1, 2, 3, 9], "value": [0.0, 1.0, 2.0, 9.0], "forecast": [np.nan, 5.0, np.nan, 9.0]}
    )
    m = mx.measure_manual(df, 2024, 3)
    assert (m.actual, m.forecast) == (2.0, 2.0)  # no forecast given in March: the value itself
    m = mx.measure_manual(df, 2024, 2)
    assert (m.actual, m.forecast) == (1.0, 5.0)


def test_series_stop_at_the_report_period():
    df = pd.DataFrame({"year": 2024, "month": [1, 8, 9, 12], "value": [1.0, 2.0, 3.0, 4.0], "forecast": np.nan})
    m = mx.measure(indicator("latest", "manual", unit="kpl", decimals=0), df, 2024, 8)
    assert m.series["month"].tolist() == [1, 8]


def measured(forecast: float, actual: float | None = None, n: float | None = 100, final: bool = False) -> mx.Measured:
    return mx.Measured(actual=forecast if actual is None else actual, forecast=forecast, n=n, final=final)


@pytest.mark.parametrize("forecast, status", [(53.0, "toteutuu"), (52.0, "riski"), (51.99, "ei toteudu")])
def test_status_of_a_higher_is_better_indicator_at_its_edges(forecast, status):
    assert ax.assess(indicator("ratio", "assessments"), measured(forecast)).status == status


@pytest.mark.parametrize(
    "forecast, status", [(0.1499, "toteutuu"), (0.15, "riski"), (0.17, "riski"), (0.1701, "ei toteudu")]
)
def test_status_of_a_strict_lower_is_better_target_at_its_edges(forecast, status):
    ind = indicator(
        "mean", "transfers", direction="lower", target=Target(0.15, "<", "2024-12", "alle 0,15 vrk"), risk_band=0.02
    )
    assert ax.assess(ind, measured(forecast)).status == status


def test_at_the_deadline_the_actual_is_judged_and_there_is_no_risk():
    ind = indicator("ratio", "assessments")
    assert ax.assess(ind, measured(forecast=60.0, actual=52.9, final=True)).status == "ei toteudu"
    assert ax.assess(ind, measured(forecast=40.0, actual=53.0, final=True)).status == "toteutuu"


@pytest.mark.parametrize(
    "m, source, ind_kw, reason",
    [
        (measured(60.0, n=4), "ok", {}, "alle 5 havaintoa"),
        (measured(60.0), "failed", {}, "lähde: virheellinen, ei käytetty"),
        (measured(60.0), "missing", {}, "lähde: tieto puuttuu"),
        (mx.Measured(), "ok", {}, "kaudelta ei ole mittaustulosta"),
        (measured(60.0), "ok", {"target": Target(None, ">=", "2024-12", "")}, "tavoitearvoa ei ole asetettu"),
    ],
)
def test_what_cannot_be_assessed_says_why(m, source, ind_kw, reason):
    a = ax.assess(indicator("ratio", "assessments", **ind_kw), m, source)
    assert (a.status, a.reason) == ("ei arvioitavissa", reason)


def test_five_observations_are_enough_to_assess():
    assert ax.assess(indicator("ratio", "assessments"), measured(60.0, n=5)).status == "toteutuu"


@pytest.mark.parametrize(
    "statuses, goal",
    [
        (["toteutuu", "toteutuu"], "toteutuu"),
        (["toteutuu", "riski"], "riski"),
        (["riski", "ei toteudu", "toteutuu"], "ei toteudu"),
        (["toteutuu", "ei arvioitavissa"], "ei arvioitavissa"),
        (["ei arvioitavissa", "riski"], "riski"),
        ([], "ei arvioitavissa"),
    ],
)
def test_a_goal_is_met_only_if_every_indicator_is(statuses, goal):
    assert ax.goal_status(statuses) == goal


def series(values_2023: list[float], values_2024: list[float]) -> pd.DataFrame:
    rows = [(2023, m, v) for m, v in enumerate(values_2023, 1)] + [(2024, m, v) for m, v in enumerate(values_2024, 1)]
    return pd.DataFrame(rows, columns=["year", "month", "value"])


def test_control_limits_come_from_the_baseline_year():
    base = [9.0, 11.0] * 6  # mean 10, moving range 2: σ = 2 / 1,128
    chart = spc.control_chart(series(base, [10.0, 16.0, 10.0]), 2024)
    sigma = 2 / 1.128
    assert chart["centre"].iloc[0] == pytest.approx(10.0)
    assert chart["ucl"].iloc[0] == pytest.approx(10 + 3 * sigma)
    assert chart.loc[chart["beyond"], ["year", "month"]].values.tolist() == [[2024, 2]]  # 16 > 15,32
    assert not chart["run"].any()


def test_a_run_of_eight_on_one_side_is_a_signal_and_seven_is_not():
    base = [9.0, 11.0] * 6
    eight = spc.control_chart(series(base, [10.5] * 8), 2024)
    assert eight.loc[eight["year"] == 2024, "run"].all()
    # The baseline ends below the centre, so the runs below are of seven.
    seven = spc.control_chart(series([11.0, 9.0] * 6, [10.5] * 7 + [10.0] + [10.5] * 7), 2024)
    assert not seven["run"].any()  # a point on the centre line breaks the run
    # Plain Finnish for the board: better or worse, as the indicator's direction says; no control-chart jargon.
    assert spc.signals_text(eight, 2024, better=1) == (
        "Arvo on pysynyt vähintään kahdeksan kuukautta peräkkäin aiempaa keskitasoa parempana."
    )
    assert spc.signals_text(eight, 2024, better=-1).endswith("keskitasoa heikompana.")


def test_signal_text_names_the_last_month_beyond_the_limits():
    chart = spc.control_chart(series([9.0, 11.0] * 6, [20.0, 10.0, 20.0]), 2024)
    assert spc.signals_text(chart, 2024, better=1) == "Arvo oli maaliskuussa selvästi tavanomaista parempi."
    assert spc.signals_text(chart, 2024, better=-1) == "Arvo oli maaliskuussa selvästi tavanomaista heikompi."
    assert spc.signal_tone(chart, -1)[chart["beyond"]].tolist() == ["worse", "worse"]


def test_small_counts_are_hidden_with_secondary_suppression():
    table = pd.DataFrame({"unit": ["A", "B", "C", "Yhteensä"], "completed": [10, 3, 20, 33]})
    assert disc.suppress_small(table, ["completed"], 5).tolist() == [True, True, False, False]
    two = pd.DataFrame({"unit": ["A", "B", "C", "D", "Yhteensä"], "completed": [10, 3, 2, 20, 35]})
    assert disc.suppress_small(two, ["completed"], 5).tolist() == [False, True, True, False, False]
    zero = pd.DataFrame({"unit": ["A", "B", "Yhteensä"], "completed": [0, 20, 20]})
    assert not disc.suppress_small(zero, ["completed"], 5).any()  # zero identifies no one
    no_total = pd.DataFrame({"unit": ["A", "B"], "completed": [3, 20]})
    assert disc.suppress_small(no_total, ["completed"], 5, total_row=False).tolist() == [True, False]


def test_every_catalog_formula_exists_and_reads_columns_of_its_source():
    for ind in catalog().indicators:
        assert ind.formula in fx.FORMULAS, ind.id
        fields = {c.field for c in sources()[ind.source].columns}
        for key in ("numerator", "denominator", "value", "weight", "score"):
            if key in ind.params:
                assert ind.params[key] in fields, (ind.id, key)
        for col in ind.params.get("where") or {}:
            assert col in fields, (ind.id, col)


def test_catalog_holds_the_binding_goals_of_table_7():
    c = catalog()
    assert [g.id for g in c.goals if g.binding] == ["vetovoima", "saatavuus", "talous", "asiakaskokemus"]
    expected = {
        "hakijakokemus_nps": (-5, 0, ">="),
        "lahtovaihtuvuus": (13.6, 13.6, "<"),
        "pelastus_6min": (52, 53, ">="),
        "siirtoviive": (None, 0.15, "<"),
        "t3_odotusaika": (None, 14, "<="),
        "asunnottomat": (896, 300, "<="),
        "arvioinnit_ajassa": (95.4, 98.5, ">="),
        "asiakas_nps": (58, 65, ">="),
    }
    for iid, (base, target, op) in expected.items():
        ind = c.indicator(iid)
        assert (ind.baseline.value, ind.target.value, ind.target.op) == (base, target, op), iid
    assert {g.id for g in c.goals if not g.binding} == {"turvallisuus", "ilmasto", "mielen_hyvinvointi", "liikkuminen"}


def test_a_comma_that_splits_a_catalog_text_is_an_error():
    import yaml

    from tasks.contracts.catalog import CATALOG_FILE, CATALOG_PACKAGE, CatalogError, parse_catalog
    from tasks.contracts.declarations import declared

    raw = declared(CATALOG_FILE, CATALOG_PACKAGE)
    raw["indicators"][0]["target"] = yaml.safe_load("{value: 0.15, op: '<', deadline: '2024-12', text: alle 0,15 vrk}")
    with pytest.raises(CatalogError, match="unknown target key"):
        parse_catalog(raw)
    raw = declared(CATALOG_FILE, CATALOG_PACKAGE)
    raw["goals"][0]["indicators"].append("keksitty")
    with pytest.raises(CatalogError, match="unknown indicator keksitty"):
        parse_catalog(raw)


def test_results_publish_no_actual_built_on_too_few_observations():
    ind = dataclasses.replace(catalog().indicator("arvioinnit_ajassa"))
    data = {ind.id: pd.DataFrame({"year": [2024], "month": [1], "num": [3.0], "den": [3.0]})}
    results, _ = rx.indicator_results(
        dataclasses.replace(catalog(), indicators=(ind,), goals=()), data, {"assessments": "ok"}, {}, 2024, 1
    )
    row = results.iloc[0]
    assert row["suppressed"] and row["actual"] is None and row["status"] == "ei arvioitavissa"


def test_a_count_is_forecast_as_a_whole_number_and_judged_as_shown():
    """599,5 persons was printed 599 on the board's page and 599,5 in indicators.csv: a count is rounded first."""
    ind = catalog().indicator("asunnottomat")
    assert ind.count
    data = {ind.id: pd.DataFrame({"year": [2021, 2022, 2023], "value": [901.0, 800.0, 700.0]})}
    cat = dataclasses.replace(catalog(), indicators=(ind,), goals=())
    results, _ = rx.indicator_results(cat, data, {ind.source: "ok"}, {}, 2024, 8)
    trend = mx.measure_annual(data[ind.id], 2024, 2024).forecast
    assert trend != round(trend)  # the trend itself falls between two whole persons
    assert results.iloc[0]["forecast"] == round(trend)
