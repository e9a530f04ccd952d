"""Render stage: the Finnish board report as HTML and accessible PDF.

`report_context` gathers everything the template shows (pure); `report_html`
renders the Jinja2 template with autoescaping; `report_pdf` turns the HTML into
a tagged PDF with WeasyPrint; `cumulative_chart_svg` draws the monthly chart
with matplotlib. WeasyPrint and matplotlib are imported inside the functions
that use them.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from prefect import task
from prefect.cache_policies import NO_CACHE

from reports import fmt
from tasks.contracts import settings, sources, structure

TEMPLATES = Path(__file__).resolve().parent.parent / "reports" / "templates"

KIND_TITLES = {"monthly": "Kuukausiraportti", "forecast": "Toteutumisennuste", "annual": "Toimintakertomus"}
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


@dataclass
class ReportInputs:
    year: int
    month: int
    kind: str
    report_date: dt.date
    table: pd.DataFrame
    profile: pd.DataFrame
    reconciliation: pd.DataFrame
    sources: list[dict]
    approved_by: str | None = None
    approved_at: dt.datetime | None = None
    approval_comment: str = ""
    forecast_methods: pd.Series | None = None
    binding_level: float | None = None
    notes: list[str] = field(default_factory=list)
    # tasks.indicators.goals_and_tables: results, charts, goals, tables by source
    indicators: dict | None = None
    # tasks.sotkanet.Comparison with the largest cities
    comparison: object | None = None


def report_title(kind: str, month: int) -> str:
    title = KIND_TITLES[kind]
    if kind == "forecast" and month in settings()["forecast_months"]:
        return f"{settings()['forecast_months'].index(month) + 1}. toteutumisennuste"
    return title


def cumulative_chart_png(profile: pd.DataFrame, year: int, forecast: float | None = None) -> str:
    """Cumulative net expenses, actual against the budget profile, in millions of euros.

    Returned as a PNG data URI (no timestamps in it, so reruns give the same bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"font.family": "DejaVu Sans", "font.size": 9})
    fig, ax = plt.subplots(figsize=(6.6, 2.8))
    months = profile["month"]
    ax.plot(months, -profile["budget"] / 1e6, color="#7a7a7a", linestyle="--", linewidth=1.5, label="Tulosbudjetti, kumulatiivinen profiili")
    ax.plot(months, -profile["actual"] / 1e6, color="#0000bf", marker="o", markersize=3, linewidth=2, label=f"Toteuma {year}")
    if forecast is not None and pd.notna(forecast):
        last = profile["actual"].last_valid_index()
        ax.plot([months[last], 12], [-profile["actual"][last] / 1e6, -forecast / 1e6], color="#0000bf", linestyle=":", linewidth=1.5)
        ax.plot([12], [-forecast / 1e6], color="#0000bf", marker="D", markersize=5, linestyle="none", label="Ennuste vuoden lopussa")
    ax.set_xticks(range(1, 13), [fmt.month_name(m)[:3] for m in range(1, 13)])
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt.number(v, 0)))
    ax.set_ylabel("Nettomenot, milj. €")
    ax.grid(axis="y", color="#dddddd")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=200, metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# CSS class of each assessment (colour is never the only cue: the text is always there).
STATUS_CLASS = {"toteutuu": "met", "riski": "risk", "ei toteudu": "missed", "ei arvioitavissa": "unknown"}
SUPPRESSED = ".."
COLOURS = {"value": "#0000bf", "limit": "#8a8a8a", "target": "#007a3d", "signal": "#b00020"}


def _axis_decimals(ticks) -> int:
    """Decimals that tell the y-axis ticks apart: 0,15 and 0,20 need two."""
    steps = [b - a for a, b in zip(ticks, ticks[1:]) if b > a]
    step = min(steps) if steps else 1.0
    return max(0, -int(np.floor(np.log10(step) + 1e-9)))


