"""A source read, validated and loaded part by part says what it says read whole."""

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from tasks.ingest import extract
from tasks.ingest.extract import extract_source
from tasks.ingest.ledger import extract_ledger
from tasks.ingest.partwise import KeysAcrossParts, merged_result
from tasks.ingest.rows import Rows
from tasks.ingest.validate import run_suites, suite_parameters

VERDICT = ("status", "checks", "passed", "failures", "warnings", "flagged", "warned", "kept", "personal_data")


def in_parts(frame: pd.DataFrame, files_per_part: int, folder=None) -> Rows:
    """`frame`'s rows in parts of whole files, in the files' order."""
    rows = Rows(frame, folder)
    names = list(dict.fromkeys(frame["_file"]))
    for i in range(0, len(names), files_per_part):
        rows.add(frame[frame["_file"].isin(names[i : i + files_per_part])].reset_index(drop=True))
    return rows


def verdict(quality) -> dict:
    return {k: getattr(quality, k) for k in VERDICT}


def _broken_ledger(sample_dir) -> pd.DataFrame:
    ledger, _ = extract_ledger(sample_dir, 2024, 6)
    frame = ledger.frame.copy()
    names = list(dict.fromkeys(frame["_file"]))
    first, late = frame["_file"] == names[0], frame["_file"] == names[-3]
    frame.loc[frame.index[first][2], "account"] = "5100"  # an account outside the operating ones: first file
    frame.loc[frame.index[late][4], "service"] = "Keksitty palvelu"  # an unknown service: a late file
    # A row repeated within one file, and a row of the first file repeated in the last (its key repeats across
    # parts, which no part's suite sees on its own).
    again = frame[first].iloc[[7]].assign(_file=names[-1], _line=9999)
    within = frame[late].iloc[[5]].assign(_line=9998)
    frame = pd.concat([frame, within, again], ignore_index=True)
    position = {n: i for i, n in enumerate(names)}
    return frame.sort_values(["_file", "_line"], key=lambda c: c.map(position) if c.name == "_file" else c)


