"""The report's deployments: schedules declared once in `schedules.yaml`.

`runner_deployments` builds them for `katsaus serve` (the local Prefect, no
work pool); `prefect_yaml` writes the same deployments for a process work pool
(`prefect deploy --all` on a Prefect server with workers). A scheduled run
carries no period: the flow reports the month before its scheduled day
(`scheduled_period`), so a schedule, a rerun from the UI and a backfill run the
same code with the same parameters model.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from tasks.contracts import local_zone, settings
from tasks.contracts.calendar import after_working_days
from tasks.contracts.declarations import declared
from tasks.contracts.vocab import Period, parse_date

FLOW_NAME = "katsaus-report"
ENTRYPOINT = "flows/report.py:report_flow"


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    kind: str
    description: str
    cron: str
    # How long a draft waits for approval, in Finnish working days.
    approval_working_days: int = 3


@dataclass(frozen=True)
class Schedules:
    timezone: str
    work_pool: str
    deployments: tuple[DeploymentSpec, ...]
    board_meetings: tuple[dt.date, ...] = ()
    # Runs at once of each deployment, and in one `katsaus serve`; more wait in the queue.
    per_deployment: int = 1
    serve_limit: int = 1

    def next_meeting(self, day: dt.date) -> dt.date | None:
        """The board's first meeting on or after `day`, if the calendar has one."""
        return next((m for m in sorted(self.board_meetings) if m >= day), None)

    def for_kind(self, kind: str) -> DeploymentSpec:
        return next(d for d in self.deployments if d.kind == kind)


@cache
def schedules() -> Schedules:
    raw = declared("schedules.yaml", "deployments")
    return Schedules(
        timezone=settings().timezone,
        work_pool=raw["work_pool"],
        deployments=tuple(
            DeploymentSpec(d["name"], d["kind"], d["description"], d["cron"], int(d["approval_working_days"]))
            for d in raw["deployments"]
        ),
        board_meetings=tuple(parse_date(d) for d in raw.get("board_meetings") or ()),
        per_deployment=int(raw["concurrency"]["per_deployment"]),
        serve_limit=int(raw["concurrency"]["serve"]),
    )


# A run over a deployment's limit waits for a slot (never CANCEL_NEW: a backfill's runs are all wanted).
COLLISION_STRATEGY = "ENQUEUE"


def approval_deadline(kind: str, start: dt.datetime) -> dt.datetime:
    """When a draft of `kind` made at `start` stops waiting for approval: its working days later, in local time."""
    return after_working_days(start.astimezone(local_zone()), schedules().for_kind(kind).approval_working_days)


def deployment_name(kind: str) -> str:
    """`flow/deployment`, the name `run_deployment` and the CLI use."""
    return f"{FLOW_NAME}/{schedules().for_kind(kind).name}"


def scheduled_period(when: dt.datetime) -> str:
    """The period a run scheduled at `when` reports: the month before, in Helsinki time."""
    return str(Period.before(when.astimezone(local_zone()).date()))


def run_parameters(kind: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """The deployment's parameters: the flow's single `params` model, without a period."""
    return {"params": {**defaults, "kind": kind}}


def runner_deployments(flow, defaults: dict[str, Any]) -> list:
    """Every deployment on its Helsinki-time cron schedule, for `serve` on the local Prefect."""
    from prefect.client.schemas.objects import (  # Prefect only when deployments are built
        ConcurrencyLimitConfig,
        ConcurrencyLimitStrategy,
    )
    from prefect.schedules import Cron  # see above

    s = schedules()
    limit = ConcurrencyLimitConfig(
        limit=s.per_deployment, collision_strategy=ConcurrencyLimitStrategy(COLLISION_STRATEGY)
    )
    return [
        flow.to_deployment(
            name=d.name,
            schedules=[Cron(d.cron, timezone=s.timezone)],
            parameters=run_parameters(d.kind, defaults),
            description=d.description,
            tags=["katsaus", d.kind],
            concurrency_limit=limit,
        )
        for d in s.deployments
    ]


def prefect_yaml(defaults: dict[str, Any]) -> str:
    """prefect.yaml for a Prefect server with a process work pool: the same deployments as `serve`."""
    s = schedules()
    doc = {
        "name": "katsaus",
        "prefect-version": "3.8.8",
        # Workers run the flows from a checkout of this repository with its .venv.
        "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $KATSAUS_HOME }}"}}],
        "deployments": [
            {
                "name": d.name,
                "description": d.description,
                "entrypoint": ENTRYPOINT,
                "tags": ["katsaus", d.kind],
                "parameters": run_parameters(d.kind, defaults),
                "schedules": [{"cron": d.cron, "timezone": s.timezone, "active": True}],
                "concurrency_limit": {"limit": s.per_deployment, "collision_strategy": COLLISION_STRATEGY},
                "work_pool": {"name": s.work_pool, "work_queue_name": "default"},
            }
            for d in s.deployments
        ],
    }
    header = "# Generated from deployments/schedules.yaml by `katsaus deployments --write`; do not edit by hand.\n"
    return header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120)


def backfill_periods(first: str, last: str) -> list[str]:
    """Every month from `first` to `last` (YYYY-MM), inclusive."""
    return [str(p) for p in Period.parse(first).through(Period.parse(last))]


def backfill_key(kind: str, period: str) -> str:
    """The idempotency key of a backfill run: the same period and kind never gets a second run."""
    return f"katsaus-backfill-{kind}-{period}"


def next_runs(cron: str, n: int, after: dt.datetime | None = None) -> list[dt.datetime]:
    """The next `n` run times of a cron schedule, computed by Prefect's own scheduler code, in local time."""
    import asyncio  # with Prefect's scheduler below

    from prefect.server.schemas.schedules import CronSchedule  # heavy: Prefect's server schemas

    tz = schedules().timezone
    schedule = CronSchedule(cron=cron, timezone=tz)
    dates = asyncio.run(schedule.get_dates(n=n, start=after or dt.datetime.now(ZoneInfo(tz))))
    return [d.astimezone(ZoneInfo(tz)) for d in dates]


def backfill_runs(kind: str, first: str, last: str) -> list[tuple[str, str, bool]]:
    """Create a run of the kind's deployment for every period from `first` to `last`.

    Each run carries an idempotency key of its kind and period, so asking again
    returns the existing run instead of creating another. Parameters are the
    deployment's own with the period filled in, as a rerun from the UI would
    have them. Returns (period, run name, created now) per period.
    """
    from prefect.client.orchestration import get_client  # Prefect's client only when backfilling
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId  # see above

    out = []
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(deployment_name(kind))
        base = dict((deployment.parameters or {}).get("params", {}))
        existing = {
            r.idempotency_key
            for r in client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
            )
        }
        for period in backfill_periods(first, last):
            key = backfill_key(kind, period)
            run = client.create_flow_run_from_deployment(
                deployment.id,
                parameters={"params": {**base, "kind": kind, "period": period}},
                idempotency_key=key,
                name=f"{schedules().for_kind(kind).name}-{period}",
            )
            out.append((period, run.name, key not in existing))
    return out
