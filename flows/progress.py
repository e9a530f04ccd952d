"""The run's progress in Finnish: each stage says when it starts and when it ends (what it did, in seconds).

The lines go to the console of `katsaus run` as plain text and to the run's
logs in the Prefect UI (Prefect's API log handler), whatever level
`PREFECT_LOGGING_LEVEL` keeps Prefect's own lines at.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.context import FlowRunContext, TaskRunContext
from prefect.logging.handlers import APILogHandler

from reports import fmt
from tasks.contracts import source_title
from tasks.contracts.vocab import SOURCE_OK, SOURCE_STATUS_FI
from tasks.ingest.extract import Extract
from tasks.ingest.quality import SourceStatus
from tasks.ingest.reuse import REUSED_FI
from tasks.ingest.validate import SourceQuality
from tasks.warehouse.load import Batch

# The stages as a run's lines name them, in pipeline order.
EXTRACT, VALIDATE, LOAD, FINANCE, GOALS, RENDER = STAGE_TITLES = (
    "Lähteiden luku",
    "Tietojen tarkistus",
    "Tietovarastoon vienti",
    "Talouden laskenta ja täsmäytys",
    "Tavoitteiden arviointi",
    "Raportin taitto",
)


class _Console(logging.StreamHandler):
    """Plain lines on the console: sys.stdout of the moment (a test's captured output, a worker's log)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:  # logging.StreamHandler sets it; the current sys.stdout is always used
        pass


class _InRun(logging.Filter):
    """Only within a flow run does a line go to the API: outside one, Prefect's handler has no run to log to."""

    def filter(self, record: logging.LogRecord) -> bool:
        return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def _logger() -> logging.Logger:
    log = logging.getLogger("katsaus.progress")
    if not log.handlers:
        log.setLevel(logging.INFO)
        log.propagate = False  # not again through the root's console handler, in Prefect's log format
        log.addHandler(_Console())
        api = APILogHandler()
        api.addFilter(_InRun())
        log.addHandler(api)
    return log


def flush() -> None:
    """Send the lines still queued for the UI now: before a run suspends, its process ends and would drop them."""
    APILogHandler().flush()


def say(line: str) -> None:
    """One progress line, on the console and in the run's logs."""
    _logger().info(line)


class Stage:
    """What a stage reports at its end: set `done` to a short Finnish phrase (`234 tiedostoa, 205 123 riviä`)."""

    def __init__(self) -> None:
        self.done = ""


@contextmanager
def stage(title: str) -> Iterator[Stage]:
    """`title` (a noun phrase, `Lähteiden luku`) started, then ended with what it did and how long it took."""
    say(f"{title} alkaa")
    started = time.monotonic()
    report = Stage()
    try:
        yield report
    except BaseException:
        say(f"{title} keskeytyi ({fmt.number(time.monotonic() - started, 1)} s)")
        raise
    seconds = fmt.number(time.monotonic() - started, 1)
    say(f"{title} valmis{': ' + report.done if report.done else ''} ({seconds} s)")


# As they go: the long stages (reading, checking, loading millions of rows) say each source or file as it is done.


def source_read(extract: Extract) -> None:
    rows = sum(f.rows for f in extract.files)
    reused = sum(1 for f in extract.files if f.reused)
    said = f"{fmt.count(len(extract.files), 'tiedosto', 'tiedostoa')}, {fmt.count(rows, 'rivi', 'riviä')}"
    if reused:
        said += f" ({reused} {REUSED_FI})"
    if extract.status != SOURCE_OK:  # whether it is used is for the checks to say
        said += f"; {SOURCE_STATUS_FI.get(extract.status, extract.status)}"
    say(f"  {source_title(extract.source)}: {said}")


def _checked(quality: SourceQuality | SourceStatus, rows: int, reused: str = "") -> None:
    warned = f", {fmt.count(len(quality.warnings), 'varoitus', 'varoitusta')}" if quality.warnings else ""
    say(
        f"  {source_title(quality.source)}: {fmt.count(rows, 'rivi', 'riviä')}, "
        f"läpäisi {quality.passed}/{quality.checks} tarkistusta{warned}{f' ({reused})' if reused else ''}; "
        f"{SOURCE_STATUS_FI.get(quality.status, quality.status)}"
    )


def source_checked(quality: SourceQuality, rows: int) -> None:
    _checked(quality, rows)


def sources_checked_before(statuses: list[SourceStatus]) -> None:
    """The sources whose every file an earlier run checked (no suite ran on them now): their verdicts, said so."""
    for s in statuses:
        if s.files and len(s.reused) == len(s.files):
            _checked(s, s.rows, s.reused_text)


# Loading says how far it has got at most this often (a few hundred files, each a batch of its own).
LOAD_EVERY_SECONDS = 5.0
_last_said = {"at": 0.0}


def batches_loaded(batches: list[Batch], planned: int) -> None:
    now = time.monotonic()
    if len(batches) == 1:
        _last_said["at"] = now  # the stage's start, near enough
    if len(batches) < planned and now - _last_said["at"] < LOAD_EVERY_SECONDS:
        return
    _last_said["at"] = now
    new = [b for b in batches if not b.reused]  # a reused batch was loaded by an earlier run
    say(
        f"  {len(batches)}/{planned} tiedostoa; uusia {fmt.count(len(new), 'erä', 'erää')}, "
        f"{fmt.count(sum(b.rows for b in new), 'rivi', 'riviä')}"
    )
