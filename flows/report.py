"""The report flow: one Prefect flow run per period and kind, a task per stage.

The flow only composes stages; their logic lives in `tasks/`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import pandas as pd
from prefect import flow
from prefect.runtime import flow_run
from pydantic import BaseModel, Field

from tasks import render, warehouse
from tasks.render import render_report
from tasks.contracts import settings
from tasks.extract import extract_sources, files_frame
from tasks.forecast import compute_finance
from tasks.indicators import compute_indicators
from tasks.outputs import indicators_csv_rows, input_entries, manifest, mask_url, publish, spreadsheet_csv, staging_dir, write_json
from tasks.reconcile import reconcile
from tasks.sotkanet import sotkanet_comparison
from tasks.validate import quality_summary, row_bands, source_statuses, suite_parameters, validate_sources

HELSINKI = ZoneInfo("Europe/Helsinki")


class RunParams(BaseModel):
    """Parameters of a report run (the Prefect UI shows these as a validated form)."""

    period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Raportointikauden viimeinen kuukausi, VVVV-KK")
    kind: Literal["monthly", "forecast", "annual"] = "monthly"
    extracts: str = Field("var/extracts", description="Lähdetiedostojen kansio")
    out: str = Field("out", description="Tuloskansio")
    warehouse: str = Field("sqlite:///var/warehouse.db", description="Tietovaraston SQLAlchemy-osoite")
    cache_dir: str = Field("var/cache", description="Välimuistikansio (THL Sotkanetin vastaukset)")
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


@flow(name="katsaus-report", log_prints=True)
def report_flow(params: RunParams) -> dict:
    """Extract, validate, load, reconcile, forecast, assess the goals and render one period's board report."""
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

    batches = warehouse.load_warehouse(params.warehouse, warehouse.load_plan(extracted, usable), run_id)
    data = warehouse.read_reporting_data(params.warehouse, batches)
    fin = compute_finance(data, params.year, params.month)
    checks = reconcile(data, controls if "ledger" in usable else pd.DataFrame(), fin, params.year)
    goals = compute_indicators(data, statuses, fin, params.year, params.month)
    comparison = sotkanet_comparison(params.year, cache_dir=Path(params.cache_dir) / "sotkanet")

    spreadsheet_csv(checks, stage / "reconciliation.csv")
    spreadsheet_csv(indicators_csv_rows(goals["results"]), stage / "indicators.csv")
    inputs = render.ReportInputs(
        year=params.year,
        month=params.month,
        kind=params.kind,
        report_date=params.report_date or today,
        table=fin["table"],
        profile=fin["profile"],
        reconciliation=checks,
        sources=statuses,
        approved_by=params.approve_as,
        binding_level=fin["binding_level"],
        forecast_methods=fin["methods"],
        indicators=goals,
        comparison=comparison,
    )
    render_report(inputs, stage)
    write_json(
        manifest(
            {
                "period": params.period, "kind": params.kind, "prefect_flow_run_id": run_id,
                "report_date": inputs.report_date.isoformat(), "approved_by": params.approve_as,
                "extracts": str(extracts.resolve()), "warehouse": mask_url(params.warehouse),
                "sources": [{k: s[k] for k in ("source", "status", "rows", "checks", "passed", "missing", "errors", "warnings")} for s in statuses],
                "deviations": int((checks["status"] == "deviation").sum()),
            },
            input_entries(extracted, statuses, batches, controls),
            stage,
        ),
        stage / "manifest.json",
    )
    publish(stage, final)
    return {
        "report_dir": str(final),
        "sources": {s["source"]: s["status"] for s in statuses},
        "deviations": int((checks["status"] == "deviation").sum()),
    }
