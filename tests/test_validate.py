import datetime as dt
import json

import pandas as pd

from expectations.create_suites import SUITES
from tasks.extract import extract_council_budget, extract_ledger, extract_result_budget
from tasks.validate import SUITES as SUITE_DIR, run_suites, suite_parameters


def test_committed_suites_match_the_contracts():
    """The JSON files are the suites the flow loads; they must be what the contracts say."""
    for name, build in SUITES.items():
        doc = json.loads((SUITE_DIR / f"{name}.json").read_text(encoding="utf-8"))
        assert [e["type"] for e in doc["expectations"]] == [e.expectation_type for e in build()], name
        assert {e["severity"] for e in doc["expectations"]} <= {"critical", "warning"}
        # The personal-data guard is always critical.
        assert all(e["severity"] == "critical" for e in doc["expectations"] if e["type"] == "expect_column_values_to_not_contain_hetu")


def test_sample_passes_and_planted_errors_fail_with_their_place(sample_dir, tmp_path):
    ledger, _ = extract_ledger(sample_dir, 2024, 2)
    frame = ledger.frame.copy()
    bad = frame.copy()
    bad.loc[3, "account"] = "5100"  # outside the chart's operating accounts
    bad.loc[4, "service"] = "Keksitty palvelu"
    bad = pd.concat([bad, bad.iloc[[0]]], ignore_index=True)  # duplicated key
    frames = {
        "ledger": bad,
        "result_budget": extract_result_budget(sample_dir, 2024).frame,
        "council_budget": extract_council_budget(sample_dir, 2024).frame,
    }
    q = run_suites(frames, tmp_path / "quality", suite_parameters(dt.date(2024, 9, 20)))
    assert q["result_budget"].status == q["council_budget"].status == "ok"
    assert q["ledger"].status == "failed"
    text = " | ".join(q["ledger"].failures)
    assert "tili ei ole toimintatulo- tai toimintamenotili (1 rivi: talous_toteuma_202301.csv rivi 5)" in text
    assert "sarakkeessa Palvelu on tuntematon arvo" in text
    assert "avain (Vuosi, Kuukausi, Kustannuspaikka, Tili) toistuu" in text
    assert (tmp_path / "quality" / "data_docs" / "index.html").stat().st_size > 1000
    saved = json.loads((tmp_path / "quality" / "ledger.json").read_text(encoding="utf-8"))
    assert saved["success"] is False
    assert q["ledger"].checks == len(saved["results"]) and q["ledger"].passed == q["ledger"].checks - 3
