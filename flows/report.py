"""The report flow: one Prefect flow run per period and kind, a task per stage.

Three phases. Build: extract, validate, load, reconcile, forecast, assess the
goals and render the draft (LUONNOS), publish it with its Prefect artifacts.
Approval: the run pauses for a controller's decision in the Prefect UI
(approver, approve or reject, comment), or `approve_as` approves it headless.
Deliver: the final report (the approval on its cover) is published, archived
immutably and e-mailed to the board exactly once per version. The writes of one
period and kind are serialised by a warehouse lock, so two runs never
interleave them. The flow only composes stages; their logic lives in `tasks/`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path
from typing import Literal

import pandas as pd
from prefect import flow
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import BaseModel, Field

from deployments import scheduled_period
from reports import fmt
from tasks import render, warehouse
from tasks.contracts import local_zone, settings, structure
from tasks.deliver import alert_operators, archive_version, deliver_report
from tasks.extract import extract_sources, files_frame
from tasks.forecast import compute_finance
from tasks.indicators import compute_indicators
from tasks.outputs import indicators_csv_rows, input_entries, keep_draft, manifest, mask_url, publish, restage, spreadsheet_csv, staging_dir, write_json
from tasks.reconcile import reconcile
from tasks.render import content_fingerprint, render_approved_report, render_report
from tasks.sotkanet import sotkanet_comparison
from tasks.summary import changes, deviation_rows, key_figures, publish_artifacts, quality_markdown, record_decision, recorded_decision, report_link, summary_lines, summary_markdown
from tasks.validate import quality_summary, row_bands, source_statuses, suite_parameters, validate_sources



class RunParams(BaseModel):
    """Parameters of a report run: the Prefect UI shows these as a validated form."""

    period: str | None = Field(
        None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        description="Raportointikauden viimeinen kuukausi, VVVV-KK. Tyhjä: ajastuksen päivää edeltävä kuukausi.",
    )
    kind: Literal["monthly", "forecast", "annual"] = Field("monthly", description="Raportin laji: kuukausiraportti, toteutumisennuste tai toimintakertomus")
    extracts: str = Field("var/extracts", description="Lähdetiedostojen kansio")
    out: str = Field("out", description="Tuloskansio")
    warehouse: str = Field("sqlite:///var/warehouse.db", description="Tietovaraston SQLAlchemy-osoite")
    cache_dir: str = Field("var/cache", description="Välimuistikansio (THL Sotkanetin vastaukset)")
    archive: str = Field("var/archive", description="Hyväksyttyjen raporttien arkisto")
    publish_dir: str | None = Field(None, description="Julkaisukansio, johon hyväksytty PDF kopioidaan")
    report_date: dt.date | None = Field(None, description="Raportin päivämäärä (oletus: tänään)")
    approve_as: str | None = Field(None, description="Hyväksyjän nimi: hyväksyy ilman odotusta (ajo ilman käyttöliittymää)")
    deliver: bool = Field(True, description="Pyydä hyväksyntä ja toimita hyväksytty raportti lautakunnalle")
    force: bool = Field(False, description="Lataa lähteet tietovarastoon uudelleen, vaikka tiedostot eivät ole muuttuneet")
    strict: bool = Field(False, description="Puuttuva tai virheellinen lähde on virhe")
    approval_timeout_hours: float = Field(72.0, gt=0, description="Kuinka kauan hyväksyntää odotetaan (tuntia)")

    @property
    def year(self) -> int:
        return int(self.period[:4])

    @property
    def month(self) -> int:
        return int(self.period[5:])


class Approval(RunInput):
    """The controller's decision, asked in the Prefect UI when the draft is ready."""

    approver: str = Field(min_length=1, description="Hyväksyjän nimi")
    decision: Literal["hyväksy", "hylkää"] = Field(description="Toimitetaanko raportti lautakunnalle")
    comment: str = Field("", description="Huomautus: näkyy hyväksytyn raportin kannessa tai hylkäyksen syynä")


@dataclasses.dataclass
class Built:
    """What the build phase leaves for approval and delivery."""

    context: dict
    final: Path
    draft: Path | None
    fingerprint: str
    figures: dict
    title: str
    period_text: str
    manifest_run: dict
    input_entries: list[dict]
    markdown: str
    quality: str
    deviations: list[dict]