def test_a_source_validated_part_by_part_gets_the_verdict_of_one_run(sample_dir, tmp_path):
    frame = _broken_ledger(sample_dir).reset_index(drop=True)
    names = list(dict.fromkeys(frame["_file"]))
    # One file's row count outside the band learned for it: the band check fails on that file only.
    bands = pd.DataFrame({"file": names, "lo": np.nan, "hi": np.nan})
    bands.loc[4, ["lo", "hi"]] = [1.0, 2.0]
    params = suite_parameters(dt.date(2024, 9, 20))

    whole = run_suites({"ledger": frame}, tmp_path / "whole", params, bands)["ledger"]
    parts = in_parts(frame, 4, tmp_path / "rows")  # spilled to disk, as a run's are
    told = []
    parted = run_suites(
        {"ledger": parts}, tmp_path / "parts", params, bands, on_source=lambda q, n: told.append((q.status, n))
    )["ledger"]

    assert parts.part_count == -(-len(names) // 4) > 2
    assert whole.status == "failed" and {names[0], names[4], names[-3], names[-1]} == whole.flagged
    assert verdict(parted) == verdict(whole)
    text = " | ".join(parted.failures)
    assert "avain (Vuosi, Kuukausi, Kustannuspaikka, Tili) toistuu (4 riviä:" in text
    assert f"{names[-1]} rivi 9999" in text
    assert told == [("failed", len(frame))]
    saved = {d: json.loads((tmp_path / d / "ledger.json").read_text(encoding="utf-8")) for d in ("whole", "parts")}
    for mine, theirs in zip(saved["parts"]["results"], saved["whole"]["results"]):
        assert mine["success"] == theirs["success"]
        for count in ("element_count", "missing_count", "unexpected_count"):
            assert (mine["result"] or {}).get(count) == (theirs["result"] or {}).get(count), mine["expectation_config"]
    assert saved["parts"]["statistics"] == saved["whole"]["statistics"]


def test_a_clean_source_in_parts_passes_every_check_as_it_does_whole(sample_dir, tmp_path):
    feedback = extract_source(sample_dir, "feedback", 2024, 12).frame
    params = suite_parameters(dt.date(2025, 1, 20))
    whole = run_suites({"feedback": feedback}, tmp_path / "whole", params)["feedback"]
    parted = run_suites({"feedback": in_parts(feedback, 5)}, tmp_path / "parts", params)["feedback"]
    assert whole.status == "ok" and whole.passed == whole.checks
    assert verdict(parted) == verdict(whole)


def test_keys_repeated_across_parts_are_the_rows_no_part_counted():
    parts = [
        pd.DataFrame({"id": ["a", "b", "b", "c"], "_file": "f1", "_line": [2, 3, 4, 5]}),
        pd.DataFrame({"id": ["d", "b", "e", None], "_file": "f2", "_line": [2, 3, 4, 5]}),
        pd.DataFrame({"id": ["c", "f", None, "g"], "_file": "f3", "_line": [2, 3, 4, 5]}),
    ]
    rows, keys = Rows(parts[0]), KeysAcrossParts([["id"]])
    for part in parts:
        rows.add(part)
        keys.add(part)

    found = keys.repeated(rows)[("id",)]

    # Whole: rows whose id is anywhere else, less those whose id repeats within their own part (that part's suite
    # counted them); a missing id is never compared.
    every = pd.concat(parts, ignore_index=True)
    anywhere = every["id"].notna() & every.duplicated("id", keep=False)
    own = pd.concat([p["id"].notna() & p.duplicated("id", keep=False) for p in parts], ignore_index=True)
    expected = every.loc[anywhere & ~own, ["_file", "_line"]]
    assert sorted(map(tuple, found.to_numpy())) == sorted(map(tuple, expected.to_numpy()))
    assert sorted(map(tuple, found.to_numpy())) == [("f1", 5), ("f2", 3), ("f3", 2)]
    assert KeysAcrossParts([["id"]]).repeated(rows) == {}


def test_a_uniqueness_result_takes_the_rows_repeated_across_parts_in_the_files_order():
    def result(count, listed, success):
        return {
            "success": success,
            "expectation_config": {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
            "result": {
                "element_count": 10,
                "missing_count": 1,
                "unexpected_count": count,
                "unexpected_percent": 100 * count / 9,
                "partial_unexpected_list": [],
                "partial_unexpected_index_list": [{"_file": f, "_line": n} for f, n in listed],
            },
        }

    order = {"f1": 0, "f2": 1, "f3": 2}
    repeated = pd.DataFrame({"_file": ["f1", "f3"], "_line": [7, 2]})
    merged = merged_result(
        [result(2, [("f1", 8), ("f1", 9)], False), result(0, [], True), result(0, [], True)], 3, order, repeated
    )
    assert merged["success"] is False
    assert merged["result"]["unexpected_count"] == 4 and merged["result"]["element_count"] == 30
    assert merged["result"]["unexpected_percent"] == pytest.approx(100 * 4 / 27)
    # Listed in the files' order, as many as one run lists.
    assert [(i["_file"], i["_line"]) for i in merged["result"]["partial_unexpected_index_list"]] == [
        ("f1", 7),
        ("f1", 8),
        ("f1", 9),
    ]
    clean = merged_result([result(0, [], True)] * 2, 3, order)
    assert clean["success"] is True and clean["result"]["unexpected_count"] == 0


def test_a_source_typed_in_parts_spills_each_part_and_reads_back_the_same_rows(extracts, tmp_path, monkeypatch):
    # January states one row more than it has: its control check fails once, whichever part it is in.
    ctl = extracts / "talous_toteuma_202301.ctl"
    header, stated = ctl.read_text(encoding="utf-8").splitlines()
    rows_stated, total = stated.split(";")
    ctl.write_text(f"{header}\n{int(rows_stated) + 1};{total}\n", encoding="utf-8")
    whole, _ = extract_ledger(extracts, 2024, 8)
    monkeypatch.setattr(extract, "PART_ROWS", 2_000)
    spilled, _ = extract_ledger(extracts, 2024, 8, spill=tmp_path / "rows")

    folder = tmp_path / "rows" / "ledger"
    assert spilled.rows.part_count == len(list(folder.glob("*.arrow"))) > 2
    # The sign and the budget lines are given to every part as they were to the whole.
    pd.testing.assert_frame_equal(spilled.frame, whole.frame)
    assert [dataclasses.astuple(f) for f in spilled.files] == [dataclasses.astuple(f) for f in whole.files]
    assert spilled.errors == whole.errors and [e.file for e in whole.errors] == ["talous_toteuma_202301.csv"]
    first = next(spilled.rows.parts(["account", "_file"]))
    assert list(first.columns) == ["account", "_file"] and len(first) < len(whole.frame)

    spilled.rows.forget()
    assert not folder.exists() and spilled.frame.empty
    assert spilled.frame.dtypes.equals(whole.frame.dtypes)


def test_an_identity_code_in_a_late_part_stops_the_source_and_leaks_from_no_part(sample_dir, tmp_path):
    ledger, _ = extract_ledger(sample_dir, 2024, 6)
    frame = ledger.frame.copy()
    names = list(dict.fromkeys(frame["_file"]))
    frame.loc[frame.index[frame["_file"] == names[0]][3], "account"] = "40A0"  # a listed value, first part
    frame.loc[frame.index[frame["_file"] == names[-2]][6], "account_name"] = "soita 131052-308T"
    params = suite_parameters(dt.date(2024, 9, 20))

    whole = run_suites({"ledger": frame}, tmp_path / "whole", params)["ledger"]
    parted = run_suites({"ledger": in_parts(frame, 3)}, tmp_path / "parts", params)["ledger"]

    assert whole.status == "failed" and whole.personal_data
    assert verdict(parted) == verdict(whole)
    assert any("henkilötunnus (1 rivi:" in f for f in parted.failures)
    for path in (tmp_path / "parts").rglob("*"):
        if path.is_file():
            assert "131052" not in path.read_text(encoding="utf-8", errors="replace"), path
