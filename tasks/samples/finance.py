"""Sample finances modelled on the 2024 plan in the seeds: ledger months with control files and both budgets.

For `year` and the year before: monthly ledger files with their control
files, the approved result budget sheet and the council budget. The files
deliberately vary in the ways real exports do (encodings, thousands
separators, minus signs) so the loaders are exercised by the demo itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tasks.contracts import accounts, sources, structure
from tasks.samples.common import format_fi, sample_parameters, seed_of, write_csv

SEED_FILE = "budget_2024.yaml"

# Share of a service's annual revenues and expenses per account.
REVENUE_MIX = {"3000": 0.30, "3050": 0.05, "3100": 0.45, "3200": 0.10, "3400": 0.10}
EXPENSE_MIX = {
    "4000": 0.42,
    "4100": 0.10,
    "4300": 0.20,
    "4400": 0.10,
    "4500": 0.06,
    "4700": 0.02,
    "4800": 0.08,
    "4900": 0.02,
}
# Payments to a joint authority budgeted by the council (HUS) are purchases of services.
COUNCIL_ITEM_MIX = {"4300": 1.0}
# Monthly profile: salaries have holiday pay in June and the summer dip in July;
# purchases dip in summer and peak in December; revenues follow activity.
SALARY_PROFILE = np.array([1.0, 0.97, 1.0, 0.99, 1.0, 1.12, 0.72, 0.93, 1.02, 1.03, 1.02, 1.05])
PURCHASE_PROFILE = np.array([0.95, 0.96, 1.0, 1.0, 1.01, 0.98, 0.88, 0.92, 1.02, 1.04, 1.05, 1.19])
REVENUE_PROFILE = np.array([1.02, 1.02, 1.04, 1.0, 1.0, 0.96, 0.82, 0.92, 1.04, 1.06, 1.05, 1.07])
FLAT_PROFILE = np.ones(12)


def sample_budget() -> dict:
    return sample_parameters(SEED_FILE)


def result_budget_frame(seed: dict) -> pd.DataFrame:
    """The result budget sheet as numbers: area total rows first, then the services.

    Area totals are the sums of their services and every margin is Tulot + Menot,
    except where the seed keeps a figure as the document printed it
    (`stated_area_margins`). An area that is its own single service has only
    its total rows.
    """
    rb = seed["result_budget"]
    units = []
    for area in structure().sheet_areas:
        values = rb["services"][area.name]
        services = [(s.source_spelling, *values[s.name]) for s in area.services]
        total = np.sum([v[1:5] for v in services], axis=0)
        units.append((area.name, "", *total, services[0][5] if not structure().has_own_services(area) else ""))
        if structure().has_own_services(area):
            units += [(area.name, *v) for v in services]
    rows = []
    for area, service, tp, mp, t, m, expl in units:
        rows += [
            (area, service, "Tulot", tp, t, expl),
            (area, service, "Menot", mp, m, ""),
            (area, service, "Toimintakate", tp + mp, t + m, ""),
        ]
    df = _with_changes(pd.DataFrame(rows, columns=["area", "service", "line", "tb_prev", "tb", "explanation"]))
    for area, stated in (rb.get("stated_area_margins") or {}).items():
        # As printed: only the figure itself is wrong, its change columns are the document's (correct) ones.
        cell = df["area"].eq(area) & df["service"].eq("") & df["line"].eq("Toimintakate")
        for column, value in stated.items():
            df.loc[cell, column] = value
    return df


def _with_changes(df: pd.DataFrame) -> pd.DataFrame:
    """Muutos € and % under the published convention (expenses: growth of |Menot|)."""
    df = df.copy()
    is_exp = df["line"].eq("Menot")
    df["change_eur"] = np.where(is_exp, df["tb"].abs() - df["tb_prev"].abs(), df["tb"] - df["tb_prev"])
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = df["change_eur"] / df["tb_prev"].abs() * 100
    df["change_pct"] = pct.where(df["tb_prev"].ne(0)).round(1)
    return df


def council_budget_frame(seed: dict) -> pd.DataFrame:
    """Long-form council budget with every derived line recomputed from its parts."""
    items = seed["council_budget"]
    st = structure()
    rows = []
    for item in st.budget_items:
        for version, lines in items[item].items():
            rows.append({"item": item, "version": version, **lines})
    df = pd.DataFrame(rows)
    # The sector carries its own financing lines; its operating lines and
    # depreciation are the sums of its items for every version they carry.
    sector = pd.DataFrame([{"version": v, **lines} for v, lines in items[st.sector].items()]).set_index("version")
    sums = df.groupby("version")[["Toimintatulot", "Toimintamenot", "Poistot"]].sum(min_count=1)
    for col in sums.columns:
        stated = sector[col] if col in sector else pd.Series(np.nan, index=sector.index)
        sector[col] = stated.combine_first(sums[col].reindex(sector.index))
    df = pd.concat([sector.reset_index().assign(item=st.sector), df], ignore_index=True)
    df["Toimintakate"] = df["Toimintatulot"] + df["Toimintamenot"]
    has_fin = df.get("Valtion rahoitus", pd.Series(np.nan, index=df.index)).notna()
    df["Vuosikate"] = (df["Toimintakate"] + df["Valtion rahoitus"] + df["Rahoitustulot"].fillna(0)).where(has_fin)
    base = df["Vuosikate"].where(has_fin, df["Toimintakate"])
    df["Tilikauden tulos"] = (base + df["Poistot"]).where(df["Poistot"].notna())
    lines = sources()["council_budget"].lines
    long = df.melt(id_vars=["item", "version"], value_vars=list(lines), var_name="line", value_name="amount").dropna(
        subset=["amount"]
    )
    long["_v"] = long["version"].map({v: i for i, v in enumerate(dict.fromkeys(df["version"]))})
    long["_i"] = long["item"].map({n: i for i, n in enumerate([st.sector, *st.budget_items])})
    long["_l"] = long["line"].map({n: i for i, n in enumerate(lines)})
    long = long.sort_values(["_i", "_v", "_l"]).drop(columns=["_i", "_v", "_l"])
    year = seed["result_budget"]["year"]
    long["binding"] = np.where(
        (long["item"] == st.sector) & (long["version"] == f"TA {year}") & (long["line"] == "Toimintakate"), "kyllä", ""
    )
    return long.reset_index(drop=True)


def annual_targets(seed: dict, year: int) -> pd.DataFrame:
    """Annual revenues and expenses (€) per service that the sample ledger lands near.

    Each service gets a deterministic over- or underrun against its budget so the
    report has something to say; HUS follows its council budget.
    """
    rb = seed["result_budget"]
    col_t, col_m = (2, 3) if year == rb["year"] else (0, 1)
    rows = []
    for area in structure().areas:
        for s in area.services:
            if area.budget_from_council:
                v = seed["council_budget"][area.budget_item][f"TA {year}"]
                t, m = v.get("Toimintatulot", 0), v["Toimintamenot"]
            else:
                vals = rb["services"][area.name][s.name]
                t, m = vals[col_t], vals[col_m]
            rng = np.random.default_rng(seed_of("target", year, s.code))
            rows.append(
                {
                    "area": area.name,
                    # The ledger writes a name as the city's systems spell it.
                    "service": s.source_spelling,
                    "code": s.code,
                    "tulot": t * 1000 * rng.uniform(0.94, 1.06),
                    "menot": m * 1000 * rng.uniform(0.97, 1.045),
                }
            )
    return pd.DataFrame(rows)


def ledger_frame(seed: dict, year: int, scale: int = 1) -> pd.DataFrame:
    """Monthly ledger rows (SAP sign, euros with cents) for one year, vectorised."""
    targets = annual_targets(seed, year)
    names = dict(accounts().accounts)
    # Areas budgeted by the council (HUS) are paid as purchases of services only.
    council = targets["area"].isin([a.name for a in structure().areas if a.budget_from_council])
    parts = []
    for rows, mix, col in (
        (targets[~council], REVENUE_MIX, "tulot"),
        (targets[~council], EXPENSE_MIX, "menot"),
        (targets[council], COUNCIL_ITEM_MIX, "menot"),
    ):
        p = rows.merge(pd.DataFrame({"account": list(mix), "share": list(mix.values())}), how="cross")
        p["annual"] = p[col] * p["share"]
        p["council"] = col == "menot" and mix is COUNCIL_ITEM_MIX
        parts.append(p[p["annual"].ne(0)])
    lines = pd.concat(parts, ignore_index=True)
    # Cost centres: 2-4 per service, times scale.
    n_cc = lines["code"].map(lambda c: 2 + seed_of("cc", c) % 3) * scale
    lines = lines.loc[lines.index.repeat(n_cc)].reset_index(drop=True)
    lines["cc_serial"] = lines.groupby(["code", "account"]).cumcount() + 1
    lines["cost_centre"] = lines["code"] + lines["cc_serial"].map("{:03d}".format)
    rng = np.random.default_rng(seed_of("ledger", year, scale))
    weights = rng.gamma(4.0, size=len(lines))
    lines["annual"] = (
        lines["annual"] * weights / lines.assign(w=weights).groupby(["code", "account"])["w"].transform("sum")
    )
    months = np.arange(1, 13)
    # Profile per line: 0 salaries, 1 purchases, 2 revenues, 3 flat (HUS).
    kind = np.select(
        [lines["council"], lines["account"].str.match(r"4[01]"), lines["account"].str.startswith("3")],
        [3, 0, 2],
        default=1,
    )
    profiles = np.stack([SALARY_PROFILE, PURCHASE_PROFILE, REVENUE_PROFILE, FLAT_PROFILE])[kind]
    profiles = profiles / profiles.sum(axis=1, keepdims=True)
    noise = rng.normal(1.0, 0.03, size=profiles.shape)
    monthly = lines["annual"].to_numpy()[:, None] * profiles * noise
    out = pd.DataFrame(
        {
            "Vuosi": year,
            "Kuukausi": np.tile(months, len(lines)),
            "Palvelukokonaisuus": np.repeat(lines["area"].to_numpy(), 12),
            "Palvelu": np.repeat(lines["service"].to_numpy(), 12),
            "Kustannuspaikka": np.repeat(lines["cost_centre"].to_numpy(), 12),
            "Tili": np.repeat(lines["account"].to_numpy(), 12),
            # Report sign to SAP sign: revenues negative, expenses positive.
            "cents": -np.round(monthly.ravel() * 100).astype("int64"),
        }
    )
    out["Tilin nimi"] = out["Tili"].map(names)
    return out.sort_values(["Kuukausi", "Kustannuspaikka", "Tili"], kind="stable").reset_index(drop=True)


def write_ledger(out: Path, ledger: pd.DataFrame, year: int, sample_year: int) -> list[Path]:
    """One file per month; the previous year's files are Windows-1252 with plain numbers,
    the current year's UTF-8 with BOM, no-break-space grouping and U+2212 minus."""
    src, ctl = sources()["ledger"], sources()["ledger_control"]
    modern = year == sample_year
    written = []
    for month, part in ledger.groupby("Kuukausi", sort=True):
        cents = part["cents"]
        amount = format_fi(cents / 100, 2, group="\u00a0" if modern else "", minus="\u2212" if modern else "-")
        frame = part[
            ["Vuosi", "Kuukausi", "Palvelukokonaisuus", "Palvelu", "Kustannuspaikka", "Tili", "Tilin nimi"]
        ].assign(Summa=amount)
        path = out / src.file_name(year, int(month))
        if modern:
            write_csv(path, frame, "utf-8-sig", trailing="\n")
        else:
            write_csv(path, frame, "cp1252", newline="\r\n")
        total = format_fi(pd.Series([cents.sum() / 100]), 2).iloc[0]
        control = pd.DataFrame({ctl.columns[0].name: [len(part)], ctl.columns[1].name: [total]})
        write_csv(out / ctl.file_name(year, int(month)), control, "utf-8")
        written.append(path)
    return written


