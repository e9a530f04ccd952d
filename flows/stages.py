"""The pipeline's stages as Prefect tasks: thin wrappers over `tasks/`, in pipeline order.

Each wrapper names the stage in the UI and calls the stage's plain function;
retries belong to the tasks that do I/O (files, the warehouse, the archive),
never to computation. Nothing here decides anything the stage does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE

from flows import progress
from tasks.contracts import settings
from tasks.contracts.catalog import catalog
from tasks.contracts.vocab import FORECAST, TALOUS_CSV, Period
from tasks.deliver.archive import ArchivedVersion, previous_forecast
from tasks.deliver.delivery import archive_approved, deliver_to_board
from tasks.finance.explain import Explanation, explanations
from tasks.finance.followup import Finance, follow_up
from tasks.finance.reconcile import Reconciliation, reconciliation
from tasks.goals.formulas import indicator_inputs
from tasks.goals.results import GoalResults, goal_results_of_period
from tasks.goals.sotkanet import Comparison, sotkanet_comparison
from tasks.ingest.commentary import Commentary, read_commentary
from tasks.ingest.period import Extracted, extract_period
from tasks.ingest.quality import Validated, validate_period
from tasks.ingest.reuse import Checked
from tasks.report.context import ReportInputs, report_title
from tasks.report.outputs import read_talous
from tasks.report.render import RenderedReport, render_approved, render_draft
from tasks.warehouse.engine import warehouse
from tasks.warehouse.history import record_validation, row_count_history
from tasks.warehouse.load import Loaded, checked_files, load_files, load_plan, planned_loads, reused_keys
from tasks.warehouse.read import ReportingData, reporting_data, snapshot

IO = {"retries": 2, "retry_delay_seconds": 5, "cache_policy": NO_CACHE}
PURE = {"cache_policy": NO_CACHE}


def prefect_secret(name: str) -> str | None:
    """The Prefect Secret block's value, or None when no such block exists."""
    try:
        block = Secret.load(name)
    except ValueError:  # Prefect's "Unable to find block document named …"
        return None
    # The raw value: Secret.get() would JSON-decode a password such as "true" or "1e3".
    value = block.value.get_secret_value()
    return value if isinstance(value, str) and value else None


@task(name="warehouse-history", **IO)
def warehouse_history(url: str) -> Checked:
    """Row counts of earlier loads (for the learned row-count bands) and the files earlier runs validated clean
    (I/O: retried)."""
    with warehouse(url) as engine:
        return Checked(checked_files(engine), row_count_history(engine), settings().row_band_margin)


@task(name="extract", **IO)
def extract(extracts: Path, year: int, month: int, earlier: Checked | None, spill: Path | None = None) -> Extracted:
    """Read every source of the period, reusing the files `earlier` runs checked, the typed rows spilled under
    `spill` (I/O: retried on transient failures)."""
    return extract_period(extracts, year, month, earlier, on_source=progress.source_read, spill=spill)


@task(name="reused-keys", **IO)
def earlier_keys(url: str, extracted: Extracted) -> dict[str, pd.DataFrame]:
    """The reused files' values of the keys that must stay unique across a source's files (I/O: retried)."""
    with warehouse(url, migrated=False) as engine:
        return reused_keys(engine, extracted)


@task(name="validate", **PURE)
def validate(
    extracted: Extracted, earlier: Checked, keys: dict[str, pd.DataFrame], today: dt.date, quality_dir: Path
) -> Validated:
    """Run the suites on the files read now and judge every source of the period."""
    validated = validate_period(
        extracted, earlier.history, today, quality_dir, earlier.margin, keys, on_source=progress.source_checked
    )
    progress.sources_checked_before(validated.statuses)
    return validated


@task(name="record-validation", **IO)
def store_validation(url: str, run_id: str, period: str, kind: str, validated: Validated) -> None:
    with warehouse(url, migrated=False) as engine:
        record_validation(engine, run_id, period, kind, validated.statuses)