def indicator_chart_png(chart: pd.DataFrame, row: dict, year: int) -> str | None:
    """A small trend chart of one indicator: its series, the control chart's centre and limits,
    the target and the signals (red). Yearly indicators show one point per year; months
    without a value (between survey rounds) are gaps on the time axis."""
    if chart is None or chart.empty or chart["value"].notna().sum() < 2 or row["unit"] == fmt.MILESTONE_UNIT:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"font.family": "DejaVu Sans", "font.size": 6.5})
    c = chart.dropna(subset=["value"]).sort_values(["year", "month"]).reset_index(drop=True)
    yearly = row["kind"] == "annual"
    first = int(c["year"].min())
    x = c["year"].astype(int).to_numpy() if yearly else ((c["year"].astype(int) - first) * 12 + c["month"].astype(int) - 1).to_numpy()
    fig, ax = plt.subplots(figsize=(3.1, 1.25))
    ax.plot(x, c["value"], color=COLOURS["value"], marker="o", markersize=2.2, linewidth=1.2)
    if "centre" in c and c["centre"].notna().any():
        ax.plot(x, c["centre"], color=COLOURS["limit"], linewidth=0.8, linestyle="--")
        ax.plot(x, c["ucl"], color=COLOURS["limit"], linewidth=0.6, linestyle=":")
        ax.plot(x, c["lcl"], color=COLOURS["limit"], linewidth=0.6, linestyle=":")
        signal = (c["beyond"] | c["run"]).to_numpy()
        ax.plot(x[signal], c.loc[signal, "value"], color=COLOURS["signal"], marker="o", markersize=3.2, linestyle="none")
    # A yearly total's target is not a monthly level: it is not drawn on a monthly chart.
    if row.get("target") is not None and not pd.isna(row["target"]) and row["kind"] != "total":
        ax.axhline(row["target"], color=COLOURS["target"], linewidth=0.9, linestyle=(0, (4, 2)))
    if yearly:
        ax.set_xticks(x, [str(v) for v in x])
    else:
        years = range(first, int(c["year"].max()) + 1)
        ax.set_xticks([(y - first) * 12 for y in years], [f"{fmt.month_name(1)[:5]} {y}" for y in years])
        ax.set_xlim(-0.5, max(x.max(), (int(c["year"].max()) - first) * 12) + 0.5)
    if int(row["decimals"]) == 0:
        # Counts and whole days: whole-number ticks only.
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=5))
    decimals = _axis_decimals(list(ax.get_yticks()))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt.number(v, decimals)))
    ax.tick_params(length=2, pad=1.5)
    ax.grid(axis="y", color="#e4e4e4", linewidth=0.5)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout(pad=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=220, metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _value(v: float | None, row: dict) -> str:
    return fmt.measure(None if v is None or pd.isna(v) else float(v), row["unit"], int(row["decimals"]))


def indicator_view(row: dict, chart: pd.DataFrame | None, year: int) -> dict:
    """One indicator as the report shows it: texts already formatted, the chart drawn."""
    baseline = row["baseline"]
    has_baseline = baseline is not None and not pd.isna(baseline)
    return {
        **row,
        "baseline_fi": f"{_value(baseline, row)} ({row['baseline_period']})" if has_baseline else (row["baseline_text"] or fmt.MISSING),
        "actual_fi": SUPPRESSED if row["suppressed"] else _value(row["actual"], row),
        "forecast_fi": SUPPRESSED if row["suppressed"] else _value(row["forecast"], row),
        "status_class": STATUS_CLASS[row["status"]],
        "chart": indicator_chart_png(chart, row, year),
    }


def goals_context(ind: dict, year: int, sources: list[dict]) -> dict:
    """Goals with their indicators, the unit tables of their sources (or why one is missing), and the counts by assessment."""
    from tasks.contracts.catalog import catalog
    from tasks.indicators import STATUSES, status_counts
    from tasks.unit_tables import TABLE_SOURCES

    results = {r["id"]: r for r in _records(ind["results"])}
    tables = ind.get("tables", {})
    status = {s["source"]: s for s in sources}
    goals = []
    for g in _records(ind["goals"]):
        views = [indicator_view(results[i], ind["charts"].get(i), year) for i in g["indicators"]]
        own = [src for src in dict.fromkeys(catalog().indicator(i).source for i in g["indicators"]) if src in TABLE_SOURCES and src != "personnel"]
        goals.append({
            **g, "status_class": STATUS_CLASS[g["status"]], "views": views,
            "tables": [src for src in own if src in tables],
            "missing_tables": [status[src] for src in own if src not in tables and src in status],
        })
    counts = status_counts(ind["goals"])
    return {
        "goals": goals,
        "goal_counts": [{"status": s, "count": counts[s], "class": STATUS_CLASS[s]} for s in STATUSES],
        "binding_goals": int(ind["goals"]["binding"].sum()),
        "unit_tables": {k: _records(v) for k, v in tables.items()},
        "turnover": next((indicator_view(results[i], None, year) for i in results if catalog().indicator(i).source == "personnel"), None),
    }


COMPARISON_MISSING = "Vertailutieto suurimpiin kaupunkeihin puuttuu: THL Sotkanetin tietoja ei saatu raporttia laadittaessa."


def comparison_context(comparison) -> dict:
    """The comparison with the largest cities: one row per THL indicator, one column per city."""
    from tasks.sotkanet import sotkanet_settings

    if comparison is None:
        return {"available": False, "problems": [], "rows": [], "cities": []}
    cities = list(sotkanet_settings().cities)
    frame = comparison.frame
    rows = []
    for (iid, title), part in frame.groupby(["indicator_id", "indicator"], sort=False):
        by_city = part.set_index("city")
        unit = part["unit"].dropna().iloc[0] if part["unit"].notna().any() else ""
        rows.append({
            "indicator": title, "unit": unit,
            "cells": [fmt.number(float(by_city.loc[c, "value"]), 1) if c in by_city.index and pd.notna(by_city.loc[c, "value"]) else fmt.MISSING for c in cities],
            "years": sorted({int(y) for y in part["year"].dropna()}),
        })
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


def report_context(inp: ReportInputs) -> dict:
    """Everything the template shows, already shaped; numbers stay numbers for the filters."""
    st = structure()
    t = inp.table
    margin = t[t["line"].eq("Toimintakate")]
    sector_lines = t[t["level"].eq("sector")]
    sector_rows = _records(margin[margin["level"].eq("sector")])
    sector_margin = sector_rows[0] if sector_rows else {}
    areas = []
    for area in st.areas:
        rows = margin[margin["area"].eq(area.name)]
        total = rows[rows["level"].eq("area")]
        areas.append({
            "name": area.name,
            "total": _records(total)[0] if len(total) else None,
            "services": _records(rows[rows["level"].eq("service")]) if st.has_own_services(area) else [],
        })
    rec = inp.reconciliation
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
        decimals=[0 if col == "Rivimaara" else (2 if c.startswith("paakirja") else 1) for c, col in zip(deviations["check"], deviations["column"])],
    )
    methods = inp.forecast_methods.rename_axis("method").reset_index(name="count") if inp.forecast_methods is not None else pd.DataFrame()
    missing = [s for s in inp.sources if s["status"] != "ok"]
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
        **approval_stamp(inp.approved_by, inp.approved_at, inp.approval_comment),
        "sector_lines": _records(sector_lines),
        "sector_margin": sector_margin,
        "binding_level": inp.binding_level,
        "areas": areas,
        "chart": cumulative_chart_png(inp.profile, inp.year, sector_margin.get("forecast")) if inp.profile["actual"].notna().any() else None,
        "checks": _records(checks),
        "deviations": _records(deviations),
        "max_deviations": 60,
        "methods": _records(methods),
        "sources": inp.sources,
        "missing_sources": missing,
        "ledger_title": sources()["ledger"].title,
        "notes": inp.notes,
        "threshold": settings()["small_count_threshold"],
        "suppressed_mark": SUPPRESSED,
        **(goals_context(inp.indicators, inp.year, inp.sources) if inp.indicators else {"goals": [], "goal_counts": [], "unit_tables": {}, "turnover": None, "binding_goals": 0}),
        "comparison": comparison_context(inp.comparison),
    }


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters.update(t=fmt.thousands, pct=fmt.pct, milj=fmt.millions, num=fmt.number, hyph=fmt.hyphenable, count=fmt.count)
    return env


