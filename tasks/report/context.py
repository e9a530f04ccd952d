"""What the board report shows: everything the template needs, already shaped, from the stages' results (pure).

`report_context` takes `ReportInputs` (the period, the finances, the
reconciliation, the sources' statuses, the goals and the city comparison) and
returns a plain dict; numbers stay numbers for the template's Finnish filters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from reports import fmt
from tasks.contracts import settings, sources, structure
from tasks.contracts.catalog import catalog
from tasks.contracts.vocab import (
    ANNUAL,
    BUDGET_LINES,
    FORECAST,
    KIND_TITLES,
    MARGIN,
    MET,
    RISK,
    SOURCE_OK,
    STATUSES,
    UNREVIEWED,
    Period,
)
from tasks.finance.explain import Explanation, largest_overruns
from tasks.finance.followup import Finance, area_margins
from tasks.finance.reconcile import DEVIATION, MISSING, Reconciliation
from tasks.goals.measure import LEVEL_MONTHS
from tasks.goals.results import GoalResults
from tasks.goals.sotkanet import Comparison, sotkanet_settings
from tasks.goals.spc import RUN_LENGTH
from tasks.goals.unit_tables import UNIT_TABLES
from tasks.ingest.commentary import Commentary
from tasks.ingest.quality import SourceStatus
from tasks.report.charts import DRAWN, MARKS, Charts

CHECK_TITLES_FI = {
    "tb_toimintakate": "Tulosbudjetti: toimintakate = tulot + menot",
    "tb_palvelut_yhteensa": "Tulosbudjetti: palvelukokonaisuus = palvelujen summa",
    "tb_muutos_eur": "Tulosbudjetti: muutos €",
    "tb_muutos_pct": "Tulosbudjetti: muutos %",
    "ta_toimintakate": "Talousarvio: toimintakate = tulot + menot",
    "ta_vuosikate": "Talousarvio: vuosikate",
    "ta_tilikauden_tulos": "Talousarvio: tilikauden tulos",
    "ta_toimiala_kohdat": "Talousarvio: toimiala = talousarviokohtien summa",
    "paakirja_kontrolli": "Pääkirja: kontrollitiedosto (rivit ja summa)",
    "paakirja_palvelut_palvelukokonaisuus": "Pääkirja: palvelut = palvelukokonaisuus",
    "paakirja_toimiala": "Pääkirja: palvelukokonaisuudet = toimiala",
    "paakirja_varasto": "Pääkirja: tietovaraston rivit = tiedoston rivit",
    "paakirja_palvelu_budjetissa": "Pääkirja: palvelu löytyy rakenteesta ja budjetista",
    "sitova_taso": "Sitova taso (toimintakate)",
}


@dataclass(frozen=True)
class ReportInputs:
    """Everything a report is made of: the period and kind, and the stages' results."""

    year: int
    month: int
    kind: str
    report_date: dt.date
    finance: Finance
    reconciliation: Reconciliation
    sources: list[SourceStatus]
    goals: GoalResults | None = None
    comparison: Comparison | None = None
    notes: list[str] = field(default_factory=list)
    # Why the finances deviate: one explanation per subject (the controller's or a draft).
    explanations: list[Explanation] = field(default_factory=list)
    # The controller's commentary workbook as read (absent, used or refused).
    commentary: Commentary = field(default_factory=lambda: Commentary("absent"))
    # The board meeting the report goes to (the cover shows the preparation date without one).
    meeting_date: dt.date | None = None


def report_title(kind: str, month: int) -> str:
    title = KIND_TITLES[kind]
    if kind == FORECAST and month in settings().forecast_months:
        return f"{settings().forecast_months.index(month) + 1}. toteutumisennuste"
    return title


def report_heading(kind: str, year: int, month: int) -> tuple[str, str]:
    """The report's title with its year and the period it covers: (`3. toteutumisennuste 2024`,
    `tammi–elokuu 2024`), as messages and the UI name it."""
    return f"{report_title(kind, month)} {year}", fmt.period(year, month)


# CSS class of each assessment (colour is never the only cue: the text is always there).
STATUS_CLASS = {"toteutuu": "met", "riski": "risk", "ei toteudu": "missed", "ei arvioitavissa": "unknown"}
SUPPRESSED = ".."


