"""The report flow: one Prefect flow run per period and kind, a task per stage.

Reads top to bottom as the pipeline: extract → validate → load → finance →
reconcile → goals → render (the draft, LUONNOS) → approve → deliver. The
approval waits for a controller's decision in the Prefect UI (approver,
approve or reject, comment), or `approve_as` approves it headless. A
deployment run waits suspended: its process ends, the wait lives on the
Prefect server, and the answered run starts again with its persisted draft, so
a restart of `katsaus serve` or a worker loses nothing.
Delivery publishes the final report (the approval on its cover), archives it
immutably and e-mails it to the board exactly once per version. The writes of
one period and kind are serialised by a warehouse lock, so two runs never
interleave them. The flow only composes stages; their logic lives in `tasks/`.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import datetime as dt
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from prefect import flow, get_client, task
from prefect.exceptions import FlowPauseTimeout, Pause
from prefect.flow_runs import pause_flow_run, suspend_flow_run
from prefect.runtime import deployment, flow_run
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

from deployments import approval_deadline, scheduled_period, schedules
from flows import killpoints, progress, stages
from flows.artifacts import post_artifacts, record_decision, report_link
from flows.home import PLACES
from flows.hooks import notify_operators, run_url
from flows.params import Approval, RunParams, katsaus_home, placed
from flows.reminders import remind_if_due, reminder_due
from reports import fmt
from tasks.contracts import local_zone, settings, source_title, structure
from tasks.contracts.vocab import (
    MANIFEST_JSON,
    QUALITY_DIR,
    REPORT_PDF,
    SOURCE_MISSING,
    SOURCE_OK,
    SOURCE_STATUS_FI,
    SPILL_DIR,
    Period,
    report_name,
)
from tasks.deliver.archive import latest_version
from tasks.deliver.delivery import ask_approvers
from tasks.deliver.messages import ApprovalAsk
from tasks.ingest.commentary import Commentary, commentary_file
from tasks.ingest.period import Extracted
from tasks.ingest.pii import contains_code
from tasks.ingest.quality import Validated
from tasks.ingest.reuse import REUSED_FI
from tasks.ingest.validate import import_great_expectations_ahead
from tasks.report.context import ReportInputs, proposal_default, report_heading
from tasks.report.outputs import (
    approved_outputs,
    input_entries,
    keep_draft,
    manifest,
    mask_url,
    read_manifest,
    remove_dead_staging,
    replace_outputs,
    restage,
    staging_dir,
    write_json,
    write_tables,
)
from tasks.report.render import RenderedReport
from tasks.report.summary import (
    changes,
    commentary_facts,
    commentary_lines,
    deviation_rows,
    key_figures,
    quality_markdown,
    summary_lines,
    summary_markdown,
)
from tasks.report.workbook import write_commentary_workbook
from tasks.warehouse.load import Loaded
from tasks.warehouse.locks import period_lock

__all__ = ["Approval", "RunParams", "report_flow"]


@dataclasses.dataclass
class Built:
    """What the build phase leaves for approval and delivery."""

    rendered: RenderedReport
    final: Path
    draft: Path | None
    figures: dict
    title: str
    period_text: str
    manifest_run: dict
    input_entries: list[dict]
    markdown: str
    quality: str
    deviations: list[dict]
    # What the approver should know of the controller's commentary (used, absent, refused; unreviewed drafts).
    commentary: list[str] = dataclasses.field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return self.rendered.fingerprint


def with_period(params: RunParams) -> RunParams:
    """A scheduled run has no period: it reports the month before its scheduled day. A run without a meeting date
    takes the board's next meeting from the calendar."""
    when = flow_run.get_scheduled_start_time() or dt.datetime.now(local_zone())
    period = params.period or scheduled_period(when)
    update = {"period": period}
    if params.meeting_date is None:
        # The first meeting after the report is prepared and after its period has ended.
        prepared = params.report_date or when.astimezone(local_zone()).date()
        update["meeting_date"] = schedules().next_meeting(max(prepared, Period.parse(period).end))
    return params.model_copy(update=update)