@task(name="load-warehouse", **IO)
def load(url: str, extracted: Extracted, validated: Validated, run_id: str, force: bool = False) -> Loaded:
    """Load each file of the usable sources atomically (I/O: retried)."""
    with warehouse(url) as engine:
        plan, planned = load_plan(extracted, validated), planned_loads(extracted, validated)
        return load_files(engine, plan, run_id, force, on_batch=progress.batches_loaded, planned=planned)


@task(name="read-warehouse", **IO)
def read(url: str, loaded: Loaded) -> tuple[ReportingData, dict[str, pd.DataFrame]]:
    """The run's own batches read back: the finances' and unit tables' rows, and the indicators' aggregates (I/O:
    retried).
    """
    with warehouse(url, migrated=False) as engine, snapshot(engine, loaded) as snap:
        return reporting_data(snap, loaded), indicator_inputs(snap, catalog(), loaded)


@task(name="read-commentary", **IO)
def commentary(extracts: Path, period: str, kind: str, quality_dir: Path, today: dt.date) -> Commentary:
    """The controller's commentary workbook, read and checked (absent is not an error)."""
    return read_commentary(extracts, Period.parse(period), kind, quality_dir, today)


@task(name="previous-forecast", **IO)
def previous_forecast_round(archive_root: str, period: str, kind: str) -> tuple[str | None, pd.DataFrame | None]:
    """The newest approved forecast round before this report, as its talous.csv, and its title."""
    version = previous_forecast(Path(archive_root), period, kind)
    if version is None or not (version.path / TALOUS_CSV).is_file():
        return None, None
    before = Period.parse(version.period)
    return report_title(FORECAST, before.month), read_talous(version.path / TALOUS_CSV)


@task(name="compute-finance", **PURE)
def finance(
    data: ReportingData,
    year: int,
    month: int,
    adjustments: pd.DataFrame,
    previous: pd.DataFrame | None,
    previous_round: str | None,
) -> Finance:
    return follow_up(data, year, month, adjustments, previous, previous_round)


@task(name="explain-finance", **PURE)
def explain(fin: Finance, year: int, month: int, controller: pd.DataFrame) -> list[Explanation]:
    """Every subject's explanation: the controller's text, or a draft from the ledger."""
    return explanations(fin, year, month, controller)


@task(name="reconcile", **PURE)
def reconcile(data: ReportingData, controls: pd.DataFrame, fin: Finance, year: int) -> Reconciliation:
    return reconciliation(data, controls, fin, year)


@task(name="compute-indicators", **PURE)
def goals(
    inputs: dict[str, pd.DataFrame],
    data: ReportingData,
    validated: Validated,
    fin: Finance,
    year: int,
    month: int,
    notes: Commentary,
) -> GoalResults:
    return goal_results_of_period(
        catalog(), inputs, data.units, validated.by_source, fin, year, month, notes.explanations, notes.actions
    )


@task(name="sotkanet-comparison", retries=0, cache_policy=NO_CACHE)
def comparison(year: int, cache_dir: Path) -> Comparison:
    """Comparison with the largest cities (the client retries on its own, so the task does not)."""
    return sotkanet_comparison(year, cache_dir=cache_dir)


@task(name="render-report", **PURE)
def render(inputs: ReportInputs, stage: Path, pdf_cache: Path) -> RenderedReport:
    return render_draft(inputs, stage, pdf_cache)


@task(name="render-approved-report", **PURE)
def render_final(
    draft: RenderedReport, stage: Path, approved_by: str, approved_at: dt.datetime, comment: str, pdf_cache: Path
) -> None:
    render_approved(draft, stage, approved_by, approved_at, comment, pdf_cache)


@task(name="archive-report", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def archive(
    archive_root: str, period: str, kind: str, report_dir: Path, fingerprint: str, metadata: dict
) -> ArchivedVersion:
    return archive_approved(Path(archive_root), period, kind, report_dir, fingerprint, metadata)


@task(name="deliver-report", cache_policy=NO_CACHE)
def deliver(url: str, version: ArchivedVersion, publish_dir: str | None, **message) -> dict:
    """E-mail the archived version to the board, exactly once (retries are the sender's own)."""
    with warehouse(url) as engine:
        return deliver_to_board(
            engine,
            version,
            publish_dir=Path(publish_dir) if publish_dir else None,
            secret_loader=prefect_secret,
            **message,
        )
