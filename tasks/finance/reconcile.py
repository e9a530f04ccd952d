"""Reconcile stage: recompute every total and identity and list each comparison.

A `deviation` (*täsmäytysero*) is an inconsistency between figures that must
agree (a stated total against the sum of its parts, a control file against its
ledger, the result budgets against the council's binding level), never a
budget variance: how the actuals and the forecast stand against TB and the
binding level is the budget follow-up's (`talous.csv`). A figure the input
does not state, where an identity would check it, is `missing` (*ei
ilmoitettu*): not an error of the input.

Tolerances respect rounding: a figure published in whole units of 1 000 € may
be off by half a unit, so a comparison of a stated figure with a sum of n
published figures allows n halves (`rounding_tolerance`). Ledger figures are in
cents and must agree exactly.

Every check returns rows of the reconciliation.csv contract:
check, unit, line, column, stated, computed, difference, status.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.contracts import settings, sources, structure
from tasks.contracts.vocab import BUDGET_LINES, EXPENSES, MARGIN, REVENUE
from tasks.finance.followup import Finance
from tasks.warehouse.read import ReportingData

COLUMNS = ["check", "unit", "line", "column", "stated", "computed", "difference", "status"]


def rounding_tolerance(n_terms: int | pd.Series) -> float | pd.Series:
    return settings().rounding_half_unit * n_terms


OK, DEVIATION, MISSING = "ok", "deviation", "missing"
STATUS_FI = {OK: "täsmää", DEVIATION: "täsmäytysero", MISSING: "ei ilmoitettu"}


def rows(check: str, unit, line, column, stated, computed, tolerance) -> pd.DataFrame:
    """Build contract rows; `status` is ok when |computed − stated| ≤ tolerance, missing when the input states no
    figure to compare (the computed one is there), else a deviation."""
    df = pd.DataFrame(
        {"check": check, "unit": unit, "line": line, "column": column, "stated": stated, "computed": computed}
    )
    # Rounded so that float noise on sums of billions of cents is not a deviation.
    df["difference"] = (df["computed"] - df["stated"]).round(4)
    diff = df["difference"].abs()
    unstated = df["stated"].isna() & df["computed"].notna()
    df["status"] = np.select(
        [unstated, diff.isna() | (diff > np.asarray(tolerance) + 1e-9)], [MISSING, DEVIATION], default=OK
    )
    return df[COLUMNS]


def _unit(df: pd.DataFrame) -> pd.Series:
    return df["service"].where(df["service"].ne(""), df["area"])


def result_budget_checks(rb: pd.DataFrame) -> pd.DataFrame:
    """Margins, area totals and changes of the budget sheet."""
    out = []
    wide = rb.pivot_table(
        index=["area", "service"], columns="line", values=["tb_prev", "tb"], aggfunc="first", sort=False
    )
    for col, name in (("tb_prev", "TB_edellinen"), ("tb", "TB")):
        w = wide[col].reindex(columns=list(BUDGET_LINES))
        units = w.index.to_frame(index=False)
        out.append(
            rows(
                "tb_toimintakate",
                _unit(units),
                MARGIN,
                name,
                w[MARGIN].to_numpy(),
                (w[REVENUE] + w[EXPENSES]).to_numpy(),
                rounding_tolerance(2),
            )
        )
        # Each area's own total row against the sum of its services.
        services = rb[rb["service"].ne("")]
        summed = services.groupby(["area", "line"])[col].agg(["sum", "count"])
        totals = rb[rb["service"].eq("")].set_index(["area", "line"])[col]
        joined = summed.join(totals.rename("stated"), how="inner").reset_index()
        out.append(
            rows(
                "tb_palvelut_yhteensa",
                joined["area"],
                joined["line"],
                name,
                joined["stated"],
                joined["sum"],
                rounding_tolerance(joined["count"]),
            )
        )
    # Muutos € and % under the published convention.
    is_exp = rb["line"].eq(EXPENSES)
    change = np.where(is_exp, rb["tb"].abs() - rb["tb_prev"].abs(), rb["tb"] - rb["tb_prev"])
    stated = rb["change_eur"]
    has = stated.notna()
    out.append(
        rows(
            "tb_muutos_eur",
            _unit(rb)[has],
            rb["line"][has],
            "Muutos_eur",
            stated[has],
            change[has.to_numpy()],
            rounding_tolerance(2),
        )
    )
    prev = rb["tb_prev"].abs()
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = pd.Series(change / prev * 100, index=rb.index)
    defined = prev.ne(0)
    # Published with one decimal; the levels themselves are rounded to 1 000 €.
    pct_tol = 0.5 * 10 ** -settings().pct_decimals + 100 * rounding_tolerance(2) / prev.where(defined)
    sel = rb["change_pct"].notna() & defined
    out.append(
        rows(
            "tb_muutos_pct",
            _unit(rb)[sel],
            rb["line"][sel],
            "Muutos_pct",
            rb["change_pct"][sel],
            pct[sel],
            pct_tol[sel],
        )
    )
    # A percentage stated where none can be computed (previous year zero) must be zero or empty.
    odd = rb["change_pct"].notna() & ~defined & rb["change_pct"].ne(0)
    out.append(rows("tb_muutos_pct", _unit(rb)[odd], rb["line"][odd], "Muutos_pct", rb["change_pct"][odd], np.nan, 0))
    return pd.concat(out, ignore_index=True)


def council_budget_checks(cb: pd.DataFrame) -> pd.DataFrame:
    """Every identity of the council budget per item and version, and the sector against its items."""
    w = cb.pivot_table(index=["item", "version"], columns="line", values="amount", aggfunc="first", sort=False)
    w = w.reindex(columns=list(sources()["council_budget"].lines))
    idx = w.index.to_frame(index=False)
    out = []
    has_fin = w["Valtion rahoitus"].notna()
    sel = w["Toimintakate"].notna() & w["Toimintatulot"].notna() & w["Toimintamenot"].notna()
    out.append(
        rows(
            "ta_toimintakate",
            idx["item"][sel.to_numpy()],
            "Toimintakate",
            idx["version"][sel.to_numpy()],
            w["Toimintakate"][sel].to_numpy(),
            (w["Toimintatulot"] + w["Toimintamenot"])[sel].to_numpy(),
            rounding_tolerance(2),
        )
    )
    sel = w["Vuosikate"].notna() & has_fin & w["Toimintakate"].notna()
    vk = w["Toimintakate"] + w["Valtion rahoitus"] + w["Rahoitustulot"].fillna(0)
    out.append(
        rows(
            "ta_vuosikate",
            idx["item"][sel.to_numpy()],
            "Vuosikate",
            idx["version"][sel.to_numpy()],
            w["Vuosikate"][sel].to_numpy(),
            vk[sel].to_numpy(),
            rounding_tolerance(3),
        )
    )
    base = w["Vuosikate"].where(has_fin, w["Toimintakate"])
    sel = w["Tilikauden tulos"].notna() & base.notna() & w["Poistot"].notna()
    out.append(
        rows(
            "ta_tilikauden_tulos",
            idx["item"][sel.to_numpy()],
            "Tilikauden tulos",
            idx["version"][sel.to_numpy()],
            w["Tilikauden tulos"][sel].to_numpy(),
            (base + w["Poistot"])[sel].to_numpy(),
            rounding_tolerance(2),
        )
    )
    # The sector equals the sum of its items on the operating lines and depreciation,
    # for every version the items carry.
    st = structure()
    items = cb[cb["item"].isin(st.budget_items)]
    sector = cb[cb["item"].eq(st.sector)].set_index(["version", "line"])["amount"]
    lines = ["Toimintatulot", "Toimintamenot", "Toimintakate", "Poistot"]
    summed = items[items["line"].isin(lines)].groupby(["version", "line"])["amount"].agg(["sum", "count"])
    joined = summed.join(sector.rename("stated"), how="left").reset_index()
    out.append(
        rows(
            "ta_toimiala_kohdat",
            st.sector,
            joined["line"],
            joined["version"],
            joined["stated"],
            joined["sum"],
            rounding_tolerance(joined["count"]),
        )
    )
    return pd.concat(out, ignore_index=True)


def ledger_control_checks(controls: pd.DataFrame) -> pd.DataFrame:
    """Each ledger file against its control file: row count and the sum to the cent."""
    if controls.empty:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(
        [
            rows("paakirja_kontrolli", controls["file"], "", "Rivimaara", controls["stated_rows"], controls["rows"], 0),
            rows(
                "paakirja_kontrolli",
                controls["file"],
                "",
                "Summa_yhteensa",
                controls["stated_cents"] / 100,
                controls["cents"] / 100,
                0,
            ),
        ],
        ignore_index=True,
    )


def ledger_rollup_checks(
    monthly: pd.DataFrame, area_totals: pd.DataFrame, loaded: pd.DataFrame, controls: pd.DataFrame
) -> pd.DataFrame:
    """Services roll up to areas, areas to the sector, and the warehouse holds what the files said.

    `monthly`: per service sums from the warehouse; `area_totals`: per area sums
    queried separately; `loaded`: rows and cents per file in the warehouse;
    `controls`: the files' own counts (SAP sign).
    """
    out = []
    svc = monthly.groupby("area")["cents"].sum() / 100
    area = area_totals.set_index("area")["cents"] / 100
    j = pd.concat([area.rename("stated"), svc.rename("computed")], axis=1).reset_index()
    out.append(rows("paakirja_palvelut_palvelukokonaisuus", j["area"], MARGIN, "Summa", j["stated"], j["computed"], 0))
    stated_sector = -controls["stated_cents"].sum() / 100 if not controls.empty else np.nan
    out.append(rows("paakirja_toimiala", structure().sector, MARGIN, "Summa", [stated_sector], [area.sum()], 0))
    if not loaded.empty:
        ln = loaded.merge(controls, on="file", suffixes=("_db", ""))
        out.append(rows("paakirja_varasto", ln["file"], "", "Rivimaara", ln["rows"], ln["rows_db"], 0))
    return pd.concat(out, ignore_index=True)


def ledger_structure_checks(monthly: pd.DataFrame, budget: pd.DataFrame) -> pd.DataFrame:
    """Every ledger service belongs to its area in the structure and has a budget."""
    st = structure()
    known = {(s.area, s.name) for s in st.services}
    pairs = monthly.groupby(["area", "service"], as_index=False)["cents"].sum()
    pairs["known"] = [(a, s) in known for a, s in zip(pairs["area"], pairs["service"])]
    budgeted = budget.dropna(subset=["tb"])[["area", "service"]].drop_duplicates().assign(has_budget=True)
    pairs = pairs.merge(budgeted, on=["area", "service"], how="left")
    bad = pairs[~pairs["known"] | pairs["has_budget"].isna()]
    return rows("paakirja_palvelu_budjetissa", bad["service"], bad["area"], "Palvelu", bad["cents"] / 100, np.nan, 0)


def binding_level_checks(cb: pd.DataFrame, table: pd.DataFrame, year: int) -> pd.DataFrame:
    """The result budgets allocated (the sum of the areas' TB) against the council's binding level, 1 000 €.

    Two budget documents that must agree; how the actuals and the forecast stand
    against the level is the budget follow-up's, not a reconciliation.
    """
    bind = cb[cb["binding"].astype(bool) & cb["version"].eq(settings().council_version_of(year))]
    if bind.empty:
        return rows("sitova_taso", structure().sector, MARGIN, "TA", [np.nan], [np.nan], 0)
    level = float(bind["amount"].iloc[0])
    areas = table[table["line"].eq(MARGIN) & table["level"].eq("area")]
    # Compared in the council budget's own unit (1 000 €), as it states the level.
    unit = sources()["council_budget"].from_euros
    n_areas = int(areas["tb"].notna().sum())
    return rows(
        "sitova_taso", structure().sector, MARGIN, "TB", [level], [unit(areas["tb"].sum())], rounding_tolerance(n_areas)
    )


@dataclass(frozen=True)
class Reconciliation:
    """The reconcile stage's result: every comparison as a row of reconciliation.csv."""

    checks: pd.DataFrame

    @property
    def deviations(self) -> pd.DataFrame:
        """The *täsmäytyserot*: figures that must agree and do not."""
        return self.checks[self.checks["status"] == DEVIATION] if len(self.checks) else self.checks

    @property
    def missing(self) -> pd.DataFrame:
        """Figures an identity would check that the input does not state."""
        return self.checks[self.checks["status"] == MISSING] if len(self.checks) else self.checks


def reconciliation(data: ReportingData, controls: pd.DataFrame, fin: Finance, year: int) -> Reconciliation:
    """Every check whose inputs are there, as rows of reconciliation.csv."""
    monthly, rb, cb = data.monthly, data.result_budget, data.council_budget
    checks = [ledger_control_checks(controls)]
    if not rb.empty:
        checks.append(result_budget_checks(rb))
    if not cb.empty:
        checks.append(council_budget_checks(cb))
    if not monthly.empty:
        checks.append(ledger_rollup_checks(monthly, data.area_totals, data.loaded, controls))
        if not rb.empty:
            checks.append(ledger_structure_checks(monthly, fin.budget))
    if not cb.empty and not rb.empty:
        checks.append(binding_level_checks(cb, fin.table, year))
    found = [c for c in checks if not c.empty]
    return Reconciliation(pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=COLUMNS))