def build(p: RunParams, run_id: str) -> Built:
    """Extract, validate, load, compute and render the draft; put it in place."""
    final = Path(p.out) / report_name(p.period, p.kind)
    final.parent.mkdir(parents=True, exist_ok=True)
    for dead in remove_dead_staging(final):
        progress.say(f"Poistettiin keskeytyneen ajon keskeneräinen kansio {dead.name}")
    stage = staging_dir(final, run_id)
    today = dt.datetime.now(local_zone()).date()

    # The typed rows wait on disk between the stages, a part at a time (tasks.ingest.rows), and go once loaded.
    with spill_folder(stage) as spill:
        extracted, validated, notes, loaded = ingest(p, run_id, stage, final, today, spill)
    with progress.stage(progress.FINANCE) as step:
        data, inputs = stages.read(p.warehouse, loaded)
        previous_round, previous = stages.previous_forecast_round(p.archive, p.period, p.kind)
        fin = stages.finance(data, p.year, p.month, notes.adjustments, previous, previous_round)
        explained = stages.explain(fin, p.year, p.month, notes.explanations)
        controls = extracted.controls if "ledger" in validated.usable else pd.DataFrame()
        rec = stages.reconcile(data, controls, fin, p.year)
        step.done = fmt.count(len(rec.deviations), "täsmäytysero", "täsmäytyseroa")
    with progress.stage(progress.GOALS) as step:
        goals = stages.goals(inputs, data, validated, fin, p.year, p.month, notes)
        comparison = stages.comparison(p.year, p.sotkanet_cache)
        for problem in comparison.problems:
            progress.say(problem)
        indicators = fmt.count(len(goals.results), "mittari", "mittaria")
        step.done = f"{indicators}, {fmt.count(len(goals.goals), 'tavoite', 'tavoitetta')}"
    report = ReportInputs(
        year=p.year,
        month=p.month,
        kind=p.kind,
        report_date=p.report_date or today,
        meeting_date=p.meeting_date,
        finance=fin,
        reconciliation=rec,
        sources=validated.statuses,
        goals=goals,
        comparison=comparison,
        explanations=explained,
        commentary=notes,
    )
    with progress.stage(progress.RENDER):
        rendered = stages.render(report, stage, p.pdf_cache)

    write_tables(stage, rec.checks, goals.results, fin.table)
    # The controller's workbook for this report, pre-filled: edited and dropped into the extracts folder.
    write_commentary_workbook(
        stage / commentary_file(Path(p.extracts), p.reporting_period, p.kind).name,
        p.reporting_period,
        p.kind,
        explained,
        goals.notes,
        goals.actions,
        fin.table,
        notes,
        proposal_default(p.kind, p.year, p.month),
    )
    figures = key_figures(fin, goals, validated.statuses, rec, explained)
    run_facts = {
        "period": p.period,
        "kind": p.kind,
        "prefect_flow_run_id": run_id,
        # When this run's draft was made: an approval of an older draft than one approved or waiting is refused.
        "drafted_at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        "report_date": report.report_date.isoformat(),
        "meeting_date": report.meeting_date.isoformat() if report.meeting_date else None,
        "content_fingerprint": rendered.fingerprint,
        "extracts": str(Path(p.extracts).resolve()),
        "warehouse": mask_url(p.warehouse),
        "sources": [
            {
                k: getattr(s, k)
                for k in ("source", "status", "rows", "checks", "passed", "missing", "errors", "warnings")
            }
            for s in validated.statuses
        ],
        "deviations": figures["deviations"],
        "commentary": commentary_facts(notes, explained, goals),
    }
    entries = input_entries(extracted, validated.statuses, loaded, notes)
    write_json(manifest({**run_facts, "approval": None}, entries, stage), stage / MANIFEST_JSON)
    draft = keep_draft(stage, final, run_id) if p.deliver else None
    replace_outputs(stage, final)
    killpoints.passed("render")

    title, period_text = report_heading(p.kind, p.year, p.month)
    return Built(
        rendered=rendered,
        final=final,
        draft=draft,
        figures=figures,
        title=title,
        period_text=period_text,
        manifest_run=run_facts,
        input_entries=entries,
        markdown=summary_markdown(figures, title, period_text, validated.statuses, rec, final / REPORT_PDF, notes),
        quality=quality_markdown(validated.statuses, period_text),
        deviations=deviation_rows(fin.table),
        commentary=commentary_lines(notes, figures),
    )


