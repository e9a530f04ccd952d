"""kill -9 of a whole run's process at every stage boundary, one run after another on the same folders, then a
rerun: the same report as an uninterrupted run, no duplicate rows, one mail for the version.

Each run is `katsaus run` as its own process on the session's Prefect server,
approved headless and mailing a real SMTP server; `KATSAUS_KILL_AT` makes it
kill itself with SIGKILL right after the named stage. Every killed run leaves
what a power cut would (a held period lock, a staging folder, a half-finished
delivery) for the next run to take over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select

from flows.killpoints import KILL_AT, STAGES
from tasks.contracts import sources
from tasks.contracts.vocab import SPILL_DIR
from tasks.warehouse.engine import warehouse
from tasks.warehouse.models import FACTS, BatchColumns, Delivery, LoadBatch, RunLock
from tests.flows.conftest import cli_draft_args

KATSAUS = str(Path(sys.executable).parent / "katsaus")
GOLDEN = Path(__file__).parents[1] / "flows" / "golden"
BOARD = "lautakunta@stadi.example"


def test_a_run_killed_at_every_stage_boundary_is_finished_by_the_next_run(
    prefect_server, smtp_server, sample_dir, tmp_path
):
    db = tmp_path / "w.db"
    args = [
        *[a for a in cli_draft_args(sample_dir, tmp_path / "out", db, tmp_path / "cache") if a != "--no-deliver"],
        "--archive",
        str(tmp_path / "archive"),
        "--approve-as",
        "Maija Meikäläinen",
    ]
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_server,
        "KATSAUS_SOTKANET_URL": "http://127.0.0.1:1",
        "KATSAUS_SMTP_HOST": "127.0.0.1",
        "KATSAUS_SMTP_PORT": str(smtp_server.port),
        "KATSAUS_MAIL_FROM": "Katsaus <katsaus@stadi.example>",
        "KATSAUS_MAIL_TO": BOARD,
    }
    for stage in STAGES:
        killed = subprocess.run([KATSAUS, *args], env={**env, KILL_AT: stage}, capture_output=True, timeout=600)
        assert killed.returncode == -signal.SIGKILL, f"{stage}: {killed.stderr.decode(errors='replace')[-3000:]}"
    with warehouse(f"sqlite:///{db}") as engine, engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RunLock)).scalar_one() == 1  # the last one's, dead
    rerun = subprocess.run([KATSAUS, *args], env=env, capture_output=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr.decode(errors="replace")[-3000:]

    report = tmp_path / "out" / "2024-08-forecast"
    manifest = json.loads((report / "manifest.json").read_text(encoding="utf-8"))
    golden = json.loads((GOLDEN / "golden.json").read_text(encoding="utf-8"))["2024-08-forecast"]
    assert manifest["content_fingerprint"] == golden["content_fingerprint"]  # what an uninterrupted run gives
    for name in ("reconciliation.csv", "indicators.csv"):
        assert (report / name).read_bytes() == (GOLDEN / "2024-08-forecast" / name).read_bytes(), name
    assert manifest["approval"]["approved_by"] == "Maija Meikäläinen"
    with warehouse(f"sqlite:///{db}") as engine, engine.connect() as conn:
        batches = conn.execute(select(LoadBatch.source, LoadBatch.period, LoadBatch.rows)).all()
        assert len(batches) == len({(b.source, b.period) for b in batches})  # one batch per source and month
        for source, facts in FACTS.items():  # no row loaded twice, as table rows or in blocks
            stored = conn.execute(select(func.count()).select_from(facts)).scalar_one()
            of_source = select(BatchColumns.data).join(LoadBatch, LoadBatch.id == BatchColumns.batch_id)
            for block in conn.execute(of_source.where(LoadBatch.source == source)).scalars():
                stored += pq.ParquetFile(pa.BufferReader(block)).metadata.num_rows
            assert stored == sum(b.rows for b in batches if b.source == source), source
        blocks = conn.execute(select(func.count()).select_from(BatchColumns)).scalar_one()
        assert blocks == sum(sources()[b.source].columnar for b in batches) > 0  # none left of a replaced batch
        deliveries = conn.execute(select(Delivery.version, Delivery.status)).all()
        assert deliveries == [(1, "sent")]
        assert conn.execute(select(func.count()).select_from(RunLock)).scalar_one() == 0
    assert sorted(p.name for p in (tmp_path / "archive" / "2024-08-forecast").iterdir()) == ["v1"]
    assert len([m for m in smtp_server.handler.received if BOARD in m.rcpt_tos]) == 1
    assert not list((tmp_path / "out").glob(".2024-08-forecast.partial-*"))  # the dead runs' staging is gone
    assert not list((tmp_path / "out").rglob(SPILL_DIR))  # with the rows they had spilled (killed after extract)
