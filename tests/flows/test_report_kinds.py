"""The same inputs give the same report: content fingerprint, CSVs and HTML against a recorded run.

`tests/flows/golden/` holds what the sample's reports of each kind contained when it
was recorded: `golden.json` (the content fingerprint and the SHA-256 of
report.html with the report date replaced by `{report_date}`) and the two CSVs.
A change of code that is meant to leave the report alone (a move, a rename, a
speed-up) must pass this test unchanged; a change that is meant to change the
report updates the recording in the same commit, and says why.

Re-record with `KATSAUS_RECORD_GOLDEN=1 pytest tests/test_golden.py` (the runs
then write the recording instead of comparing with it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pytest

from reports import fmt
from tests.flows.conftest import REPORT_DATE, run_report

GOLDEN = Path(__file__).parent / "golden"
CASES = [("2024-03", "monthly"), ("2024-08", "forecast"), ("2024-12", "annual")]

pytestmark = pytest.mark.usefixtures("prefect_server")


def html_digest(report_dir: Path, report_date: dt.date = REPORT_DATE) -> str:
    html = (report_dir / "report.html").read_text(encoding="utf-8").replace(fmt.date(report_date), "{report_date}")
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


def observed(report_dir: Path) -> dict:
    manifest = json.loads((report_dir / "manifest.json").read_text(encoding="utf-8"))
    return {"content_fingerprint": manifest["content_fingerprint"], "report_html_sha256": html_digest(report_dir)}


@pytest.mark.parametrize(("period", "kind"), CASES)
def test_same_inputs_give_the_recorded_report(period, kind, sample_dir, tmp_path, request):
    if (period, kind) == ("2024-08", "forecast"):
        report = request.getfixturevalue("forecast_run")[0]  # the demo's report, shared with the flow tests
    else:
        report = Path(run_report(sample_dir, tmp_path, period=period, kind=kind)["report_dir"])
    recorded = GOLDEN / f"{period}-{kind}"
    if os.environ.get("KATSAUS_RECORD_GOLDEN"):
        record(report)
    for name in ("reconciliation.csv", "indicators.csv"):
        assert (report / name).read_bytes() == (recorded / name).read_bytes(), name
    assert observed(report) == json.loads((GOLDEN / "golden.json").read_text(encoding="utf-8"))[f"{period}-{kind}"]


def record(report: Path) -> None:
    """Write one report's CSVs and digests into the recording."""
    (GOLDEN / report.name).mkdir(parents=True, exist_ok=True)
    for name in ("reconciliation.csv", "indicators.csv"):
        (GOLDEN / report.name / name).write_bytes((report / name).read_bytes())
    path = GOLDEN / "golden.json"
    golden = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    golden[report.name] = observed(report)
    path.write_text(json.dumps(dict(sorted(golden.items())), indent=2) + "\n", encoding="utf-8")
