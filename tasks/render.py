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

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from reports import fmt
from tasks.contracts import settings, sources, structure

TEMPLATES = Path(__file__).resolve().parent.parent / "reports" / "templates"

KIND_TITLES = {"monthly": "Kuukausiraportti", "forecast": "Toteutumisennuste", "annual": "Toimintakertomus"}
SOURCE_STATUS_FI = {
    "ok": "käytetty",
    "missing": "tieto puuttuu",
    "failed": "virheellinen, ei käytetty",
}
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
    forecast_methods: pd.Series | None = None
    binding_level: float | None = None
    notes: list[str] = field(default_factory=list)


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
        "report_date": fmt.date(inp.report_date),
        "draft": inp.approved_by is None,
        "approved_by": inp.approved_by,
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
    }


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters.update(t=fmt.thousands, pct=fmt.pct, milj=fmt.millions, num=fmt.number)
    return env


def report_html(context: dict) -> str:
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return _environment().get_template("report.html.j2").render(**context, css=Markup(css))


def report_pdf(html: str, path: Path) -> None:
    """A tagged PDF/UA document; no timestamps, so the same HTML gives the same bytes."""
    from weasyprint import HTML

    HTML(string=html, base_url=str(TEMPLATES)).write_pdf(path, pdf_variant="pdf/ua-1", uncompressed_pdf=False)
