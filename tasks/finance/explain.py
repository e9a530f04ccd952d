"""Why the finances deviate: drafts in plain official Finnish, written from the ledger, for the controller to edit.

Every subject whose forecast deviates from TB by at least the threshold of
settings.yaml (the sector, a service area, a service) gets a draft: how far
the forecast is from TB and in which direction, which line (revenues,
expenses) carries it, how the year to date compares with the budget to date,
and which account groups drive it against the same months of the previous
year. The controller's own text, when the commentary gives one, is what the
report shows; the draft stays beside it in the workbook, and a draft no one
reviewed is marked so.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from reports import fmt
from tasks.contracts import settings, structure
from tasks.contracts.vocab import EXPENSES, MARGIN, REVENUE
from tasks.finance.followup import Finance

# Smaller line deviations than this are not worth a clause of their own.
_LINE_NOTICE_EUR = 50_000


@dataclass(frozen=True)
class Explanation:
    """The words beside one subject's figures: the controller's, or katsaus's draft until someone reviews it."""

    area: str  # "" for the sector
    service: str  # "" for an area or the sector
    subject: str
    level: str  # sector, area or service
    deviation: float
    deviation_pct: float | None
    draft: str
    text: str
    reviewed: bool

    @property
    def source(self) -> str:
        """Who wrote the text the report shows: `controller` or `draft` (the manifest's word)."""
        return "controller" if self.reviewed else "draft"


def _pct(value: float) -> str:
    """A share in running text: whole percent from ten up, one decimal below (`12 %`, `2,4 %`)."""
    return fmt.pct(abs(value), 0 if abs(value) >= 10 else 1)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lower_first(name: str) -> str:
    """A group's name inside a sentence: `henkilöstökulut` (an acronym keeps its capitals)."""
    return name if name[1:2].isupper() else name[:1].lower() + name[1:]


def deviation_sentence(deviation: float, deviation_pct: float | None) -> str:
    """`Toimintakatteen ennuste on 3,0 milj. euroa (2,1 %) tulosbudjettia heikompi.`"""
    if abs(deviation) < 500:
        return "Toimintakatteen ennuste vastaa tulosbudjettia."
    share = f" ({_pct(deviation_pct)})" if deviation_pct is not None and not pd.isna(deviation_pct) else ""
    better = "parempi" if deviation > 0 else "heikompi"
    return f"Toimintakatteen ennuste on {fmt.euros(deviation)}{share} tulosbudjettia {better}."


def lines_sentence(revenue_dev: float | None, expense_dev: float | None) -> str:
    """Which line carries the deviation: `Menojen ennuste ylittää tulosbudjetin 4,2 milj. eurolla ja tulojen
    ennuste alittaa sen 0,3 milj. eurolla.` Revenues above TB and expenses below it are to the good."""
    clauses = []
    for name, dev, more_is_over in (("menojen", expense_dev, False), ("tulojen", revenue_dev, True)):
        if dev is None or pd.isna(dev) or abs(dev) < _LINE_NOTICE_EUR:
            continue
        # Expenses are negative in the report's sign: a larger expense is a negative deviation.
        over = dev > 0 if more_is_over else dev < 0
        clauses.append((name, "ylittää" if over else "alittaa", fmt.euros(dev, "adessive")))
    if not clauses:
        return ""
    first = f"{clauses[0][0]} ennuste {clauses[0][1]} tulosbudjetin {clauses[0][2]}"
    if len(clauses) == 1:
        return _sentence(first) + "."
    return _sentence(f"{first} ja {clauses[1][0]} ennuste {clauses[1][1]} sen {clauses[1][2]}") + "."


def to_date_sentence(ytd: float, tb_to_date: float, year: int, month: int) -> str:
    """`Tammi–elokuussa 2024 toteuma on 2,0 milj. euroa jaksotettua tulosbudjettia heikompi.`"""
    if pd.isna(ytd) or pd.isna(tb_to_date):
        return ""
    gap = ytd - tb_to_date
    when = _sentence(fmt.period(year, month, "inessive"))
    if abs(gap) < 500:
        return f"{when} toteuma vastaa jaksotettua tulosbudjettia."
    return f"{when} toteuma on {fmt.euros(gap)} jaksotettua tulosbudjettia {'parempi' if gap > 0 else 'heikompi'}."


def drivers_sentence(groups: pd.DataFrame, deviation: float, year: int, month: int, limit: int) -> str:
    """The account groups behind the deviation, against the same months of the previous year.

    `groups`: `line`, `group`, `ytd`, `prev_ytd` (report sign: revenues
    positive, expenses negative). With the forecast worse than TB, the groups
    that weakened the margin most (expenses grown, revenues fallen) are named;
    with it better, those that strengthened it.
    """
    if groups.empty or not groups["prev_ytd"].ne(0).any():
        return "Edellisen vuoden vertailutietoa samoilta kuukausilta ei ole."
    by = groups.groupby(["line", "group"], as_index=False)[["ytd", "prev_ytd"]].sum()
    by["change"] = by["ytd"] - by["prev_ytd"]  # effect on the margin
    worse = deviation < 0
    drivers = by[by["change"].lt(-500) if worse else by["change"].gt(500)]
    drivers = drivers.sort_values("change", ascending=worse).head(limit)
    when = fmt.period(year, month, "inessive", with_year=False)
    if drivers.empty:
        state = "edellisvuoden tasolla tai sitä paremmat" if worse else "edellisvuoden tasolla tai sitä heikommat"
        return f"Tiliryhmät ovat {when} {state}, joten poikkeama johtuu tulosbudjetin mitoituksesta."
    items = []
    for i, row in enumerate(drivers.itertuples()):
        grew = abs(row.ytd) > abs(row.prev_ytd)
        size = fmt.comparative("suurempi" if grew else "pienempi", plural=True)
        share = f" ({_pct(row.change / row.prev_ytd * 100)})" if row.prev_ytd else " (edellisvuonna ei kirjauksia)"
        name = row.group if i == 0 else _lower_first(row.group)
        if i == 0:
            items.append(f"{name} ovat {when} {fmt.euros(row.change)}{share} edellisvuotta {size}")
        else:
            items.append(f"{name} {fmt.euros(row.change)}{share} {size}")
    listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " ja " + items[-1]
    return listed + "."


