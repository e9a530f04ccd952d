"""Reminding the approvers of a draft whose approval wait is about to end.

A waiting run's approvers get *Muistutus: luonnos odottaa hyväksyntää* once,
a day before the wait ends (halfway through a wait shorter than two days: a
reminder right after the request tells nothing new). Two kinds of waiter
remind: `katsaus serve`'s watcher (flows/watch.py) for every waiting run, and
the process of a run from the command line for its own wait (flows/report.py),
so a reminder goes out with or without a server process watching. Whichever
comes first tags the run `REMINDED`, and the other then leaves it be.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import FlowRun

from flows.artifacts import report_link
from flows.hooks import run_url
from flows.params import RunParams
from flows.stages import prefect_secret
from tasks.contracts import settings
from tasks.contracts.vocab import Period, report_name
from tasks.deliver.delivery import ask_approvers
from tasks.deliver.messages import ApprovalAsk
from tasks.report.context import report_heading
from tasks.report.outputs import draft_of_run

REMINDED = "katsaus-muistutettu"
# How long before its wait ends a waiting run's approvers are reminded.
REMIND_BEFORE = dt.timedelta(hours=24)


def reminder_due(start: dt.datetime, ends: dt.datetime) -> dt.datetime:
    """When the approvers of a wait from `start` to `ends` are reminded: `REMIND_BEFORE` before it ends, or halfway
    through a shorter wait."""
    return max(ends - REMIND_BEFORE, start + (ends - start) / 2)


def is_due(run: FlowRun, now: dt.datetime) -> bool:
    """The run waits for approval, is not reminded of yet, and its reminder is due before `now` (its wait not over)."""
    if not run.state or not run.state.is_paused() or REMINDED in (run.tags or []):
        return False
    ends = run.state.state_details.pause_timeout
    return ends is not None and reminder_due(run.state.timestamp, ends) <= now <= ends


def remind_of_run(client: SyncPrefectClient, run: FlowRun) -> str:
    """The reminder of one waiting run, sent and recorded as a tag; returns what was done, in Finnish."""
    params = RunParams.model_validate((run.parameters or {}).get("params") or {})
    period = Period.parse(params.period)  # a waiting run has settled its period
    title, period_text = report_heading(params.kind, period.year, period.month)
    final = Path(params.out) / report_name(str(period), params.kind)
    ask = ApprovalAsk(
        title=title,
        period_text=period_text,
        summary_lines=[],
        # The run's own draft, as its request linked it; the published one may be a later run's by now.
        draft_link=report_link(draft_of_run(final, str(run.id)) or final),
        approval_link=run_url(str(run.id)),
        answer_by=run.state.state_details.pause_timeout,
        reminder=True,
    )
    told = ask_approvers(settings().approver_emails, ask, secret_loader=prefect_secret)
    client.update_flow_run(run.id, tags=[*(run.tags or []), REMINDED])
    return f"Ajo {run.name}: muistutus hyväksyjille ({told})"


def remind_if_due(run_id: UUID | str) -> str | None:
    """The reminder of one run if it is due now (the run still waits and nobody reminded of it yet), else None."""
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        return remind_of_run(client, run) if is_due(run, dt.datetime.now(dt.UTC)) else None
