"""Each kind of deviation is planted and found; rounding differences are not flagged."""

import numpy as np
import pandas as pd
import pytest

from tasks.finance import reconcile as rc

AREA = "Pelastuslaitos"


def sheet(rows):
    """Result-budget rows: (area, service, line, tb_prev, tb, change_eur, change_pct)."""
    return pd.DataFrame(rows, columns=["area", "service", "line", "tb_prev", "tb", "change_eur", "change_pct"])


def consistent_sheet():
    return sheet(
        [
            (AREA, "", "Tulot", 300, 445, 145, 48.3),
            (AREA, "", "Menot", -5000, -5200, 200, 4.0),
            (AREA, "", "Toimintakate", -4700, -4755, -55, -1.2),
            (AREA, "Riskienhallinta", "Tulot", 300, 445, 145, 48.3),
            (AREA, "Riskienhallinta", "Menot", -4901, -5052, 151, 3.1),
            (AREA, "Riskienhallinta", "Toimintakate", -4601, -4607, -6, -0.1),
            (AREA, "Huoltovarmuus", "Tulot", 0, 0, 0, np.nan),
            (AREA, "Huoltovarmuus", "Menot", -99, -148, 49, 49.5),
            (AREA, "Huoltovarmuus", "Toimintakate", -99, -148, -49, -49.5),
        ]
    )


def deviations(df):
    return df[df["status"] == "deviation"]


def test_consistent_sheet_has_no_deviation():
    out = rc.result_budget_checks(consistent_sheet())
    assert set(out.columns) == set(rc.COLUMNS)
    assert deviations(out).empty, deviations(out)
    assert {"tb_toimintakate", "tb_palvelut_yhteensa", "tb_muutos_eur", "tb_muutos_pct"} <= set(out["check"])


def test_margin_that_is_not_revenue_plus_expenses_is_found():
    df = consistent_sheet()
    df.loc[5, "tb"] = -4597  # Riskienhallinta TB margin off by 10
    dev = deviations(rc.result_budget_checks(df))
    row = dev[dev["check"] == "tb_toimintakate"].iloc[0]
    assert (row["unit"], row["line"], row["column"]) == ("Riskienhallinta", "Toimintakate", "TB")
    assert row["stated"] == -4597 and row["computed"] == -4607 and row["difference"] == -10


def test_area_total_that_is_not_the_sum_of_services_is_found():
    df = consistent_sheet()
    df.loc[1, "tb_prev"] = -5100  # area total of Menot, previous year
    df.loc[2, "tb_prev"] = -4800
    dev = deviations(rc.result_budget_checks(df))
    row = dev[dev["check"] == "tb_palvelut_yhteensa"].iloc[0]
    assert (row["unit"], row["line"], row["column"]) == (AREA, "Menot", "TB_edellinen")
    assert row["computed"] == -5000


def test_area_total_off_by_rounding_is_not_flagged():
    df = consistent_sheet()
    df.loc[1, "tb"] = -5201  # two services summed: one unit is within 2 × 0.5
    df.loc[2, "tb"] = -4756
    df.loc[1, "change_eur"] = 201
    df.loc[2, "change_eur"] = -56
    out = rc.result_budget_checks(df)
    assert deviations(out).empty, deviations(out)


def test_wrong_change_in_euros_and_percent_are_found():
    df = consistent_sheet()
    df.loc[4, "change_eur"] = -151  # sign of expense growth reversed
    df.loc[3, "change_pct"] = 4.6  # 145 / 300 is 48.3 %
    dev = deviations(rc.result_budget_checks(df))
    assert ("Riskienhallinta", "Menot", "Muutos_eur") in set(zip(dev["unit"], dev["line"], dev["column"]))
    assert ("Riskienhallinta", "Tulot", "Muutos_pct") in set(zip(dev["unit"], dev["line"], dev["column"]))


def test_percent_rounded_to_one_decimal_is_not_flagged():
    df = consistent_sheet()
    df.loc[4, "change_pct"] = (
        3.05  # computed 3.0810...; published 3.1, a reader's 3.05 is within half a unit plus level rounding
    )
    assert deviations(rc.result_budget_checks(df)).empty


