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
    SOURCE_OK,
    STATUSES,
    UNREVIEWED,
)
from tasks.finance.explain import Explanation, largest_overruns
from tasks.finance.followup import Finance
from tasks.finance.reconcile import Reconciliation
from tasks.goals.measure import LEVEL_MONTHS
from tasks.goals.results import GoalResults
from tasks.goals.sotkanet import Comparison, sotkanet_settings
from tasks.goals.spc import RUN_LENGTH
from tasks.goals.unit_tables import UNIT_TABLES
from tasks.ingest.commentary import Commentary
from tasks.ingest.quality import SourceStatus
from tasks.report.charts import deviation_chart_png, indicator_chart_png

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


def report_title(kind: str, month: int) -> str:
    title = KIND_TITLES[kind]
    if kind == FORECAST and month in settings().forecast_months:
        return f"{settings().forecast_months.index(month) + 1}. toteutumisennuste"
    return title


# CSS class of each assessment (colour is never the only cue: the text is always there).
STATUS_CLASS = {"toteutuu": "met", "riski": "risk", "ei toteudu": "missed", "ei arvioitavissa": "unknown"}
SUPPRESSED = ".."


def _value(v: float | None, row: dict) -> str:
    return fmt.measure(None if v is None or pd.isna(v) else float(v), row["unit"], int(row["decimals"]))


def indicator_view(row: dict, chart: pd.DataFrame | None, year: int) -> dict:
    """One indicator as the report shows it: texts already formatted, the chart drawn."""
    baseline = row["baseline"]
    has_baseline = baseline is not None and not pd.isna(baseline)
    return {
        **row,
        "baseline_fi": f"{_value(baseline, row)} ({row['baseline_period']})"
        if has_baseline
        else (row["baseline_text"] or fmt.MISSING),
        "actual_fi": SUPPRESSED if row["suppressed"] else _value(row["actual"], row),
        "forecast_fi": SUPPRESSED if row["suppressed"] else _value(row["forecast"], row),
        "status_class": STATUS_CLASS[row["status"]],
        "chart": indicator_chart_png(chart, row, year),
    }


def goals_context(ind: GoalResults, year: int, sources: list[dict]) -> dict:
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
        views = [indicator_view(results[i], ind.charts.get(i), year) for i in g["indicators"]]
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
        "goal_counts": [{"status": s, "count": counts[s], "class": STATUS_CLASS[s]} for s in STATUSES],
        "binding_goals": int(ind.goals["binding"].sum()),
        "unit_tables": {k: _records(v) for k, v in tables.items()},
        "turnover": next(
            (indicator_view(results[i], None, year) for i in results if catalog().indicator(i).source == "personnel"),
            None,
        ),
    }


COMPARISON_MISSING = (
    "Vertailutieto suurimpiin kaupunkeihin puuttuu: THL Sotkanetin tietoja ei saatu raporttia laadittaessa."
)


def comparison_context(comparison: Comparison | None) -> dict:
    """The comparison with the largest cities: one row per THL indicator, one column per city."""
    if comparison is None:
        return {"available": False, "problems": [], "rows": [], "cities": []}
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
        return {"available": False, "problems": [COMPARISON_MISSING], "rows": [], "cities": cities}
    return {"available": True, "problems": list(comparison.problems), "rows": rows, "cities": cities}


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
    margin = fin.table[fin.table["line"].eq(MARGIN) & fin.table["level"].eq("area")]
    over = margin[margin["deviation"].lt(-500)]
    return {
        "proposal": proposal or [proposal_default(inp.kind, inp.year, inp.month)],
        "proposal_reviewed": bool(proposal),
        "overrun": overrun,
        "measures": commentary.measures if commentary.used else [],
        "areas_over": [{"name": r.area, "deviation": float(r.deviation)} for r in over.itertuples()],
    }


def _explanation_view(e: Explanation) -> dict:
    return {"subject": e.subject, "level": e.level, "text": e.text, "reviewed": e.reviewed, "deviation": e.deviation}


def finance_context(inp: ReportInputs) -> dict:
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
        "deviation_chart": deviation_chart_png(list(margins["area"]), list(margins["deviation"].fillna(0.0)))
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


def report_context(inp: ReportInputs) -> dict:
    """Everything the template shows, already shaped; numbers stay numbers for the filters."""
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
    deviations = rec[rec["status"].eq("deviation")]
    checks = (
        rec.groupby("check", sort=False)["status"]
        .agg(total="size", deviations=lambda s: int((s == "deviation").sum()))
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
    statuses = [s.as_dict() for s in inp.sources]
    missing = [s for s in statuses if s["status"] != SOURCE_OK]
    return {
        "board": st.board,
        "sector": st.sector,
        "title": report_title(inp.kind, inp.month),
        "kind": inp.kind,
        "year": inp.year,
        "period": fmt.period(inp.year, inp.month),
        "period_end": fmt.date(fmt.month_end(inp.year, inp.month)),
        "period_month_now": f"{fmt.month_name(inp.month)} {inp.year}",
        "period_month_prev": f"{fmt.month_name(inp.month)} {inp.year - 1}",
        "report_date": fmt.date(inp.report_date),
        **approval_stamp(None, None),
        "sector_lines": _records(sector_lines),
        "sector_margin": sector_margin,
        "binding_level": fin.binding_level,
        "areas": areas,
        "decision": decision_context(inp),
        **finance_context(inp),
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
            goals_context(inp.goals, inp.year, statuses)
            if inp.goals
            else {"goals": [], "goal_counts": [], "unit_tables": {}, "turnover": None, "binding_goals": 0}
        ),
        "comparison": comparison_context(inp.comparison),
    }