def ingest(
    p: RunParams, run_id: str, stage: Path, final: Path, today: dt.date, spill: Path
) -> tuple[Extracted, Validated, Commentary, Loaded]:
    """Extract, validate and load the period's sources (the typed rows spilled under `spill`), and read the
    controller's commentary."""
    # Seconds of Great Expectations' import pass on the other core while the files are read and hashed.
    import_great_expectations_ahead()
    with progress.stage(progress.EXTRACT) as step:
        earlier = stages.warehouse_history(p.warehouse)
        # `--force` reads, validates and loads every file again; otherwise files earlier runs checked are reused.
        extracted = stages.extract(Path(p.extracts), p.year, p.month, None if p.force else earlier, spill)
        files = extracted.files()
        step.done = (
            f"{fmt.count(len(files), 'tiedosto', 'tiedostoa')}, {fmt.count(int(files['rows'].sum()), 'rivi', 'riviä')}"
        )
        if files["reused"].any():
            step.done += f" ({int(files['reused'].sum())} {REUSED_FI})"
    killpoints.passed("extract")
    with progress.stage(progress.VALIDATE) as step:
        keys = stages.earlier_keys(p.warehouse, extracted)
        validated = stages.validate(extracted, earlier, keys, today, stage / QUALITY_DIR)
        usable = len(validated.usable)
        step.done = f"käytettävissä {usable}/{len(validated.statuses)} lähdettä"
    killpoints.passed("validate")
    if all(s.status == SOURCE_MISSING for s in validated.statuses) and approved_outputs(final):
        # An unmounted or emptied extracts folder: a report of nothing never replaces what the board approved.
        shutil.rmtree(stage, ignore_errors=True)
        raise RuntimeError(
            f"Kansiosta {p.extracts} ei löytynyt yhtään lähdetiedostoa (onko levy liitetty?); tyhjä luonnos ei "
            f"korvaa hyväksyttyä raporttia {final}."
        )
    with progress.stage(progress.LOAD) as step:
        stages.store_validation(p.warehouse, run_id, p.period, p.kind, validated)
        notes = stages.commentary(Path(p.extracts), p.period, p.kind, stage / QUALITY_DIR / "kommentit", today)
        loaded = stages.load(p.warehouse, extracted, validated, run_id, p.force)
        extracted.forget_rows()  # the rows are in the warehouse: at scale, gigabytes the later stages need not hold
        new = [b for b in loaded.batches if not b.reused]
        step.done = (
            f"{fmt.count(len(new), 'erä', 'erää')} uutta, {fmt.count(sum(b.rows for b in new), 'rivi', 'riviä')}"
        )
    killpoints.passed("load")
    return extracted, validated, notes, loaded


@contextlib.contextmanager
def spill_folder(stage: Path) -> Iterator[Path]:
    """A folder for the run's typed rows inside its staging folder, removed however the stages end (a killed run's
    goes with its staging folder: `remove_dead_staging`)."""
    folder = stage / SPILL_DIR
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def approval_description(built: Built) -> str:
    """The approval form's text: which draft this is (this run's own copy, which no later run overwrites, and its
    fingerprint), where to read it, and what of it no one has reviewed."""
    own = built.draft if built.draft is not None else built.final
    lines = [
        f"**{built.title}, {built.period_text}**",
        "",
        f"Luonnos: {report_link(own)}",
        f"Sisällön tunniste: {built.fingerprint[:12]} (laadittu {built.manifest_run['drafted_at'][:19]} UTC)",
        "",
    ]
    return "\n".join(lines + [f"- {line}" for line in built.commentary])


def superseded(p: RunParams, built: Built, run_id: str) -> str | None:
    """Why this run's draft may no longer be approved: a newer draft of the same report waits for approval (it is
    the one published) or has been approved (the newest archived version). None when this draft is the newest."""
    mine = built.manifest_run["drafted_at"]
    published = read_manifest(built.final)
    if published.get("prefect_flow_run_id") not in (None, run_id) and published.get("drafted_at", "") > mine:
        return f"uudempi luonnos (ajo {published['prefect_flow_run_id']}) odottaa hyväksyntää"
    newest = latest_version(Path(p.archive), p.period, p.kind)
    if newest is not None and newest.metadata.get("drafted_at", "") > mine:
        return f"uudempi luonnos on jo hyväksytty (arkistoversio {newest.version})"
    return None