def with_period(params: RunParams) -> RunParams:
    """A scheduled run has no period: it reports the month before its scheduled day."""
    if params.period:
        return params
    when = flow_run.get_scheduled_start_time() or dt.datetime.now(local_zone())
    return params.model_copy(update={"period": scheduled_period(when)})


def run_url(run_id: str) -> str | None:
    """The run's page in the Prefect UI, when a UI is configured."""
    from prefect.settings import PREFECT_UI_URL

    base = PREFECT_UI_URL.value()
    return f"{base.rstrip('/')}/runs/flow-run/{run_id}" if base else None


def notify_operators(flow, run, state) -> None:
    """A failed deployment run (scheduled or started from the UI) is e-mailed to the operators.

    The final state's message may be Prefect's own (an expired approval wait is
    failed by Prefect), so the reason the run recorded is added to it.
    """
    if getattr(run, "deployment_id", None) is None:
        return  # a run from the command line reports its failure there
    reason = state.message or "tuntematon syy"
    recorded = recorded_decision(run.id)
    if recorded and recorded.splitlines()[-1] not in reason:
        reason = f"{reason}\n\n{recorded}"
    print(alert_operators(run.name, reason, run_url(str(run.id))))


def build(p: RunParams, run_id: str) -> Built:
    """Extract, validate, load, compute and render the draft; publish it."""
    extracts, out = Path(p.extracts), Path(p.out)
    final = out / f"{p.period}-{p.kind}"
    out.mkdir(parents=True, exist_ok=True)
    stage = staging_dir(final, run_id)

    extracted, controls = extract_sources(extracts, p.year, p.month)
    readable = {sid: e.frame for sid, e in extracted.items() if e.status == "ok"}
    history = warehouse.warehouse_history(p.warehouse)
    bands = row_bands(files_frame(extracted), history, settings()["row_band_margin"])
    today = dt.datetime.now(local_zone()).date()
    quality = validate_sources(readable, stage / "quality", suite_parameters(today), bands) if readable else {}
    statuses = source_statuses(extracted, quality)
    quality_summary(statuses, stage / "quality")
    warehouse.store_validation(p.warehouse, run_id, p.period, p.kind, statuses)
    usable = {s["source"] for s in statuses if s["status"] == "ok"}

    batches = warehouse.load_warehouse(p.warehouse, warehouse.load_plan(extracted, usable), run_id, p.force)
    data = warehouse.read_reporting_data(p.warehouse, batches)
    fin = compute_finance(data, p.year, p.month)
    checks = reconcile(data, controls if "ledger" in usable else pd.DataFrame(), fin, p.year)
    goals = compute_indicators(data, statuses, fin, p.year, p.month)
    comparison = sotkanet_comparison(p.year, cache_dir=Path(p.cache_dir) / "sotkanet")
    for problem in comparison.problems:
        print(problem)

    spreadsheet_csv(checks, stage / "reconciliation.csv")
    spreadsheet_csv(indicators_csv_rows(goals["results"]), stage / "indicators.csv")
    inputs = render.ReportInputs(
        year=p.year, month=p.month, kind=p.kind, report_date=p.report_date or today,
        table=fin["table"], profile=fin["profile"], reconciliation=checks, sources=statuses,
        binding_level=fin["binding_level"], forecast_methods=fin["methods"], indicators=goals, comparison=comparison,
    )
    context = render_report(inputs, stage)
    fingerprint = content_fingerprint(context)
    figures = key_figures(fin, goals, statuses, checks)
    run_facts = {
        "period": p.period, "kind": p.kind, "prefect_flow_run_id": run_id, "report_date": inputs.report_date.isoformat(),
        "content_fingerprint": fingerprint, "extracts": str(extracts.resolve()), "warehouse": mask_url(p.warehouse),
        "sources": [{k: s[k] for k in ("source", "status", "rows", "checks", "passed", "missing", "errors", "warnings")} for s in statuses],
        "deviations": figures["deviations"],
    }
    entries = input_entries(extracted, statuses, batches, controls)
    write_json(manifest({**run_facts, "approval": None}, entries, stage), stage / "manifest.json")
    draft = keep_draft(stage, final, run_id) if p.deliver else None
    publish(stage, final)

    title = f"{render.report_title(p.kind, p.month)} {p.year}"
    period_text = fmt.period(p.year, p.month)
    return Built(
        context=context, final=final, draft=draft, fingerprint=fingerprint, figures=figures, title=title, period_text=period_text,
        manifest_run=run_facts, input_entries=entries,
        markdown=summary_markdown(figures, title, period_text, statuses, checks, final / "report.pdf"),
        quality=quality_markdown(statuses, period_text), deviations=deviation_rows(fin["table"]),
    )


