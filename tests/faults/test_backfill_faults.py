"""A backfill of four months, all at once, on one SQLite file and on one PostgreSQL database: every month's report is
byte for byte the one serial runs gave.

The four monthly reports (every other month up to August, so the last reads
eight months) share most of their inputs (January's ledger is in all of them),
their batches, the row-count history and the warehouse lock table, so runs at
once race on all of them. Each run is `katsaus run` as its own process on the
session's Prefect server.

`backfill_golden.json` holds what serial runs gave (each month's content
fingerprint, the digest of its HTML and of its two CSVs), recorded by running
the months one after another on one warehouse:
`KATSAUS_RECORD_GOLDEN=1 pytest tests/faults/test_backfill_faults.py` (the
SQLite case then records instead of comparing). Re-record it when the report is
meant to change, with tests/flows/golden.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from tasks.contracts.vocab import Period
from tasks.warehouse.engine import warehouse
from tasks.warehouse.models import LoadBatch
from tests.flows.conftest import observed, run_report

KATSAUS = str(Path(sys.executable).parent / "katsaus")
RECORDING = Path(__file__).parent / "backfill_golden.json"
# Four runs at once on two cores already race on every shared batch, the history and the lock table; eight took
# twice as long (about 200 s per database).
MONTHS = [f"2024-{m:02d}" for m in range(2, 9, 2)]
CSVS = ("reconciliation.csv", "indicators.csv")


def prepared(period: str) -> dt.date:
    """Each month's report is prepared on the 12th of the next month."""
    return Period.parse(period).end + dt.timedelta(days=12)


def what_it_says(report_dir: Path) -> dict:
    return {
        **observed(report_dir),
        **{name: hashlib.sha256((report_dir / name).read_bytes()).hexdigest() for name in CSVS},
    }


def record_serially(sample_dir: Path, tmp: Path) -> dict:
    """The months one after another on one warehouse, as a serial backfill runs them."""
    found = {}
    for period in MONTHS:
        result = run_report(sample_dir, tmp, period=period, kind="monthly", report_date=prepared(period))
        found[period] = what_it_says(Path(result["report_dir"]))
    RECORDING.write_text(json.dumps(found, indent=2) + "\n", encoding="utf-8")
    return found


def fresh_postgres(server_url: str) -> str:
    """A database of its own on the session's PostgreSQL server, empty."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text("DROP DATABASE IF EXISTS backfill"))
        c.execute(text("CREATE DATABASE backfill"))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + "/backfill"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_backfill_of_four_months_at_once_gives_the_reports_of_serial_runs(
    backend, sample_dir, tmp_path, prefect_server, request
):
    if os.environ.get("KATSAUS_RECORD_GOLDEN"):
        if backend != "sqlite":
            pytest.skip("recording: the serial runs are recorded once")
        record_serially(sample_dir, tmp_path / "serial")
    serial = json.loads(RECORDING.read_text(encoding="utf-8"))
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'w.db'}"
    else:
        url = fresh_postgres(request.getfixturevalue("postgres_url"))
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    runs = {
        period: subprocess.Popen(
            [KATSAUS, "run", "--period", period, "--kind", "monthly", "--no-deliver"]
            + ["--extracts", str(sample_dir), "--out", str(tmp_path / "out"), "--warehouse", url]
            + ["--cache-dir", str(tmp_path / "cache"), "--report-date", prepared(period).isoformat()],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for period in MONTHS
    }
    outputs = {period: run.communicate(timeout=1200)[0].decode(errors="replace") for period, run in runs.items()}
    failed = {p: outputs[p] for p, r in runs.items() if r.returncode != 0}
    assert not failed, "\n\n".join(f"{p} (exit {runs[p].returncode}):\n{out[-4000:]}" for p, out in failed.items())
    at_once = {period: what_it_says(tmp_path / "out" / f"{period}-monthly") for period in MONTHS}
    assert at_once == serial
    with warehouse(url) as engine, engine.connect() as conn:
        batches = conn.execute(select(LoadBatch.source, LoadBatch.period)).all()
    assert len(batches) == len(set(batches))  # no month of any source loaded twice
