"""The flow tests' helpers: a draft run of the flow and its `katsaus run` arguments, what a recording keeps of a
report, the progress lines a run prints. (The demo report's run, shared by the session: `forecast_run`.)"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import time
from pathlib import Path

from prefect.client.schemas.responses import SetStateStatus

from flows.progress import STAGE_TITLES
from flows.report import RunParams, report_flow
from reports import fmt
from tasks.ingest.reuse import REUSED_FI

REPORT_DATE = dt.date(2024, 9, 20)


def run_report(extracts: Path, tmp: Path, **kw) -> dict:
    """A draft run of the report flow on `extracts`, everything it writes under `tmp`."""
    values = dict(
        period="2024-08",
        kind="forecast",
        extracts=str(extracts),
        out=str(tmp / "out"),
        warehouse=f"sqlite:///{tmp / 'w.db'}",
        cache_dir=str(tmp / "cache"),
        archive=str(tmp / "archive"),
        report_date=REPORT_DATE,
        deliver=False,
    )
    return report_flow(RunParams(**{**values, **kw}))


def resume_with(client, run_id, run_input: dict, timeout: float = 60) -> None:
    """Give a paused run its input as the UI's form does, once the run can take it. Prefect marks a run suspended
    before it saves the schema of the input it waits for, and refuses (without raising) an answer given in between:
    an answer the run never took would leave it waiting until the test times out."""
    deadline = time.monotonic() + timeout
    while True:
        result = client.resume_flow_run(run_id, run_input=run_input)
        if result.status == SetStateStatus.ACCEPT:
            return
        reason = getattr(result.details, "reason", "") or ""
        if "schema not found" not in reason or time.monotonic() > deadline:
            raise AssertionError(f"the run did not take its input: {result.status.value} {reason}")
        time.sleep(0.5)


def checked_warehouse(forecast_run: tuple[Path, Path], folder: Path, name: str = "w.db") -> Path:
    """`folder/name`: a copy of the demo report's warehouse, which holds the untouched sample's files as checked and
    loaded by that run. A run on it finds what a run finds after an earlier one: it reads, checks and loads only the
    files a test changed or added. (For tests of what comes after; the fresh path: the demo report itself, the
    recorded monthly report, the backfill and the kill tests.)"""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(forecast_run[1] / "w.db", folder / name))


def cli_draft_args(extracts: Path, out: Path, db: Path, cache: Path) -> list[str]:
    """`katsaus run` of the sample's forecast as a draft, everything it writes in the given places."""
    return [
        "run",
        "--period",
        "2024-08",
        "--kind",
        "forecast",
        "--extracts",
        str(extracts),
        "--out",
        str(out),
        "--warehouse",
        f"sqlite:///{db}",
        "--cache-dir",
        str(cache),
        "--report-date",
        REPORT_DATE.isoformat(),
        "--no-deliver",
    ]


def manifest(report_dir: Path) -> dict:
    return json.loads((report_dir / "manifest.json").read_text(encoding="utf-8"))


# The quality appendix's note of files an earlier run had checked: it tells the run's history, not the inputs.
REUSED_NOTE = re.compile(rf" \((?:kaikki |\d+ tiedostoa? )?{re.escape(REUSED_FI)}\)")


def html_digest(report_dir: Path) -> str:
    """The report's HTML, its preparation date and which files earlier runs had checked aside (a rerun on
    another day, or after other runs, is the same report)."""
    prepared = fmt.date(dt.date.fromisoformat(manifest(report_dir)["report_date"]))
    html = (report_dir / "report.html").read_text(encoding="utf-8").replace(prepared, "{report_date}")
    return hashlib.sha256(REUSED_NOTE.sub("", html).encode("utf-8")).hexdigest()


def observed(report_dir: Path) -> dict:
    """What a recording keeps of a report: its content fingerprint and its HTML's digest."""
    return {
        "content_fingerprint": manifest(report_dir)["content_fingerprint"],
        "report_html_sha256": html_digest(report_dir),
    }


def stage_lines_are_all_there(said: list[str]) -> None:
    """Each stage's start and end (with what it did and its seconds, `(4,2 s)`), in pipeline order, and a line
    per source as the reading goes."""
    ends = []
    for title in STAGE_TITLES:
        assert f"{title} alkaa" in said, title
        ends.append(
            next(i for i, line in enumerate(said) if re.fullmatch(rf"{title} valmis(: .+)? \(\d+,\d s\)", line))
        )
    assert ends == sorted(ends)
    # A run after an earlier one says how many of the files that run had checked.
    read = rf"  Talouden toteuma: \d+ tiedostoa, [\d\u00a0]+ riviä( \(\d+ {re.escape(REUSED_FI)}\))?"
    assert any(re.fullmatch(read, line) for line in said), said
    reused = rf"( \(kaikki {re.escape(REUSED_FI)}\))?"
    checked = rf"  Asiakaspalaute: [\d\u00a0]+ riviä, läpäisi 15/15 tarkistusta{reused}; käytetty"
    assert any(re.fullmatch(checked, line) for line in said), said