def _value(v: float | None, row: dict, decimals: int | None = None) -> str:
    shown = int(row["decimals"]) if decimals is None else decimals
    return fmt.measure(None if v is None or pd.isna(v) else float(v), row["unit"], shown)


def decimals_to_tell(value: float | None, target: float | None, decimals: int) -> int:
    """As many decimals as the comparison with the target needs: 0,148 against a target of 0,15 is not `0,15`."""
    if value is None or target is None or pd.isna(value) or pd.isna(target):
        return decimals
    for d in range(decimals, decimals + 4):
        if round(float(value), d) != round(float(target), d) or float(value) == float(target):
            return d
    return decimals + 3


def level_note(row: dict, chart: pd.DataFrame | None, year: int) -> str:
    """Said when the year-end forecast is better than every one of the last months (the seasonal method assumes
    last year's autumn will come again): the reader should not take it for the current level."""
    if chart is None or row.get("frequency") != "monthly" or row.get("final") or row["kind"] not in ("ratio", "values"):
        return ""
    forecast = row.get("forecast")
    recent = chart[chart["year"] == year].dropna(subset=["value"]).sort_values("month").tail(LEVEL_MONTHS)
    if forecast is None or pd.isna(forecast) or len(recent) < LEVEL_MONTHS:
        return ""
    best = recent["value"].max() if row["direction"] == "higher" else recent["value"].min()
    better = forecast > best if row["direction"] == "higher" else forecast < best
    if not better or round(float(forecast), int(row["decimals"])) == round(float(best), int(row["decimals"])):
        return ""
    lo, hi = recent["value"].min(), recent["value"].max()
    level = (
        _value(lo, row)
        if round(lo, int(row["decimals"])) == round(hi, int(row["decimals"]))
        else (f"{fmt.number(lo, int(row['decimals']))}–{_value(hi, row)}")
    )
    target = catalog().indicator(row["id"]).target
    now = recent["value"].mean()
    if target.value is not None and target.met_by(now):
        then = "Nykyiselläkin tasolla tavoite toteutuisi."
    elif row["status"] in (MET, RISK):
        then = "Jos nykyinen taso jatkuu, tavoite ei toteudu."
    else:
        then = "Jos nykyinen taso jatkuu, tavoite jää saavuttamatta selvemmin."
    return (
        f"Ennuste on viimeisten {fmt.numeral(LEVEL_MONTHS, 'genitive')} kuukauden tasoa ({level}) parempi, koska "
        f"se olettaa edellisen vuoden loppuvuoden kausivaihtelun toistuvan. {then}"
    )


def indicator_view(row: dict, chart: pd.DataFrame | None, year: int, month: int, charts: Charts) -> dict:
    """One indicator as the report shows it: texts already formatted (as many decimals as the comparison with the
    target needs), its risk band, the chart drawn (by `charts`)."""
    baseline = row["baseline"]
    has_baseline = baseline is not None and not pd.isna(baseline)
    target = row.get("target")
    band = row.get("risk_band")
    has_band = band is not None and not pd.isna(band) and band > 0 and target is not None and not pd.isna(target)
    return {
        **row,
        "baseline_fi": f"{_value(baseline, row)} ({row['baseline_period']})"
        if has_baseline
        else (row["baseline_text"] or fmt.MISSING),
        "actual_fi": SUPPRESSED
        if row["suppressed"]
        else _value(row["actual"], row, decimals_to_tell(row["actual"], target, int(row["decimals"]))),
        "forecast_fi": SUPPRESSED
        if row["suppressed"]
        else _value(row["forecast"], row, decimals_to_tell(row["forecast"], target, int(row["decimals"]))),
        "baseline_value_fi": _value(baseline, row) if has_baseline else "",
        # The chart's caption names the unit, unless the unit is the measure's own name (NPS).
        "unit_caption": "" if row["unit"] in (*fmt.BARE_UNITS, fmt.MILESTONE_UNIT) else row["unit"],
        "risk_fi": f"riski, jos ennuste jää tavoitteesta enintään {_value(band, row)}" if has_band else "",
        "level_note": level_note(row, chart, year),
        "status_class": STATUS_CLASS[row["status"]],
        "chart": charts.indicator(chart, row, year, month),
        # What the chart draws, for the content fingerprint (the picture's bytes are not content).
        "chart_data": chart_points(chart),
    }


