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