def deployment_places(params: RunParams) -> RunParams:
    """A run started from a deployment (a schedule, the UI's custom run) reads and writes where its deployment
    says, whatever its form says: a form cannot point a run at a fresh warehouse (and send version 1 again) or
    at another archive."""
    if not deployment.id:
        return params
    with get_client(sync_client=True) as client:  # the deployment's own parameters, not this run's
        own = (client.read_deployment(deployment.id).parameters or {}).get("params") or {}
    fields = (*PLACES, "warehouse")
    defaults = RunParams.model_validate({k: v for k, v in own.items() if k in fields})
    return params.model_copy(update={f: getattr(defaults, f) for f in fields})


class Superseded(RuntimeError):
    """An approval of a draft older than one approved or waiting: refused, nothing delivered."""


class StrictStop(RuntimeError):
    """A strict run stopped before approval: a source was missing or quarantined."""


def approval(p: RunParams, built: Built) -> Approval:
    """Approved headless by `approve_as`, or the controller's answer in the UI (the run waits). An answer whose
    words hold a personal identity code is refused: it would be printed on the cover and archived for ever."""
    answer = _answer(p, built)
    if answer.approver.strip() not in settings().approvers:
        reason = (
            f"Hyväksyjä {answer.approver.strip()!r} ei ole hyväksyjien luettelossa (settings.yaml: approvers); "
            "raporttia ei toimitettu."
        )
        if contains_code(answer.approver):
            reason = "Hyväksyjän nimessä on henkilötunnus; raporttia ei toimitettu. Aja raportti uudelleen."
        record_decision(p.period, p.kind, f"# Hyväksyntää ei käsitelty\n\n{reason}")
        raise RuntimeError(reason)
    if contains_code(answer.comment):
        reason = (
            "Hyväksynnän nimessä tai huomautuksessa on henkilötunnus; raporttia ei toimitettu. Aja raportti "
            "uudelleen ja anna vastaus ilman sitä."
        )
        record_decision(p.period, p.kind, f"# Hyväksyntää ei käsitelty\n\n{reason}")
        raise RuntimeError(reason)
    return answer


def approvers_told_key(context, parameters: dict) -> str:
    """The approvers are told once per flow run: the run started again after its approval does not tell them
    again."""
    return f"katsaus-approvers-told-{parameters['run_id']}"


def approval_ends(p: RunParams, start: dt.datetime) -> dt.datetime:
    """When the draft stops waiting: `approval_timeout_hours` after `start` if given, else the kind's working days
    (deployments/schedules.yaml) later, weekends and Finnish public holidays not counted."""
    if p.approval_timeout_hours is not None:
        return start + dt.timedelta(hours=p.approval_timeout_hours)
    return approval_deadline(p.kind, start)


def approval_wait_text(p: RunParams) -> str:
    """How long the wait was, for the reason a run that got no answer gives (`3 työpäivän`, `72 tunnin`)."""
    if p.approval_timeout_hours is not None:
        return f"{fmt.short(p.approval_timeout_hours)} tunnin"
    return f"{schedules().for_kind(p.kind).approval_working_days} työpäivän"


@task(name="ask-approvers", persist_result=True, cache_key_fn=approvers_told_key)
def tell_approvers(p: RunParams, built: Built, run_id: str, answer_by: dt.datetime) -> str:
    """*Luonnos odottaa hyväksyntää* to the controllers: what the draft says, where to read and answer it, by when."""
    told = ask_approvers(
        settings().approver_emails,
        ApprovalAsk(
            title=built.title,
            period_text=built.period_text,
            summary_lines=summary_lines(built.figures),
            draft_link=report_link(built.draft if built.draft is not None else built.final),
            approval_link=run_url(run_id),
            answer_by=answer_by,
        ),
        secret_loader=stages.prefect_secret,
    )
    progress.say(f"Hyväksyntäpyyntö: {told}.")
    return told