def chart_points(chart: pd.DataFrame | None) -> list[list]:
    """A chart's points as plain numbers: year, month, value (rounded so that float noise is not a change)."""
    if chart is None or chart.empty:
        return []
    c = chart.dropna(subset=["value"])
    points = pd.DataFrame(
        {
            "year": c["year"].astype("int64"),
            "month": c["month"].astype("int64") if "month" in c else 0,
            "value": c["value"].astype("float64").round(9),
        }
    )
    return points.to_numpy(dtype=object).tolist()


# What is expected of a goal, in the sentence "… yhden arvioidaan toteutuvan ja kolmen jäävän toteutumatta".
_EXPECTED = {"toteutuu": "toteutuvan", "riski": "olevan riskissä", "ei toteudu": "jäävän toteutumatta"}


def goal_sentence(counts: dict[str, int]) -> str:
    """The summary's sentence on the binding goals, numbers below ten in words:
    `Neljästä sitovasta toiminnan tavoitteesta yhden arvioidaan toteutuvan ja kolmen jäävän toteutumatta.`"""
    total = sum(counts.values())
    if not total:
        return ""
    assessed = [(n, _EXPECTED[s]) for s, n in counts.items() if n and s in _EXPECTED]
    unknown = counts.get(STATUSES[-1], 0)
    sentences = []
    if len(assessed) == 1 and not unknown:
        n, expected = assessed[0]
        whole = f"Kaikkien {fmt.numeral(n, 'genitive')} sitovan" if n > 1 else "Sitovan"
        sentences.append(f"{whole} toiminnan tavoitteen arvioidaan {expected}.")
    elif assessed:
        parts = [f"{fmt.numeral(n, 'genitive')} {expected}" for n, expected in assessed]
        first, *rest = parts
        first = first.replace(" ", " arvioidaan ", 1)
        listed = first if not rest else f"{', '.join([first, *rest[:-1]])} ja {rest[-1]}"
        whole = fmt.numeral(total, "elative")
        sentences.append(f"{whole[0].upper()}{whole[1:]} sitovasta toiminnan tavoitteesta {listed}.")
    if unknown:
        which = fmt.numeral(unknown, "partitive")
        noun = "tavoitetta" if assessed else "sitovaa toiminnan tavoitetta"
        sentences.append(f"{which[0].upper()}{which[1:]} {noun} ei voida vielä arvioida.")
    return " ".join(sentences)


def goals_context(ind: GoalResults, year: int, month: int, sources: list[dict], charts: Charts) -> dict:
    """Goals with their indicators, the unit tables of their sources (or why one is missing), and the counts by
    assessment.
    """
    results = {r["id"]: r for r in _records(ind.results)}
    tables = ind.tables
    status = {s["source"]: s for s in sources}
    goals = []
    actions = {}
    for a in ind.actions:
        actions.setdefault(a.goal, []).append(
            {"number": a.number, "action": a.action, "status": a.status, "comment": a.comment, "reviewed": a.reviewed}
        )
    for g in _records(ind.goals):
        views = [indicator_view(results[i], ind.charts.get(i), year, month, charts) for i in g["indicators"]]
        for v in views:
            note = ind.notes.get(v["id"])
            v["note"] = {"text": note.text, "reviewed": note.reviewed} if note else None
        # Personnel's table is the staffing section's own; a goal shows the other sources' tables.
        own = [
            src
            for src in dict.fromkeys(catalog().indicator(i).source for i in g["indicators"])
            if src in UNIT_TABLES and src != "personnel"
        ]
        goals.append(
            {
                **g,
                "status_class": STATUS_CLASS[g["status"]],
                "views": views,
                "tables": [src for src in own if src in tables],
                "action_rows": actions.get(g["id"], []),
                "missing_tables": [status[src] for src in own if src not in tables and src in status],
            }
        )
    counts = ind.status_counts()
    return {
        "goals": goals,
        # The charts' colours, for the legend under the first chart.
        "marks": {name: style["color"] for name, style in MARKS.items()},
        "goal_sentence": goal_sentence(counts),
        "binding_goals": int(ind.goals["binding"].sum()),
        "unit_tables": {k: _records(v) for k, v in tables.items()},
        "turnover": next(
            (
                indicator_view(results[i], None, year, month, charts)
                for i in results
                if catalog().indicator(i).source == "personnel"
            ),
            None,
        ),
    }