def test_percent_without_a_base_must_be_empty_or_zero():
    df = consistent_sheet()
    df.loc[6, "change_pct"] = 100.0
    dev = deviations(rc.result_budget_checks(df))
    assert dev[["unit", "line", "column"]].values.tolist() == [["Huoltovarmuus", "Tulot", "Muutos_pct"]]


SECTOR, ITEM_A, ITEM_B = "Sosiaali-, terveys- ja pelastustoimi", "Sosiaali-, terveys- ja pelastuspalvelut", "HUS-yhtymä"


def council(overrides=None):
    lines = {
        (SECTOR, "TA 2024"): {
            "Toimintatulot": 200100,
            "Toimintamenot": -2891155,
            "Toimintakate": -2691055,
            "Valtion rahoitus": 2699551,
            "Rahoitustulot": 3004,
            "Vuosikate": 11500,
            "Poistot": -16000,
            "Tilikauden tulos": -4500,
        },
        (ITEM_A, "TA 2024"): {
            "Toimintatulot": 200100,
            "Toimintamenot": -2080355,
            "Toimintakate": -1880255,
            "Poistot": -16000,
            "Tilikauden tulos": -1896255,
        },
        (ITEM_B, "TA 2024"): {
            "Toimintatulot": 0,
            "Toimintamenot": -810800,
            "Toimintakate": -810800,
            "Poistot": 0,
            "Tilikauden tulos": -810800,
        },
    }
    for (item, version, line), value in (overrides or {}).items():
        lines[(item, version)][line] = value
    rows = [(i, v, ln, a, i == SECTOR and ln == "Toimintakate") for (i, v), d in lines.items() for ln, a in d.items()]
    return pd.DataFrame(rows, columns=["item", "version", "line", "amount", "binding"])


def test_consistent_council_budget_passes_every_identity():
    out = rc.council_budget_checks(council())
    assert deviations(out).empty
    assert {"ta_toimintakate", "ta_vuosikate", "ta_tilikauden_tulos", "ta_toimiala_kohdat"} <= set(out["check"])


@pytest.mark.parametrize(
    "override, check, unit, line",
    [
        ((ITEM_B, "TA 2024", "Toimintakate"), "ta_toimintakate", ITEM_B, "Toimintakate"),
        ((SECTOR, "TA 2024", "Vuosikate"), "ta_vuosikate", SECTOR, "Vuosikate"),
        ((ITEM_A, "TA 2024", "Tilikauden tulos"), "ta_tilikauden_tulos", ITEM_A, "Tilikauden tulos"),
        ((ITEM_A, "TA 2024", "Poistot"), "ta_toimiala_kohdat", SECTOR, "Poistot"),
    ],
)
def test_each_council_identity_finds_its_planted_error(override, check, unit, line):
    value = council().set_index(["item", "version", "line"]).loc[override, "amount"]
    out = rc.council_budget_checks(council({override: value - 100}))
    dev = deviations(out)
    assert (
        (dev["check"] == check) & (dev["unit"] == unit) & (dev["line"] == line) & (dev["column"] == "TA 2024")
    ).any(), dev


def test_council_rounding_within_half_units_is_not_flagged():
    out = rc.council_budget_checks(council({(SECTOR, "TA 2024", "Vuosikate"): 11501}))
    assert deviations(out).empty


def test_ledger_against_control_file_to_the_cent():
    controls = pd.DataFrame(
        {
            "file": ["a.csv", "b.csv"],
            "stated_rows": [10, 10],
            "rows": [10, 9],
            "stated_cents": [100_00, 100_00],
            "cents": [100_00, 100_01],
        }
    )
    out = rc.ledger_control_checks(controls)
    dev = deviations(out)
    assert dev[["unit", "column"]].values.tolist() == [["b.csv", "Rivimaara"], ["b.csv", "Summa_yhteensa"]]
    assert dev["difference"].tolist() == [-1, pytest.approx(0.01)]


def monthly(rows):
    return pd.DataFrame(rows, columns=["year", "month", "area", "service", "line", "cents", "rows"])


