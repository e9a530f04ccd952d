"""The benchmarks' yardsticks stay honest: at scale 1 the validation benchmark runs end to end and its
hand-written checks agree with the GX suite on every expectation (the script stops otherwise); the end-to-end
floor reads what katsaus reads; the warehouse benchmark loads the same rows into SQLite and DuckDB and both sum
them alike. The benchmarks themselves (minutes) are `make bench`, `make bench-e2e` and `make bench-warehouse`,
not part of the tests."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_benchmark_smoke_run_agrees_with_great_expectations(tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "validation.py"),
        "--scale",
        "1",
        "--repeat",
        "1",
        "--no-load",
        "--data",
        str(tmp_path / "data"),
        "--results",
        str(tmp_path / "results"),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    result = json.loads(next((tmp_path / "results").glob("validation-s1-*.json")).read_text(encoding="utf-8"))
    assert result["rows"] > 10_000
    clean, planted = result["scenarios"]["clean"]["outcome"], result["scenarios"]["planted"]["outcome"]
    assert clean["failed"] == 0 and clean["expectations"] == 26
    assert planted["failed"] >= 9  # every planted error is caught by both


def _bench_module(name: str):
    """A benchmark script as a module (its sibling scripts importable, as when it runs)."""
    import importlib.util

    bench = str(ROOT / "bench")
    sys.path.insert(0, bench)
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(bench)
    return module


def test_the_end_to_end_floor_reads_every_row_and_euro_katsaus_reads(sample_dir):
    """The DuckDB floor is a fair yardstick only if it reads what katsaus reads: every ledger row and cent of
    every year in the folder, and every event of each source."""
    from tasks.ingest.extract import extract_source
    from tasks.ingest.ledger import extract_ledger

    result = _bench_module("e2e").floor(sample_dir, repeat=1)
    ledger, _ = extract_ledger(sample_dir, 2024, 12)  # 2023 and 2024: every ledger file of the sample
    assert result["ledger_rows"] == len(ledger.frame)
    # katsaus keeps the report's sign (revenues positive) in cents; the floor sums the file's Summa as written.
    assert round(result["ledger_total_eur"] * 100) == -int(ledger.frame["amount_cents"].sum())
    assert result["event_rows"] and all(
        n == len(extract_source(sample_dir, sid, 2024, 12).frame) for sid, n in result["event_rows"].items()
    )


def test_the_end_to_end_stage_times_come_from_the_runs_progress_lines():
    log = "\n".join(
        [
            "Kotikansio: /srv/katsaus",
            "Lähteiden luku alkaa",
            "  Talouden toteuma: 20 tiedostoa, 18 692 riviä",
            "Lähteiden luku valmis: 214 tiedostoa, 181 903 riviä (45,4 s)",
            "Tietojen tarkistus valmis: käytettävissä 16/16 lähdettä (1\u00a0038,8 s)",
            "Tietovarastoon vienti valmis: 214 erää uutta, 181 903 riviä (10 s)",
            "Tavoitteiden arviointi valmis: 15 mittaria, 8 tavoitetta (3,3 s)",
            "Raportin taitto valmis (44,8 s)",
            "Muu rivi valmis (9,9 s)",
        ]
    )
    assert _bench_module("e2e").stage_seconds(log) == {
        "extract": 45.4,
        "validate": 1038.8,
        "load": 10.0,
        "goals": 3.3,
        "render": 44.8,
    }


def test_the_stage_lines_the_benchmark_parses_are_the_ones_runs_print(capsys):
    """The benchmark reads `flows.progress.stage`'s own end lines: a change of their wording fails here."""
    from flows import progress

    for title in progress.STAGE_TITLES:
        with progress.stage(title) as done:
            done.done = "2 tiedostoa, 1 234 riviä"
    progress.flush()
    seen = _bench_module("e2e").stage_seconds(capsys.readouterr().out)
    assert set(seen) == {"extract", "validate", "load", "finance", "goals", "render"}
    assert all(0 <= s < 5 for s in seen.values())


def test_the_warehouse_benchmark_loads_the_same_rows_into_all_three_and_finds_duckdbs_single_writer(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "embedded_warehouse.py"), "--scale", "1", "--root", str(tmp_path)]
        + ["--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    result = json.loads(next((tmp_path / "results").glob("embedded-warehouse-s1-*.json")).read_text(encoding="utf-8"))
    assert result["same_results"] and result["rows"] > 100_000
    # Each of SQLite's settings variants was loaded (the script stops if one holds other rows than katsaus's load).
    variants = result["sqlite_variants"]
    assert list(variants) == list(_bench_module("embedded_warehouse").SQLITE_VARIANTS)
    assert all(len(v["load_s"]) == 1 and v["median_s"] > 0 for v in variants.values())
    # Why DuckDB is not the embedded warehouse: a second process cannot open its file at all. Blocks in SQLite
    # (katsaus's way for its largest sources) sum alike and are read by a second process while the first writes.
    assert all("lock" in said.lower() for said in result["duckdb_second_process"].values())
    assert result["blocks_second_process"] == "ok" and result["blocks_load_s"] > 0


def test_a_sqlite_variant_gets_its_settings_and_loses_only_the_index_it_drops(tmp_path):
    """The variants measure what they are named for: the pragmas reach the loading connection (`user_version`,
    which SQLite keeps in the file, stands in for them), and "no batch index" loads into a table without it (the
    rows themselves are compared with katsaus's load in the script's own run, `sqlite_variants`)."""
    import pandas as pd
    from sqlalchemy import inspect

    from tasks.warehouse.engine import engine_for
    from tasks.warehouse.models import FACTS

    bench = _bench_module("embedded_warehouse")
    model = FACTS["homelessness"]
    frame = pd.DataFrame({c: [] for c in model.__table__.columns.keys() if c != "id"})
    counts = {}
    for name, (pragmas, batch_index) in {"set": (("PRAGMA user_version = 7",), True), "bare": ((), False)}.items():
        path = tmp_path / f"{name}.db"
        bench.sqlite_load(path, {"homelessness": frame}, pragmas, batch_index)
        engine = engine_for(f"sqlite:///{path}")
        with engine.connect() as conn:
            counts[name] = (
                conn.exec_driver_sql("PRAGMA user_version").scalar_one(),
                len(inspect(conn).get_indexes(model.__tablename__)),
            )
        engine.dispose()
    assert counts["set"][0] == 7 and counts["bare"][0] == 0
    assert counts["set"][1] >= 1 and counts["bare"][1] == 0