COMPARISON_MISSING = (
    "Vertailutieto suurimpiin kaupunkeihin puuttuu: THL Sotkanetin tietoja ei saatu raporttia laadittaessa."
)


def comparison_context(comparison: Comparison | None) -> dict:
    """The comparison with the largest cities: one row per THL indicator, one column per city."""
    if comparison is None:
        return {"available": False, "problems": [], "rows": [], "cities": [], "as_of": None}
    cities = list(sotkanet_settings().cities)
    frame = comparison.frame
    rows = []
    for (_, title), part in frame.groupby(["indicator_id", "indicator"], sort=False):
        by_city = part.set_index("city")
        unit = part["unit"].dropna().iloc[0] if part["unit"].notna().any() else ""
        rows.append(
            {
                "indicator": title,
                "unit": unit,
                "cells": [
                    fmt.number(float(by_city.loc[c, "value"]), 1)
                    if c in by_city.index and pd.notna(by_city.loc[c, "value"])
                    else fmt.MISSING
                    for c in cities
                ],
                "years": sorted({int(y) for y in part["year"].dropna()}),
            }
        )
    if not rows:
        # Why the service failed (host, attempts) is for the log; the board reads one stable sentence,
        # so an outage of another kind does not make a new version of the same report.
        return {"available": False, "problems": [COMPARISON_MISSING], "rows": [], "cities": cities, "as_of": None}
    return {
        "available": True,
        "problems": list(comparison.problems),
        "rows": rows,
        "cities": cities,
        # Only an answer older than the run is dated: a fresh one would make every day's report a new version.
        "as_of": fmt.date(comparison.as_of) if comparison.as_of else None,
    }


def _measure(check: str, column: str) -> str:
    """The unit of a reconciliation row: budgets in 1 000 €, the ledger in euros, counts in rows."""
    if column == "Rivimaara":
        return "riviä"
    if check.startswith("paakirja"):
        return "€"
    if column == "Muutos_pct":
        return "%-yks."
    return "1\u00a0000\u00a0€"


def _records(df: pd.DataFrame) -> list[dict]:
    return df.astype(object).where(df.notna(), None).to_dict("records")


def approval_stamp(approved_by: str | None, approved_at: dt.datetime | None, comment: str = "") -> dict:
    """The cover's approval keys: a draft until somebody approves it."""
    return {
        "draft": approved_by is None,
        "approved_by": approved_by,
        "approved_at": fmt.date(approved_at.date()) if approved_at else None,
        "approval_comment": comment,
    }


def proposal_default(kind: str, year: int, month: int) -> str:
    """The decision proposal when the controller gave none: the board takes note of (or approves) the report."""
    if kind == ANNUAL:
        return f"Lautakunta hyväksyy toimialan toimintakertomuksen vuodelta {year}."
    if kind == FORECAST:
        return f"Lautakunta merkitsee tiedoksi toimialan vuoden {year} {report_title(kind, month).lower()}en."
    when = fmt.period(year, month, "inessive")
    return f"Lautakunta merkitsee tiedoksi toimialan talouden ja toiminnan toteutumisen {when}."


def decision_context(inp: ReportInputs) -> dict:
    """Page two's box: what the board is asked to decide, and what follows if the binding level is exceeded."""
    fin, commentary = inp.finance, inp.commentary
    proposal = commentary.proposal if commentary.used else []
    sector = fin.sector_margin()
    overrun = None
    if fin.binding_level is not None and sector is not None and not pd.isna(sector["forecast"]):
        gap = float(sector["forecast"]) - fin.binding_level
        overrun = -gap if gap < 0 else None
    margin = area_margins(fin.table)
    transfers = commentary.transfers
    # Appropriation moved into an area raises its result budget, so its deviation improves by the same amount.
    net_in = (
        transfers.groupby("to_area")["amount"]
        .sum()
        .sub(transfers.groupby("from_area")["amount"].sum(), fill_value=0)
        .reindex(margin.index, fill_value=0.0)
    )
    over = margin["over"]
    shown = margin[over | net_in.ne(0)]
    return {
        "proposal": proposal or [proposal_default(inp.kind, inp.year, inp.month)],
        "proposal_reviewed": bool(proposal),
        "overrun": overrun,
        "measures": commentary.measures,
        "areas_over": [{"name": a, "deviation": float(d)} for a, d in margin.loc[over, "deviation"].items()],
        "transfers": _records(transfers[["from_area", "to_area", "amount", "reason"]]),
        "after_transfers": [
            {"name": a, "deviation": float(d), "transferred": float(net_in[a]), "after": float(d + net_in[a])}
            for a, d in shown["deviation"].items()
        ],
    }