def write_result_budget(out: Path, seed: dict) -> Path:
    """The hand-kept sheet: Windows-1252, area names in capitals as in table 5,
    spaces as thousands separators and percentages like `4,6 %`."""
    df = result_budget_frame(seed)
    sheet = pd.DataFrame(
        {
            "Palvelukokonaisuus": df["area"].str.upper(),
            "Palvelu": df["service"],
            "Rivi": df["line"],
            "TB_edellinen": format_fi(df["tb_prev"], 0, group=" "),
            "TB": format_fi(df["tb"], 0, group=" "),
            "Muutos_eur": format_fi(df["change_eur"], 0, group=" "),
            "Muutos_pct": (format_fi(df["change_pct"].fillna(0), 1) + " %").where(df["change_pct"].notna(), ""),
            "Selitys": df["explanation"],
        }
    )
    path = out / sources()["result_budget"].file_name(seed["result_budget"]["year"])
    write_csv(path, sheet, "cp1252", newline="\r\n")
    return path


def write_council_budget(out: Path, seed: dict) -> Path:
    df = council_budget_frame(seed)
    sheet = pd.DataFrame(
        {
            "Talousarviokohta": df["item"],
            "Versio": df["version"],
            "Rivi": df["line"],
            "Summa": format_fi(df["amount"], 0),
            "Sitova": df["binding"],
        }
    )
    path = out / sources()["council_budget"].file_name(seed["result_budget"]["year"])
    write_csv(path, sheet, "utf-8")
    return path