def approval(p: RunParams, built: Built) -> Approval:
    """Approved headless by `approve_as`, or the controller's answer in the UI (the run waits)."""
    if p.approve_as:
        return Approval(approver=p.approve_as, decision="hyväksy", comment="")
    print(f"Luonnos valmis: {built.final / 'report.pdf'}. Odotetaan hyväksyntää Prefectin käyttöliittymässä.")
    try:
        return pause_flow_run(wait_for_input=Approval, timeout=int(p.approval_timeout_hours * 3600), poll_interval=5, key="approval")
    except FlowPauseTimeout:
        reason = f"Hyväksyntää ei saatu {fmt.short(p.approval_timeout_hours)} tunnin kuluessa; raporttia ei toimitettu."
        record_decision(p.period, p.kind, f"# Ei hyväksyntää\n\n{reason}")
        raise RuntimeError(reason) from None


def deliver(p: RunParams, built: Built, answer: Approval, run_id: str) -> dict:
    """Publish the final report, archive it and e-mail it to the board exactly once per version."""
    approved_at = dt.datetime.now(local_zone())
    stage = restage(built.draft, built.final, run_id)
    render_approved_report(built.context, stage, answer.approver, approved_at, answer.comment)
    approval_facts = {"approved_by": answer.approver, "approved_at": approved_at.isoformat(), "comment": answer.comment}
    write_json(manifest({**built.manifest_run, "approval": approval_facts}, built.input_entries, stage), stage / "manifest.json")
    publish(stage, built.final)
    version = archive_version(
        p.archive, p.period, p.kind, str(built.final), built.fingerprint,
        {"figures": built.figures, "approval": approval_facts, "prefect_flow_run_id": run_id},
    )
    previous = version.previous.metadata.get("figures") if version.new and version.previous else None
    return deliver_report(
        p.warehouse, version, board=structure().board, title=built.title,
        period_text=built.period_text, approved_by=answer.approver, approved_at=approved_at,
        summary_lines=summary_lines(built.figures), changes=changes(previous, built.figures) if previous else [],
        publish_dir=p.publish_dir,
    )


@flow(name="katsaus-report", log_prints=True, on_failure=[notify_operators])
def report_flow(params: RunParams) -> dict:
    """Build the period's board report, ask for approval, then archive and deliver it exactly once."""
    run_id = str(flow_run.get_id() or "local")
    p = with_period(params)
    lock = f"{p.period}-{p.kind}"
    with warehouse.period_lock(p.warehouse, lock, run_id):
        built = build(p, run_id)
    publish_artifacts(p.period, p.kind, built.markdown, built.quality, built.deviations, report_link(built.final), "luonnos")
    result = {
        "report_dir": str(built.final), "period": p.period, "kind": p.kind, "fingerprint": built.fingerprint,
        "sources": built.figures["sources"],
        "deviations": built.figures["deviations"],
        "delivery": {"status": "draft"},
    }
    if not p.deliver:
        return result
    try:
        answer = approval(p, built)
        if answer.decision != "hyväksy":
            reason = f"hylätty ({answer.approver}){': ' + answer.comment if answer.comment else ''}"
            print(f"Raporttia ei toimitettu: {reason}")
            record_decision(p.period, p.kind, f"# Hylätty\n\nHylkääjä: {answer.approver}\n\nPerustelu: {answer.comment or '–'}\n\nRaporttia ei toimitettu.")
            return {**result, "delivery": {"status": "rejected", "reason": reason}}
        with warehouse.period_lock(p.warehouse, lock, run_id):
            delivery = deliver(p, built, answer, run_id)
    finally:
        shutil.rmtree(built.draft, ignore_errors=True)  # this run's private copy of its draft
    publish_artifacts(p.period, p.kind, built.markdown, built.quality, built.deviations, report_link(built.final), "hyväksytty")
    record_decision(p.period, p.kind, f"# Hyväksytty\n\nHyväksyjä: {answer.approver}\n\nHuomautus: {answer.comment or '–'}\n\nToimitus: {delivery['status']}, arkistoversio {delivery['version']}.")
    print(f"Toimitus: {delivery['status']}, versio {delivery['version']}")
    return {**result, "delivery": delivery}