def _explanation_view(e: Explanation) -> dict:
    return {"subject": e.subject, "level": e.level, "text": e.text, "reviewed": e.reviewed, "deviation": e.deviation}


def finance_context(inp: ReportInputs, charts: Charts) -> dict:
    """The finances' words and figures: explanations by area, lines by area, the forecast's bridge, the chart."""
    st = structure()
    fin = inp.finance
    t = fin.table
    explained = {}
    for e in inp.explanations:
        explained.setdefault(e.area, []).append(_explanation_view(e))
    area_rows = t[t["level"].eq("area")]
    area_lines = []
    for area in st.areas:
        rows = area_rows[area_rows["area"].eq(area.name)].set_index("line").reindex(list(BUDGET_LINES))
        area_lines.append({"name": area.name, "lines": _records(rows.reset_index())})
    margins = area_rows[area_rows["line"].eq(MARGIN)]
    bridge_rows = t[t["line"].eq(MARGIN) & t["level"].isin(["area", "sector"])]
    adjustments = fin.adjustments
    sector_text = next((_explanation_view(e) for e in inp.explanations if e.level == "sector"), None)
    return {
        "sector_explanation": sector_text,
        "overruns": [{"name": n, "deviation": d} for n, d in largest_overruns(t)],
        "explanations": [{"area": a.name, "entries": explained.get(a.name, [])} for a in st.areas],
        "area_lines": area_lines,
        "bridge": _records(bridge_rows),
        "adjustments": _records(adjustments) if len(adjustments) else [],
        "previous_round": fin.previous_round,
        "deviation_chart": charts.deviation(list(margins["area"]), list(margins["deviation"].fillna(0.0)))
        if len(margins) and margins["deviation"].notna().any()
        else None,
        "unreviewed_mark": UNREVIEWED,
        "unreviewed": sum(not e.reviewed for e in inp.explanations),
        "commentary": {
            "status": inp.commentary.status,
            "status_fi": inp.commentary.status_fi,
            "file": inp.commentary.file.name if inp.commentary.file else None,
            "errors": inp.commentary.errors,
        },
        "prev_period": fmt.period(inp.year - 1, inp.month),
    }


def budget_document_notes(reconciliation: Reconciliation, table: pd.DataFrame) -> list[dict]:
    """Where the approved budget document's own arithmetic is wrong, the report's TB (recomputed) and the
    document's figure: a member holding the budget book is told why they differ."""
    rec = reconciliation.checks
    wrong = rec[
        rec["check"].isin(["tb_palvelut_yhteensa", "tb_toimintakate"])
        & rec["column"].eq("TB")
        & rec["status"].eq(DEVIATION)
    ]
    area_rows = table[table["level"].eq("area")].set_index(["area", "line"])["tb"]
    notes = []
    for (unit, line), part in wrong.groupby(["unit", "line"], sort=False):
        if (unit, line) not in area_rows.index:
            continue
        notes.append(
            {
                "area": unit,
                "line": line,
                "stated": float(part["stated"].iloc[0]) * 1000,
                "used": float(area_rows[(unit, line)]),
            }
        )
    return notes


def data_as_of(latest_period: str) -> str:
    """How recent a source's data are: the last day of its newest month (`31.8.2024`) or its year (`vuosi 2024`)."""
    if not latest_period:
        return fmt.MISSING
    if len(latest_period) == 4:
        return f"vuosi {latest_period}"
    return fmt.date(Period.parse(latest_period).end)


def source_list(statuses: list[SourceStatus]) -> list[dict]:
    """The report's sources for its appendix: what each is, where it comes from, which files were read and how
    recent their data are."""
    out = []
    for s in statuses:
        src = sources()[s.source]
        out.append(
            {
                "title": s.title,
                "system": src.system,
                "files": s.files_text,
                "as_of": data_as_of(s.latest_period),
                "status": s.status_fi,
            }
        )
    return out