def test_ledger_service_outside_structure_or_budget_is_found():
    m = monthly(
        [
            (2024, 1, AREA, "Riskienhallinta", "Menot", -100, 1),
            (2024, 1, AREA, "Keksitty palvelu", "Menot", -50, 1),
            (2024, 1, "Hallinto", "Riskienhallinta", "Menot", -20, 1),
        ]
    )
    budget = pd.DataFrame({"area": [AREA], "service": ["Riskienhallinta"], "line": ["Menot"], "tb": [-1.0]})
    dev = rc.ledger_structure_checks(m, budget)
    assert sorted(zip(dev["unit"], dev["line"])) == [("Keksitty palvelu", AREA), ("Riskienhallinta", "Hallinto")]
    assert (dev["status"] == "deviation").all()


def test_ledger_rollups_find_rows_lost_on_the_way():
    m = monthly(
        [(2024, 1, AREA, "Riskienhallinta", "Menot", -100_00, 1), (2024, 1, AREA, "Huoltovarmuus", "Menot", -50_00, 1)]
    )
    areas = pd.DataFrame({"area": [AREA], "cents": [-150_00]})
    controls = pd.DataFrame(
        {"file": ["a.csv"], "stated_rows": [3], "rows": [3], "stated_cents": [160_00], "cents": [160_00]}
    )
    loaded = pd.DataFrame({"file": ["a.csv"], "rows": [2], "cents": [-150_00]})
    out = rc.ledger_rollup_checks(m, areas, loaded, controls)
    dev = deviations(out)
    # The control file says 160 € of net expenses and 3 rows; the warehouse holds 150 € in 2 rows.
    assert set(dev["check"]) == {"paakirja_toimiala", "paakirja_varasto"}
    assert dev[dev["check"] == "paakirja_toimiala"]["difference"].iloc[0] == pytest.approx(10.0)
    assert not deviations(out[out["check"] == "paakirja_palvelut_palvelukokonaisuus"]).shape[0]


def test_the_allocation_against_the_binding_level_is_reconciled_a_forecast_beyond_it_is_not():
    """The result budgets must add up to the council's binding level; an overrun is follow-up, not an inconsistency."""
    table = pd.DataFrame(
        {
            "area": ["A", "B", ""],
            "service": ["", "", ""],
            "line": ["Toimintakate"] * 3,
            "level": ["area", "area", "sector"],
            "tb": [-1_880_255_000.0, -810_800_000.0, -2_691_055_000.0],
            "ytd": [-1_200_000_000.0, -540_000_000.0, -1_740_000_000.0],
            "forecast": [-1_900_000_000.0, -811_000_000.0, -2_711_000_000.0],
        }
    )
    out = rc.binding_level_checks(council(), table, 2024)
    assert out[["column", "status"]].values.tolist() == [["TB", "ok"]]
    short = table.assign(tb=[-1_870_255_000.0, -810_800_000.0, -2_681_055_000.0])
    off = rc.binding_level_checks(council(), short, 2024)
    assert off["status"].tolist() == ["deviation"] and off["difference"].iloc[0] == pytest.approx(10_000)


def test_a_figure_the_input_does_not_state_is_missing_not_a_deviation():
    out = rc.rows("ta_toimiala_kohdat", "x", "Poistot", "TB 2023", [np.nan, -5.0], [-10.0, -6.0], 0.5)
    assert out["status"].tolist() == ["missing", "deviation"]
    assert rc.STATUS_FI["missing"] == "ei ilmoitettu" and rc.STATUS_FI["deviation"] == "täsmäytysero"


def test_large_ledger_sums_are_compared_without_float_noise():
    stated = -5_357_195_146.57
    out = rc.rows("paakirja_toimiala", "x", "Toimintakate", "Summa", [stated], [stated + 1e-6], 0)
    assert out["status"].tolist() == ["ok"]
    assert rc.rows("paakirja_toimiala", "x", "Toimintakate", "Summa", [stated], [stated + 0.01], 0)[
        "status"
    ].tolist() == ["deviation"]


def test_binding_level_without_actuals_compares_only_the_allocation():
    table = pd.DataFrame(
        {
            "area": ["A", ""],
            "service": ["", ""],
            "line": ["Toimintakate"] * 2,
            "level": ["area", "sector"],
            "tb": [-2_691_055_000.0] * 2,
            "ytd": [np.nan] * 2,
            "forecast": [np.nan] * 2,
        }
    )
    out = rc.binding_level_checks(council(), table, 2024)
    assert out[["column", "status"]].values.tolist() == [["TB", "ok"]]
