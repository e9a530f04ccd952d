"""The report flow: one Prefect flow run per period and kind, a task per stage.

The flow only composes stages; their logic lives in `tasks/`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from pydantic import BaseModel, Field

from tasks import forecast as fc
from tasks import reconcile as rc
from tasks import render, warehouse
from tasks.contracts import settings, sources
from tasks.extract import Extract, extract_sources, files_frame
from tasks.outputs import input_entries, manifest, mask_url, publish, spreadsheet_csv, staging_dir, write_json
from tasks.validate import SourceQuality, quality_summary, row_bands, suite_parameters, validate_sources

HELSINKI = ZoneInfo("Europe/Helsinki")


class RunParams(BaseModel):
    """Parameters of a report run (the Prefect UI shows these as a validated form)."""

    period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Raportointikauden viimeinen kuukausi, VVVV-KK")
    kind: Literal["monthly", "forecast", "annual"] = "monthly"
    extracts: str = Field("var/extracts", description="Lähdetiedostojen kansio")
    out: str = Field("out", description="Tuloskansio")
    warehouse: str = Field("sqlite:///var/warehouse.db", description="Tietovaraston SQLAlchemy-osoite")
    report_date: dt.date | None = Field(None, description="Raportin päivämäärä (oletus: tänään)")
    approve_as: str | None = Field(None, description="Hyväksyjän nimi; ilman sitä raportti on luonnos")
    deliver: bool = False
    strict: bool = False

    @property
    def year(self) -> int:
        return int(self.period[:4])

    @property
    def month(self) -> int:
        return int(self.period[5:])


def source_statuses(extracted: dict[str, Extract], quality: dict[str, SourceQuality]) -> list[dict]:
    """One entry per source for the report and manifest: files, rows, status and why."""
    out = []
    for sid, e in extracted.items():
        q = quality.get(sid)
        status = e.status if e.status != "ok" else (q.status if q else "ok")
        errors = [str(x) for x in e.errors] + (q.failures if q else [])
        if errors:
            reason = errors[0]
        elif e.required_missing:
            reason = "puuttuvat tiedostot: " + _files_text(e.required_missing)
        elif e.missing:
            reason = "puuttuvat edellisen vuoden tiedostot, ennuste lasketaan tasaisella jakaumalla: " + _files_text(e.missing)
        else:
            reason = ""
        out.append({
            "source": sid,
            "title": sources()[sid].title,
            "status": status,
            "status_fi": render.SOURCE_STATUS_FI[status],
            "files": [f.name for f in e.files],
            "files_text": _files_text([f.name for f in e.files]) or _files_text(e.missing) or "–",
            "rows": sum(f.rows for f in e.files),
            "checks": q.checks if q else 0,
            "passed": q.passed if q else 0,
            "errors": errors,
            "warnings": q.warnings if q else [],
            "missing": e.missing,
            "reason": reason,
        })
    return out


def _files_text(names: list[str]) -> str:
    if len(names) <= 2:
        return ", ".join(names)
    return f"{names[0]} … {names[-1]} ({len(names)} tiedostoa)"


@task(name="read-warehouse", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def read_reporting_data(url: str, batches: list[warehouse.Batch]) -> dict[str, pd.DataFrame]:
    """The run's own batches read back from the warehouse (I/O: retried)."""
    ids = {s: [b.id for b in batches if b.source == s] for s in warehouse.FACTS}
    engine = warehouse.engine_for(url)
    try:
        return {
            "monthly": warehouse.ledger_monthly(engine, ids["ledger"]),
            "area_totals": warehouse.ledger_area_totals(engine, ids["ledger"]),
            "loaded": warehouse.ledger_totals_by_batch(engine, ids["ledger"]),
            "result_budget": warehouse.read_facts(engine, "result_budget", ids["result_budget"]),
            "council_budget": warehouse.read_facts(engine, "council_budget", ids["council_budget"]),
        }
    finally:
        engine.dispose()