def report_context(inp: ReportInputs, charts: Charts = DRAWN) -> dict:
    """Everything the template shows, already shaped; numbers stay numbers for the filters. The charts are drawn
    by `charts` (by default each anew)."""
    st = structure()
    fin = inp.finance
    t = fin.table
    margin = t[t["line"].eq(MARGIN)]
    sector_lines = t[t["level"].eq("sector")]
    sector = fin.sector_margin()
    sector_margin = _records(sector.to_frame().T)[0] if sector is not None else {}
    areas = []
    for area in st.areas:
        rows = margin[margin["area"].eq(area.name)]
        total = rows[rows["level"].eq("area")]
        areas.append(
            {
                "name": area.name,
                "total": _records(total)[0] if len(total) else None,
                "services": _records(rows[rows["level"].eq("service")]) if st.has_own_services(area) else [],
            }
        )
    rec = inp.reconciliation.checks
    deviations = rec[rec["status"].eq(DEVIATION)]
    checks = (
        rec.groupby("check", sort=False)["status"]
        .agg(
            total="size",
            deviations=lambda s: int((s == DEVIATION).sum()),
            missing=lambda s: int((s == MISSING).sum()),
        )
        .reset_index()
    )
    checks["title"] = checks["check"].map(CHECK_TITLES_FI).fillna(checks["check"])
    deviations = deviations.assign(
        title=deviations["check"].map(CHECK_TITLES_FI).fillna(deviations["check"]),
        measure=[_measure(c, col) for c, col in zip(deviations["check"], deviations["column"])],
        decimals=[
            0 if col == "Rivimaara" else (2 if c.startswith("paakirja") else 1)
            for c, col in zip(deviations["check"], deviations["column"])
        ],
    )
    methods = fin.methods.rename_axis("method").reset_index(name="count") if fin.methods is not None else pd.DataFrame()
    statuses = [{**s.as_dict(), "reused_text": s.reused_text} for s in inp.sources]
    missing = [s for s in statuses if s["status"] != SOURCE_OK]
    return {
        "city": st.city,
        "contact": settings().contact,
        "meeting_date": fmt.date(inp.meeting_date) if inp.meeting_date else None,
        "budget_notes": budget_document_notes(inp.reconciliation, t),
        "reconciled": {
            "total": len(rec),
            "deviations": len(inp.reconciliation.deviations),
            "missing": len(inp.reconciliation.missing),
        },
        "source_list": source_list(inp.sources),
        "board": st.board,
        "sector": st.sector,
        "title": report_title(inp.kind, inp.month),
        "kind": inp.kind,
        "year": inp.year,
        "period": fmt.period(inp.year, inp.month),
        "period_inessive": fmt.period(inp.year, inp.month, "inessive"),
        "period_end": fmt.date(Period(inp.year, inp.month).end),
        "period_month_now": f"{fmt.month_name(inp.month)} {inp.year}",
        "period_month_prev": f"{fmt.month_name(inp.month)} {inp.year - 1}",
        "report_date": fmt.date(inp.report_date),
        **approval_stamp(None, None),
        "sector_lines": _records(sector_lines),
        "sector_margin": sector_margin,
        "binding_level": fin.binding_level,
        "areas": areas,
        "decision": decision_context(inp),
        **finance_context(inp, charts),
        "checks": _records(checks),
        "deviations": _records(deviations),
        "max_deviations": 60,
        "methods": _records(methods),
        "sources": statuses,
        "missing_sources": missing,
        "ledger_title": sources()["ledger"].title,
        "notes": inp.notes,
        "threshold": settings().small_count_threshold,
        # The methods' own constants, so the text says what the code does.
        "run_length": RUN_LENGTH,
        "level_months": LEVEL_MONTHS,
        "suppressed_mark": SUPPRESSED,
        **(
            goals_context(inp.goals, inp.year, inp.month, statuses, charts)
            if inp.goals
            else {
                "goals": [],
                "goal_sentence": "",
                "unit_tables": {},
                "turnover": None,
                "binding_goals": 0,
                "marks": {},
            }
        ),
        "comparison": comparison_context(inp.comparison),
    }
