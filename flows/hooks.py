"""What happens when a deployment run fails: the operators get an e-mail with the reason and a link."""

from __future__ import annotations

from prefect.settings import PREFECT_UI_URL

from flows.artifacts import recorded_decision
from flows.stages import prefect_secret
from tasks.deliver.delivery import alert_operators


def run_url(run_id: str) -> str | None:
    """The run's page in the Prefect UI, when a UI is configured."""
    base = PREFECT_UI_URL.value()
    return f"{base.rstrip('/')}/runs/flow-run/{run_id}" if base else None


def notify_operators(flow, run, state) -> None:
    """A failed or crashed deployment run (scheduled or started from the UI) is e-mailed to the operators; a crash
    (the process killed, the machine restarted) is reported by the runner or worker that lost it.

    The final state's message may be Prefect's own (an expired approval wait is
    failed by Prefect), so the reason the run recorded is added to it.
    """
    if getattr(run, "deployment_id", None) is None:
        return  # a run from the command line reports its failure there
    reason = state.message or "tuntematon syy"
    recorded = recorded_decision(run.id)
    if recorded and recorded.splitlines()[-1] not in reason:
        reason = f"{reason}\n\n{recorded}"
    print(alert_operators(run.name, reason, run_url(str(run.id)), secret_loader=prefect_secret))
