"""The validation benchmark's yardstick stays honest: at scale 1 it runs end to end, and its
hand-written checks agree with the GX suite on every expectation (the script stops otherwise).
The benchmark itself (scale 270, minutes) is `make bench`, not part of the tests."""

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


def _e2e_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_e2e", ROOT / "bench" / "e2e.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_end_to_end_floor_reads_every_row_and_euro_katsaus_reads(sample_dir):
    """The DuckDB floor is a fair yardstick only if it reads what katsaus reads: every ledger row and cent of
    every year in the folder, and every event of each source."""
    from tasks.ingest.extract import extract_source
    from tasks.ingest.ledger import extract_ledger

    result = _e2e_module().floor(sample_dir, repeat=1)
    ledger, _ = extract_ledger(sample_dir, 2024, 12)  # 2023 and 2024: every ledger file of the sample
    assert result["ledger_rows"] == len(ledger.frame)
    # katsaus keeps the report's sign (revenues positive) in cents; the floor sums the file's Summa as written.
    assert round(result["ledger_total_eur"] * 100) == -int(ledger.frame["amount_cents"].sum())
    assert result["event_rows"] and all(
        n == len(extract_source(sample_dir, sid, 2024, 12).frame) for sid, n in result["event_rows"].items()
    )


def test_the_end_to_end_stage_times_come_from_the_flows_log_lines():
    log = "\n".join(
        [
            "10:00:00.000 | INFO    | Flow run 'odd-cat' - Beginning flow run 'odd-cat' for flow 'katsaus-report'",
            "10:00:01.500 | INFO    | Task run 'warehouse-history-1a2' - Finished in state Completed()",
            "10:00:09.000 | INFO    | Task run 'extract-3b4' - Finished in state Completed()",
            "10:00:09.250 | INFO    | Task run 'reused-keys-5c6' - Finished in state Completed()",
            "10:00:19.250 | INFO    | Task run 'validate-7d8' - Finished in state Completed()",
        ]
    )
    assert _e2e_module().stage_seconds(log) == {"warehouse-history": 1.5, "extract": 7.5, "validate": 10.0}