@task(name="compute-finance", cache_policy=NO_CACHE)
def compute_finance(data: dict[str, pd.DataFrame], controls: pd.DataFrame, year: int, month: int) -> dict:
    """Forecast, the budget table, the cumulative profile and every reconciliation check."""
    monthly, rb, cb = data["monthly"], data["result_budget"], data["council_budget"]
    forecast = fc.service_forecast(monthly, year, month)
    budget = fc.budget_by_service(rb, cb, year)
    table = fc.budget_table(forecast, budget)
    sector_tb = table.loc[table["level"].eq("sector") & table["line"].eq("Toimintakate"), "tb"]
    profile = fc.cumulative_profile(monthly, float(sector_tb.iloc[0]) if len(sector_tb) else float("nan"), year, month)
    checks = [rc.ledger_control_checks(controls)]
    if not rb.empty:
        checks.append(rc.result_budget_checks(rb))
    if not cb.empty:
        checks.append(rc.council_budget_checks(cb))
    if not monthly.empty:
        checks.append(rc.ledger_rollup_checks(monthly, data["area_totals"], data["loaded"], controls))
        if not rb.empty:
            checks.append(rc.ledger_structure_checks(monthly, budget))
    if not cb.empty and not rb.empty:
        checks.append(rc.binding_level_checks(cb, table, year))
    reconciliation = pd.concat([c for c in checks if not c.empty], ignore_index=True) if any(not c.empty for c in checks) else pd.DataFrame(columns=rc.COLUMNS)
    binding = cb.loc[cb["binding"].astype(bool) & cb["version"].eq(settings()["council_version"].format(year=year)), "amount"] if not cb.empty else pd.Series(dtype=float)
    return {
        "forecast": forecast,
        "table": table,
        "profile": profile,
        "reconciliation": reconciliation,
        "binding_level": float(binding.iloc[0]) if len(binding) else None,
    }


@task(name="render-report", cache_policy=NO_CACHE)
def render_report(inputs: render.ReportInputs, stage: Path) -> None:
    html = render.report_html(render.report_context(inputs))
    (stage / "report.html").write_text(html, encoding="utf-8")
    render.report_pdf(html, stage / "report.pdf")


@flow(name="katsaus-report", log_prints=True)
def report_flow(params: RunParams) -> dict:
    """Extract, validate, load, reconcile, forecast and render one period's board report."""
    run_id = flow_run.get_id() or "local"
    extracts, out = Path(params.extracts), Path(params.out)
    final = out / f"{params.period}-{params.kind}"
    out.mkdir(parents=True, exist_ok=True)
    stage = staging_dir(final, run_id)

    extracted, controls = extract_sources(extracts, params.year, params.month)
    readable = {sid: e.frame for sid, e in extracted.items() if e.status == "ok"}
    history = warehouse.warehouse_history(params.warehouse)
    bands = row_bands(files_frame(extracted), history, settings()["row_band_margin"])
    today = dt.datetime.now(HELSINKI).date()
    quality = validate_sources(readable, stage / "quality", suite_parameters(today), bands) if readable else {}
    statuses = source_statuses(extracted, quality)
    quality_summary(statuses, stage / "quality")
    warehouse.store_validation(params.warehouse, run_id, params.period, params.kind, statuses)
    usable = {s["source"] for s in statuses if s["status"] == "ok"}

    loads = []
    for sid in usable:
        e = extracted[sid]
        for f in e.files:
            part = e.frame[e.frame["_file"] == f.name] if "_file" in e.frame else e.frame
            loads.append((sid, f.period, f.name, f.sha256, part))
    batches = warehouse.load_warehouse(params.warehouse, loads, run_id)
    data = read_reporting_data(params.warehouse, batches)
    finance = compute_finance(data, controls if "ledger" in usable else pd.DataFrame(), params.year, params.month)

    spreadsheet_csv(finance["reconciliation"], stage / "reconciliation.csv")
    inputs = render.ReportInputs(
        year=params.year,
        month=params.month,
        kind=params.kind,
        report_date=params.report_date or dt.datetime.now(HELSINKI).date(),
        table=finance["table"],
        profile=finance["profile"],
        reconciliation=finance["reconciliation"],
        sources=statuses,
        approved_by=params.approve_as,
        binding_level=finance["binding_level"],
        forecast_methods=finance["forecast"]["method"].value_counts().sort_index(),
    )
    render_report(inputs, stage)
    inputs_manifest = input_entries(extracted, statuses, batches, controls)
    write_json(
        manifest(
            {
                "period": params.period, "kind": params.kind, "prefect_flow_run_id": run_id,
                "report_date": inputs.report_date.isoformat(), "approved_by": params.approve_as,
                "extracts": str(extracts.resolve()), "warehouse": mask_url(params.warehouse),
                "sources": [{k: s[k] for k in ("source", "status", "rows", "checks", "passed", "missing", "errors")} for s in statuses],
                "deviations": int((finance["reconciliation"]["status"] == "deviation").sum()),
            },
            inputs_manifest,
            stage,
        ),
        stage / "manifest.json",
    )
    publish(stage, final)
    return {
        "report_dir": str(final),
        "sources": {s["source"]: s["status"] for s in statuses},
        "deviations": int((finance["reconciliation"]["status"] == "deviation").sum()),
    }
