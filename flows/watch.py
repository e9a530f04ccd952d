"""Approval waits that are about to run out, or ran out while no process held them.

Shortly before a waiting run's wait ends, its approvers get a reminder
(*Muistutus: luonnos odottaa hyväksyntää*), once (flows/reminders.py).

A deployment run waits for approval suspended: no process of it is alive, so
when the wait expires the Prefect server fails the run ("The flow was paused
and never resumed.") and no hook of the run can tell anyone. `katsaus serve`
(and `katsaus watch`, beside a worker) looks for such runs, records the
decision artifact, alerts the operators once per run, and removes the run's
private draft. A run it has reported carries the tag `REPORTED`, so a restart
reports nothing twice and reports what expired while it was down.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import ArtifactCreate
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort

from flows.artifacts import DECISION, artifacts_of_run
from flows.hooks import run_url
from flows.params import RunParams
from flows.reminders import is_due, remind_of_run
from flows.report import approval_wait_text, forget_draft, report_flow
from flows.stages import prefect_secret
from tasks.deliver.delivery import alert_operators
from tasks.report.outputs import remove_drafts_of_run

EXPIRED = "The flow was paused and never resumed."  # the Prefect server's message for an expired wait
REPORTED = "katsaus-ilmoitettu"
RECENT = 200  # the newest failed runs looked at each time


def expired_waits(client: SyncPrefectClient) -> list[FlowRun]:
    """Runs of the report flow failed by the server because their approval wait expired, not yet reported."""
    failed = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[report_flow.name])),
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.FAILED]))),
        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        limit=RECENT,
    )
    return [r for r in failed if r.state and r.state.message == EXPIRED and REPORTED not in (r.tags or [])]


def expiry_reason(run: FlowRun) -> str:
    """Why the run delivered nothing, as the operators and the run's decision artifact read it."""
    params = RunParams.model_validate((run.parameters or {}).get("params") or {})
    return f"Hyväksyntää ei saatu {approval_wait_text(params)} kuluessa; raporttia ei toimitettu."


def report_expired_wait(client: SyncPrefectClient, run: FlowRun) -> str:
    """Record, alert and clean up after one expired wait; returns what was done, in Finnish."""
    reason = expiry_reason(run)
    summaries = [a.key for a in artifacts_of_run(client, run.id) if a.key and a.key.endswith("-yhteenveto")]
    if summaries:  # the run's own decision artifact, under the key its summary has
        client.create_artifact(
            ArtifactCreate(
                key=summaries[0].removesuffix("yhteenveto") + DECISION,
                type="markdown",
                data=f"# Ei hyväksyntää\n\n{reason}",
                description="Hyväksyntä",
                flow_run_id=run.id,
            )
        )
    out = ((run.parameters or {}).get("params") or {}).get("out")
    if out:
        remove_drafts_of_run(Path(out), str(run.id))
    forget_draft(str(run.id))
    alerted = alert_operators(run.name, reason, run_url(str(run.id)), secret_loader=prefect_secret)
    client.update_flow_run(run.id, tags=[*(run.tags or []), REPORTED])
    return f"Ajo {run.name}: {reason} ({alerted})"


def report_expired_waits() -> list[str]:
    """Every expired wait not reported yet, reported once; every wait about to end, reminded of once."""
    with get_client(sync_client=True) as client:
        return [report_expired_wait(client, run) for run in expired_waits(client)] + remind_approvers(client)


def remind_approvers(client: SyncPrefectClient, now: dt.datetime | None = None) -> list[str]:
    """A reminder to the approvers of every wait whose reminder is due (flows/reminders.py); returns what was done,
    in Finnish."""
    waiting = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[report_flow.name])),
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))),
        limit=RECENT,
    )
    now = now or dt.datetime.now(dt.UTC)
    return [remind_of_run(client, run) for run in waiting if is_due(run, now)]


def watch_expired_waits(every: float, stop: threading.Event) -> None:
    """Look now and every `every` seconds until `stop` is set; a failure to look is printed and tried again."""
    while True:
        try:
            for line in report_expired_waits():
                print(line, flush=True)
        except Exception as exc:  # the server restarting, a network blip: the next round tries again
            print(f"Vanhentuneiden hyväksyntöjen tarkistus epäonnistui: {exc}", flush=True)
        if stop.wait(every):
            return