def report_html(context: dict) -> str:
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return _environment().get_template("report.html.j2").render(**context, css=Markup(css))


def report_pdf(html: str, path: Path) -> None:
    """A tagged PDF/UA document; no timestamps, so the same HTML gives the same bytes."""
    from weasyprint import HTML

    HTML(string=html, base_url=str(TEMPLATES)).write_pdf(path, pdf_variant="pdf/ua-1", uncompressed_pdf=False)


# What a report says does not depend on the day it was printed or on who approved it.
VOLATILE = ("report_date", *approval_stamp(None, None))


def content_fingerprint(context: dict) -> str:
    """SHA-256 of the report's content: the context without its date and approval stamp."""
    import hashlib
    import json

    content = {k: v for k, v in context.items() if k not in VOLATILE}
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")).hexdigest()


def write_report(context: dict, stage: Path) -> None:
    """report.html and report.pdf of a context into the run's staging folder."""
    html = report_html(context)
    (stage / "report.html").write_text(html, encoding="utf-8")
    report_pdf(html, stage / "report.pdf")


@task(name="render-report", cache_policy=NO_CACHE)
def render_report(inputs: ReportInputs, stage: Path) -> dict:
    """The draft (or, with approval in the inputs, the final report) into the staging folder;
    returns its context, so that approval re-renders the same content without computing it again."""
    context = report_context(inputs)
    write_report(context, stage)
    return context


@task(name="render-approved-report", cache_policy=NO_CACHE)
def render_approved_report(context: dict, stage: Path, approved_by: str, approved_at: dt.datetime, comment: str) -> None:
    """The final report: the draft's content with the approval on its cover and no LUONNOS mark."""
    write_report({**context, **approval_stamp(approved_by, approved_at, comment)}, stage)
