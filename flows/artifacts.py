"""What a controller sees of a run in the Prefect UI: the summary, data quality, budget deviations, the report link,
the decision.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from tasks.contracts.vocab import REPORT_PDF

DECISION = "hyvaksynta"


def report_link(report_dir: Path, base_url: str | None = None) -> str:
    """Where the UI's link points: the output folder as the web serves it (`KATSAUS_REPORT_BASE_URL`),
    or the file itself on this machine."""
    base = base_url if base_url is not None else os.environ.get("KATSAUS_REPORT_BASE_URL")
    if base:
        return f"{base.rstrip('/')}/{report_dir.name}/{REPORT_PDF}"
    return (report_dir / REPORT_PDF).resolve().as_uri()


def artifact_key(period: str, kind: str, what: str) -> str:
    """Prefect artifact keys are lowercase letters, digits and dashes."""
    return f"katsaus-{kind}-{period}-{what}".lower()


@task(name="post-artifacts", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def post_artifacts(
    period: str, kind: str, markdown: str, quality: str, deviations: list[dict], report_url: str, stage: str
) -> None:
    """The run's summary and data quality as markdown, its budget deviations as a table and a link to the report (I/O:
    retried).
    """
    create_markdown_artifact(
        markdown, key=artifact_key(period, kind, "yhteenveto"), description=f"Yhteenveto ({stage})"
    )
    create_markdown_artifact(quality, key=artifact_key(period, kind, "tietojen-laatu"), description="Tietojen laatu")
    if deviations:
        create_table_artifact(
            deviations, key=artifact_key(period, kind, "poikkeamat"), description="Talouden poikkeamat tulosbudjetista"
        )
    create_link_artifact(
        report_url,
        link_text="Raportti (PDF)",
        key=artifact_key(period, kind, "raportti"),
        description=f"Raportti ({stage})",
    )


def record_decision(period: str, kind: str, text: str) -> None:
    """The controller's decision (or why there was none) as a markdown artifact of the run.

    A plain call, not a task: after an approval wait has timed out the run is
    still paused, and Prefect starts no task in a paused run.
    """
    create_markdown_artifact(text, key=artifact_key(period, kind, DECISION), description="Hyväksyntä")


def artifacts_of_run(client: SyncPrefectClient, run_id) -> list:
    """Every artifact a flow run has posted."""
    return client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))


def recorded_decision(run_id) -> str | None:
    """What `record_decision` recorded for a run (its last decision artifact), as plain text."""
    with get_client(sync_client=True) as client:
        found = artifacts_of_run(client, run_id)
    texts = [a.data for a in found if a.key and a.key.endswith(f"-{DECISION}")]
    return texts[-1].replace("#", "").strip() if texts else None