def _answer(p: RunParams, built: Built) -> Approval:
    if p.approve_as:
        return Approval(approver=p.approve_as, decision="hyväksy", comment="")
    form = Approval.with_initial_data(description=approval_description(built))
    now = dt.datetime.now(local_zone())
    ends = approval_ends(p, now)
    timeout = max(1, int((ends - now).total_seconds()))
    tell_approvers(p, built, str(flow_run.get_id() or "local"), ends)
    if deployment.id:
        # Suspended: the process ends here and the wait lives on the server. Answered, the run starts again from
        # the top, takes its persisted draft, and this call returns the answer. An expired wait is failed by the
        # server and reported to the operators by `katsaus serve` (flows/watch.py).
        progress.say(
            f"Luonnos valmis: {built.final / REPORT_PDF}. Ajo odottaa hyväksyntää Prefectin käyttöliittymässä."
        )
        progress.flush()
        return suspend_flow_run(wait_for_input=form, timeout=timeout, key="approval")
    progress.say(f"Luonnos valmis: {built.final / REPORT_PDF}. Odotetaan hyväksyntää Prefectin käyttöliittymässä.")
    # A run from the command line has no deployment to be started again from: its own process waits, and reminds
    # the approvers itself when the reminder is due (in the run's context, so the line reaches its logs).
    reminder = threading.Timer(
        (reminder_due(now, ends) - now).total_seconds(),
        contextvars.copy_context().run,
        args=(remind_while_waiting, flow_run.get_id()),
    )
    reminder.daemon = True
    reminder.start()
    try:
        return pause_flow_run(wait_for_input=form, timeout=timeout, poll_interval=5, key="approval")
    except FlowPauseTimeout:
        reason = f"Hyväksyntää ei saatu {approval_wait_text(p)} kuluessa; raporttia ei toimitettu."
        record_decision(p.period, p.kind, f"# Ei hyväksyntää\n\n{reason}")
        raise RuntimeError(reason) from None
    finally:
        reminder.cancel()


def remind_while_waiting(run_id: str) -> None:
    """The reminder of a run waiting in its own process; a failure is told on the run's lines and ends nothing."""
    try:
        done = remind_if_due(run_id)
    except Exception as exc:  # the server restarting, a network blip: the wait goes on without a reminder
        progress.say(f"Muistutusta hyväksyjille ei lähetetty: {exc}")
        return
    if done:
        progress.say(done)


def deliver(p: RunParams, built: Built, answer: Approval, run_id: str) -> dict:
    """Put the final report in place, archive it and e-mail it to the board exactly once per version."""
    why = superseded(p, built, run_id)
    if why:
        reason = f"Hyväksytty luonnos on vanhentunut: {why}. Tätä luonnosta ei toimitettu; hyväksy uudempi luonnos."
        record_decision(p.period, p.kind, f"# Vanhentunut luonnos\n\n{reason}")
        raise Superseded(reason)
    approved_at = dt.datetime.now(local_zone())
    stage = restage(built.draft, built.final, run_id)
    stages.render_final(built.rendered, stage, answer.approver, approved_at, answer.comment, p.pdf_cache)
    approval_facts = {"approved_by": answer.approver, "approved_at": approved_at.isoformat(), "comment": answer.comment}
    write_json(
        manifest({**built.manifest_run, "approval": approval_facts}, built.input_entries, stage), stage / MANIFEST_JSON
    )
    replace_outputs(stage, built.final)
    killpoints.passed("publish")
    version = stages.archive(
        p.archive,
        p.period,
        p.kind,
        built.final,
        built.fingerprint,
        {
            "figures": built.figures,
            "approval": approval_facts,
            "prefect_flow_run_id": run_id,
            "drafted_at": built.manifest_run["drafted_at"],
        },
    )
    killpoints.passed("archive")
    previous = version.previous.metadata.get("figures") if version.new and version.previous else None
    delivered = stages.deliver(
        p.warehouse,
        version,
        p.publish_dir,
        board=structure().board,
        title=built.title,
        period_text=built.period_text,
        approved_by=answer.approver,
        approved_at=approved_at,
        summary_lines=summary_lines(built.figures),
        changes=changes(previous, built.figures) if previous else [],
    )
    killpoints.passed("send")
    return delivered


def draft_key(context, parameters: dict) -> str:
    """One persisted draft per flow run: the run started again after its approval takes it back."""
    return f"katsaus-draft-{parameters['run_id']}"


