"""Faults in the warehouse and its places: runs at once on one SQLite file or one PostgreSQL database, a fresh
database migrated by two runs, a lock held past its lease, a password in the URL's query, another working folder.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, inspect, select

from flows.home import at_home, katsaus_home, warehouse_at_home
from flows.params import placed
from flows.report import RunParams
from tasks.report.outputs import mask_url
from tasks.warehouse import locks
from tasks.warehouse.engine import engine_for, migrate
from tasks.warehouse.load import Loaded, load_period
from tasks.warehouse.models import LoadBatch
from tasks.warehouse.read import BatchVanished, read_facts, snapshot

ROOT = Path(__file__).parents[2]

CONCURRENT_LOAD = """
import sys, time
import pandas as pd
from tasks.warehouse.engine import warehouse
from tasks.warehouse.load import load_period
url, start, name = sys.argv[1], float(sys.argv[2]), sys.argv[3]
frame = pd.DataFrame({"year": [2024] * 500, "month": [8] * 500, "area": ["Hallinto"] * 500,
                      "headcount": [12] * 500, "permanent": [10] * 500, "permanent_leavers": [1] * 500,
                      "_line": range(2, 502)})
while time.time() < start:
    time.sleep(0.005)
with warehouse(url) as engine:   # migrates: two fresh runs migrate at once too
    for i in range(5):
        load_period(engine, "personnel", "2024-08", name, name * 8, frame, name)
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_runs_at_once_on_a_fresh_database_wait_for_each_other_and_never_double_a_period(backend, tmp_path, request):
    """Four processes migrate a fresh database and load the same period at once: no "database is locked", no
    migration raced, exactly one batch of the period left with its rows."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'w.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        e = engine_for(url)
        with e.begin() as c:
            for table in reversed(inspect(e).get_table_names()):
                c.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}" CASCADE')
        e.dispose()
    start = time.time() + 3
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_LOAD, url, str(start), f"f{i}"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    engine = engine_for(url)
    try:
        from tasks.warehouse.models import FACTS

        with engine.connect() as c:
            batches = c.execute(select(LoadBatch.id).where(LoadBatch.source == "personnel")).all()
            rows = c.execute(select(func.count()).select_from(FACTS["personnel"])).scalar_one()
        assert len(batches) == 1 and rows == 500
    finally:
        engine.dispose()


def test_a_sqlite_warehouse_is_in_wal_mode_with_a_busy_timeout(tmp_path):
    engine = engine_for(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        migrate(engine)
        with engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert c.exec_driver_sql("PRAGMA busy_timeout").scalar_one() >= 60_000
    finally:
        engine.dispose()


def test_a_held_lock_is_renewed_past_its_lease_and_a_dead_runs_lock_runs_out(sqlite_engine, tmp_path):
    url = str(sqlite_engine.url)
    lease = dt.timedelta(seconds=0.8)
    with locks.period_lock(url, "2024-08-forecast", "elava", lease=lease, poll=0.05):
        time.sleep(2.0)  # well past the lease: renewed meanwhile, so nobody else may take it
        assert not locks.try_lock(sqlite_engine, "2024-08-forecast", "toinen", lease)
    # A run that died holds its lock until the lease runs out, by the database's clock.
    assert locks.try_lock(sqlite_engine, "2024-08-annual", "kuollut", lease)
    assert not locks.try_lock(sqlite_engine, "2024-08-annual", "toinen", lease)
    time.sleep(1.0)
    assert locks.try_lock(sqlite_engine, "2024-08-annual", "toinen", lease)


HOLDER = """
import datetime as dt, sys, time
from tasks.warehouse import locks
from tasks.warehouse.engine import warehouse
with warehouse(sys.argv[1]) as engine:
    assert locks.try_lock(engine, "2024-08-forecast", "kaatuva", dt.timedelta(hours=2))
print("held", flush=True)
time.sleep(600)
"""


def test_a_lock_of_a_killed_process_is_taken_over_at_once_a_live_ones_is_not(sqlite_engine):
    """kill -9 of a run holding a two-hour lease: the next run on this machine takes the period at once."""
    url = str(sqlite_engine.url)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        lease = dt.timedelta(hours=2)
        assert not locks.try_lock(sqlite_engine, "2024-08-forecast", "seuraava", lease)  # alive: it keeps it
    finally:
        holder.kill()
        holder.wait()
    assert locks.try_lock(sqlite_engine, "2024-08-forecast", "seuraava", lease)
    assert locks.lock_holder(sqlite_engine, "2024-08-forecast") == "seuraava"
    assert locks.process_gone(f"{os.uname().nodename}|{locks._boot_id()}|{holder.pid}|1")
    assert not locks.process_gone(locks.this_process())
    assert not locks.process_gone("toinen-kone|x|1|1")  # another host's holder: its lease decides


def test_a_password_in_the_urls_query_is_masked_too():
    masked = mask_url("postgresql+psycopg://katsaus:salainen@db/katsaus?sslmode=require&password=toinen")
    assert "salainen" not in masked and "toinen" not in masked and "sslmode=require" in masked
    assert mask_url("postgresql://db/katsaus?user=katsaus&PGPASSWORD=x").count("***") == 1
    assert mask_url("sqlite:////srv/katsaus/var/warehouse.db") == "sqlite:////srv/katsaus/var/warehouse.db"


def test_every_default_place_is_in_one_home_whatever_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("KATSAUS_HOME", str(tmp_path / "koti"))
    monkeypatch.chdir(tmp_path)
    assert katsaus_home() == (tmp_path / "koti").resolve()
    p = placed(RunParams(period="2024-08"))
    home = str((tmp_path / "koti").resolve())
    assert p.archive == f"{home}/var/archive" and p.out == f"{home}/out"
    assert p.warehouse == f"sqlite:///{home}/var/warehouse.db"
    # Absolute places and server URLs are left as they are.
    assert placed(RunParams(period="2024-08", archive="/srv/arkisto")).archive == "/srv/arkisto"
    assert warehouse_at_home("postgresql://db/katsaus", tmp_path) == "postgresql://db/katsaus"
    assert at_home("/a/b", tmp_path) == "/a/b"
    # Without KATSAUS_HOME a checkout is its own home, not the folder the command was started in.
    monkeypatch.delenv("KATSAUS_HOME")
    assert katsaus_home() == ROOT


def test_a_batch_replaced_by_another_run_before_the_reads_is_an_error_not_an_empty_source(engine):
    frame = pd.DataFrame(
        {
            "year": [2024],
            "month": [8],
            "area": ["Hallinto"],
            "headcount": [12],
            "permanent": [10],
            "permanent_leavers": [1],
            "_line": [2],
        }
    )
    mine = load_period(engine, "personnel", "2024-08", "henkilosto_202408.csv", "a" * 64, frame, "run-a")
    loaded = Loaded([mine])
    with snapshot(engine, loaded) as snap:
        assert read_facts(snap, "personnel", loaded.ids("personnel"))["headcount"].tolist() == [12]
    # Another run loads a corrected file of the same month: this run's batch is gone.
    load_period(engine, "personnel", "2024-08", "henkilosto_202408.csv", "b" * 64, frame, "run-b")
    with pytest.raises(BatchVanished, match="personnel 2024-08"):
        with snapshot(engine, loaded):
            pass