def draft_explanation(table: pd.DataFrame, groups: pd.DataFrame, area: str, service: str, year: int, month: int) -> str:
    """The draft for one subject (`area`, `service`; both empty for the sector), in sentences."""
    rows = table[table["area"].eq(area) & table["service"].eq(service)]
    level = "sector" if not area else ("area" if not service else "service")
    rows = rows[rows["level"].eq(level)].set_index("line")
    if MARGIN not in rows.index:
        return ""
    margin = rows.loc[MARGIN]
    mine = groups
    if area:
        mine = mine[mine["area"].eq(area)]
    if service:
        mine = mine[mine["service"].eq(service)]
    parts = [deviation_sentence(margin["deviation"], margin["deviation_pct"])]
    if level != "service":
        # A service's draft is short: its area's says how the lines and the budget to date stand.
        parts.append(
            lines_sentence(
                rows["deviation"].get(REVENUE) if REVENUE in rows.index else None,
                rows["deviation"].get(EXPENSES) if EXPENSES in rows.index else None,
            )
        )
        parts.append(to_date_sentence(margin["ytd"], margin["tb_to_date"], year, month))
    parts.append(drivers_sentence(mine, margin["deviation"], year, month, settings().explanation_drivers))
    return " ".join(p for p in parts if p)


def explanation_subjects(table: pd.DataFrame) -> pd.DataFrame:
    """The sector's, areas' and services' margin rows whose deviation passes the threshold, in the table's order.

    A service that is its own area (HUS-yhtymä) is the area's subject only."""
    cfg = settings()
    margin = table[table["line"].eq(MARGIN)]
    st = structure()
    own = {a.name for a in st.areas if st.has_own_services(a)}
    margin = margin[~(margin["level"].eq("service") & ~margin["area"].isin(own))]
    passes = margin["deviation"].abs().ge(cfg.explanation_threshold_eur) | margin["deviation_pct"].abs().ge(
        cfg.explanation_threshold_pct
    )
    return margin[passes.fillna(False)]


def subject_name(area: str, service: str) -> str:
    return service or area or structure().sector


def explanations(fin: Finance, year: int, month: int, controller: pd.DataFrame | None = None) -> list[Explanation]:
    """Every subject that needs an explanation (or that the controller explained): its text, and whose it is.

    `controller`: the commentary's `Selitykset` rows (`area`, `service`,
    `indicator`, `text`); rows about an indicator are the goals' own.
    """
    table = fin.table
    wanted = explanation_subjects(table)[["area", "service"]]
    written = {}
    if controller is not None and len(controller):
        rows = controller[controller["indicator"].fillna("").eq("")]
        written = {(r.area, r.service): str(r.text).strip() for r in rows.itertuples() if str(r.text).strip()}
        extra = pd.DataFrame(list(written), columns=["area", "service"])
        wanted = pd.concat([wanted, extra], ignore_index=True).drop_duplicates()
    margin = table[table["line"].eq(MARGIN)]
    out = []
    for area, service in wanted.itertuples(index=False):
        level = "sector" if not area else ("area" if not service else "service")
        row = margin[margin["area"].eq(area) & margin["service"].eq(service) & margin["level"].eq(level)]
        if row.empty:
            continue
        r = row.iloc[0]
        draft = draft_explanation(table, fin.groups, area, service, year, month)
        text = written.get((area, service), "")
        pct = None if pd.isna(r["deviation_pct"]) else float(r["deviation_pct"])
        out.append(
            Explanation(
                area,
                service,
                subject_name(area, service),
                level,
                float(r["deviation"]),
                pct,
                draft,
                text or draft,
                bool(text),
            )
        )
    # The sector first, then the table's order of areas and their services.
    order = {(a, s): i for i, (a, s) in enumerate(zip(margin["area"], margin["service"]))}
    return sorted(out, key=lambda e: -1 if e.level == "sector" else order.get((e.area, e.service), len(order)))


def largest_overruns(table: pd.DataFrame, limit: int = 3) -> list[tuple[str, float]]:
    """The units (services, and areas that are their own service) that weaken the sector's margin most."""
    st = structure()
    own = {a.name for a in st.areas if st.has_own_services(a)}
    margin = table[table["line"].eq(MARGIN)]
    units = margin[
        (margin["level"].eq("service") & margin["area"].isin(own))
        | (margin["level"].eq("area") & ~margin["area"].isin(own))
    ]
    worst = units[units["deviation"].lt(-500)].sort_values("deviation").head(limit)
    return [
        (subject_name(r.area, r.service if r.level == "service" else ""), float(r.deviation))
        for r in worst.itertuples()
    ]