@task(name="draft", persist_result=True, cache_key_fn=draft_key)
def drafted(params: RunParams, run_id: str) -> tuple[RunParams, Built]:
    """The run's places and period, settled once, and its draft built under the period's lock. Persisted: a run
    resumed after its approval (days later, on another process) delivers exactly what its approver saw."""
    home = katsaus_home()
    p = placed(deployment_places(with_period(params)), home)
    progress.say(f"Kotikansio: {home}")
    with period_lock(p.warehouse, report_name(p.period, p.kind), run_id):
        return p, build(p, run_id)


def forget_draft(run_id: str) -> None:
    """The persisted draft of a run that has ended (delivered, rejected, refused), and the record that its
    approvers were told: no longer needed."""
    for key in (draft_key, approvers_told_key):
        (PREFECT_LOCAL_STORAGE_PATH.value() / key(None, {"run_id": run_id})).unlink(missing_ok=True)


@flow(name="katsaus-report", log_prints=True, on_failure=[notify_operators], on_crashed=[notify_operators])
def report_flow(params: RunParams) -> dict:
    """Build the period's board report, ask for approval, then archive and deliver it exactly once."""
    run_id = str(flow_run.get_id() or "local")
    if params.approve_as and deployment.id:
        # A run started from the UI or a schedule is approved in its form, by someone else than who started it.
        raise ValueError(
            "Hyväksyntä ilman odotusta (approve_as) on vain komentorivin ajoille; käyttöliittymästä tai "
            "ajastuksesta käynnistetty ajo odottaa hyväksyntää."
        )
    state = drafted(params, run_id, return_state=True)
    p, built = state.result()
    lock = report_name(p.period, p.kind)
    if state.name != "Cached":  # a resumed run posted these before it waited
        post_artifacts(
            p.period, p.kind, built.markdown, built.quality, built.deviations, report_link(built.final), "luonnos"
        )
    result = {
        "report_dir": str(built.final),
        "period": p.period,
        "kind": p.kind,
        "fingerprint": built.fingerprint,
        "sources": built.figures["sources"],
        "deviations": built.figures["deviations"],
        "summary": summary_lines(built.figures),
        "delivery": {"status": "draft"},
    }
    if not p.deliver:
        forget_draft(run_id)
        return result
    unusable = {s: st for s, st in built.figures["sources"].items() if st != SOURCE_OK}
    if p.strict and unusable:
        # A strict run never asks anyone to approve a report with a source missing or quarantined.
        shutil.rmtree(built.draft, ignore_errors=True)
        forget_draft(run_id)
        listed = ", ".join(f"{source_title(s)} ({SOURCE_STATUS_FI.get(st, st)})" for s, st in unusable.items())
        raise StrictStop(
            f"Tiukka ajo keskeytettiin ennen hyväksyntää: kaikkia lähteitä ei voitu käyttää ({listed}). "
            f"Luonnos: {built.final / REPORT_PDF}"
        )
    waiting = False
    try:
        answer = approval(p, built)
        if answer.decision != "hyväksy":
            reason = f"hylätty ({answer.approver}){': ' + answer.comment if answer.comment else ''}"
            progress.say(f"Raporttia ei toimitettu: {reason}")
            record_decision(
                p.period,
                p.kind,
                f"# Hylätty\n\nHylkääjä: {answer.approver}\n\nPerustelu: {answer.comment or '–'}\n\nRaporttia "
                "ei toimitettu.",
            )
            return {**result, "delivery": {"status": "rejected", "reason": reason}}
        with period_lock(p.warehouse, lock, run_id):
            delivery = deliver(p, built, answer, run_id)
    except Pause:
        waiting = True  # suspended: the draft and its persisted build wait for the answer
        raise
    finally:
        if not waiting:
            shutil.rmtree(built.draft, ignore_errors=True)  # this run's private copy of its draft
            forget_draft(run_id)
    post_artifacts(
        p.period, p.kind, built.markdown, built.quality, built.deviations, report_link(built.final), "hyväksytty"
    )
    record_decision(
        p.period,
        p.kind,
        f"# Hyväksytty\n\nHyväksyjä: {answer.approver}\n\nHuomautus: {answer.comment or '–'}\n\nToimitus: "
        f"{delivery['status']}, arkistoversio {delivery['version']}.",
    )
    return {**result, "delivery": delivery}
