"""Files already checked: unchanged files are reused unread, and exactly what changed is read and validated again."""

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from tasks.ingest import reuse
from tasks.ingest.files import FileInfo, PeriodFile
from tasks.ingest.parsing import sha256_of
from tasks.ingest.period import Extracted, extract_period, reused_outside_band
from tasks.ingest.quality import validate_period
from tasks.ingest.reuse import Checked, collision_failures, validation_key
from tasks.ingest.validate import flagged_files
from tasks.warehouse.engine import warehouse
from tasks.warehouse.history import row_count_history
from tasks.warehouse.load import checked_files, load_files, load_plan, reused_keys

TODAY = dt.date(2024, 4, 20)


def _run(extracts: Path, url: str, quality: Path, month: int, run_id: str, reuse_earlier: bool = True, told=None):
    """One pass of extract → validate → load, as the flow composes them, without Prefect; `told` collects what the
    run's progress is told of each source validated now."""
    with warehouse(url) as engine:
        earlier = Checked(checked_files(engine), row_count_history(engine), 0.3)
        extracted = extract_period(extracts, 2024, month, earlier if reuse_earlier else None)
        keys = reused_keys(engine, extracted)
        on_source = (lambda q, rows: told.append(q)) if told is not None else None
        validated = validate_period(extracted, earlier.history, TODAY, quality, earlier.margin, keys, on_source)
        loaded = load_files(engine, list(load_plan(extracted, validated)), run_id)
    return extracted, validated, loaded


def _files(extracted: Extracted, source: str) -> dict[str, FileInfo]:
    return {f.name: f for f in extracted.sources[source].files}


def test_unchanged_files_are_reused_unread_and_a_changed_file_is_read_again(extracts, tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    first, v1, l1 = _run(extracts, url, tmp_path / "q1", 3, "run1")
    assert not any(f.reused for e in first.sources.values() for f in e.files)

    second, v2, l2 = _run(extracts, url, tmp_path / "q2", 3, "run2")
    ledger = _files(second, "ledger")
    assert ledger and all(f.reused for f in ledger.values())
    assert second.sources["ledger"].frame.empty  # not one row parsed
    assert {n: f.rows for n, f in ledger.items()} == {n: f.rows for n, f in _files(first, "ledger").items()}
    # Reused months matched their control files when validated: their counts are the stated ones.
    assert (second.controls["rows"] == second.controls["stated_rows"]).all()
    assert second.controls[["file", "stated_rows", "stated_cents"]].equals(
        first.controls[["file", "stated_rows", "stated_cents"]]
    )
    status = {s.source: s for s in v2.statuses}
    assert status["ledger"].status == "ok" and status["ledger"].checks == status["ledger"].passed > 0
    assert status["ledger"].reused_text == "kaikki ennallaan, tarkistettu aiemmin"
    # Every batch of the second pass is the first pass's own, untouched.
    assert {(b.source, b.file_name): b.id for b in l2.batches} == {(b.source, b.file_name): b.id for b in l1.batches}
    assert all(b.reused and b.run_id == "run1" for b in l2.batches)
    # A source warned on in the first pass (the sample plants an unusually long response time in one
    # rescue file) reuses that file too, and warns of its row again in the same words.
    assert all(f.reused for f in _files(second, "rescue").values())
    before = {s.source: s for s in v1.statuses}["rescue"]
    assert len(before.warnings) == 1 and "pelastustehtavat_" in before.warnings[0]
    assert status["rescue"].warnings == before.warnings
    assert (status["rescue"].checks, status["rescue"].passed) == (before.checks, before.passed)

    # One month corrected: its bytes change, so it alone is read, validated and loaded again.
    path = extracts / "talous_toteuma_202402.csv"
    text = path.read_text(encoding="utf-8-sig")
    path.write_text(text.replace("Palkat ja palkkiot", "Palkat ja palkkiot (korjattu)", 1), encoding="utf-8-sig")
    third, v3, l3 = _run(extracts, url, tmp_path / "q3", 3, "run3")
    ledger = _files(third, "ledger")
    assert [n for n, f in ledger.items() if not f.reused] == ["talous_toteuma_202402.csv"]
    assert set(third.sources["ledger"].frame["_file"]) == {"talous_toteuma_202402.csv"}
    new = l3.batch_of("ledger", "talous_toteuma_202402.csv")
    assert not new.reused and new.run_id == "run3"
    assert l3.batch_of("ledger", "talous_toteuma_202401.csv").run_id == "run1"
    # The corrected month was validated clean: the next pass reuses it too.
    fourth, _, _ = _run(extracts, url, tmp_path / "q4", 3, "run4")
    assert all(f.reused for f in _files(fourth, "ledger").values())

    # Without reuse (`--force`), every file is read again and the verdict is the same.
    forced, v5, _ = _run(extracts, url, tmp_path / "q5", 3, "run5", reuse_earlier=False)
    assert not any(f.reused for e in forced.sources.values() for f in e.files)
    assert [(s.source, s.status, s.rows, s.checks) for s in v5.statuses] == [
        (s.source, s.status, s.rows, s.checks) for s in v3.statuses
    ]


def test_a_new_file_repeating_a_key_of_a_reused_file_is_quarantined(extracts, tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    _run(extracts, url, tmp_path / "q1", 2, "run1")
    earlier_id = (extracts / "pelastustehtavat_202402.csv").read_text(encoding="utf-8").splitlines()[1].split(";")[0]
    march = extracts / "pelastustehtavat_202403.csv"
    lines = march.read_text(encoding="utf-8").splitlines()
    lines[4] = ";".join([earlier_id, *lines[4].split(";")[1:]])
    march.write_text("\n".join(lines) + "\n", encoding="utf-8")

    told = []
    extracted, validated, loaded = _run(extracts, url, tmp_path / "q2", 3, "run2", told=told)
    rescue = _files(extracted, "rescue")
    assert rescue["pelastustehtavat_202402.csv"].reused and not rescue["pelastustehtavat_202403.csv"].reused
    status = next(s for s in validated.statuses if s.source == "rescue")
    assert status.status == "failed"
    assert (
        "avain (Tehtavatunnus) toistuu: sama avain on jo aiemmin tarkistetussa tiedostossa "
        "pelastustehtavat_202402.csv (1 rivi: pelastustehtavat_202403.csv rivi 5)"
    ) in status.errors
    assert earlier_id not in " ".join(status.errors)  # the key's value is never shown
    # The run's progress says so as the source's suite finishes, not that every check passed.
    [said] = [q for q in told if q.source == "rescue"]
    assert said.status == "failed" and said.failures == status.errors
    assert loaded.ids("rescue") == []  # quarantined: nothing of it is loaded


def test_collisions_compare_whole_keys_and_name_rows_not_values():
    new = pd.DataFrame(
        {
            "year": [2024, 2024, 2024],
            "month": [3, 3, 3],
            "station": ["A", "B", "C"],
            "_file": "m3.csv",
            "_line": [2, 3, 4],
        }
    )
    earlier = pd.DataFrame(
        {"year": [2024, 2024], "month": [2, 3], "station": ["A", "C"], "_file": ["m2.csv", "m2.csv"]}
    )
    assert collision_failures("access", new, earlier) == [
        "avain (Vuosi, Kuukausi, Terveysasema) toistuu: sama avain on jo aiemmin tarkistetussa tiedostossa m2.csv "
        "(1 rivi: m3.csv rivi 4)"
    ]
    assert collision_failures("access", new, earlier.assign(month=2)) == []


def test_the_validation_key_follows_the_suite_the_references_and_the_companion_bytes(tmp_path, monkeypatch):
    ctl = tmp_path / "talous_toteuma_202402.ctl"
    ctl.write_text("Rivimaara;Summa_yhteensa\n958;1,00\n", encoding="utf-8")
    key = validation_key("ledger", [ctl])
    assert key == validation_key("ledger", [ctl])
    ctl.write_text("Rivimaara;Summa_yhteensa\n958;2,00\n", encoding="utf-8")
    assert validation_key("ledger", [ctl]) != key
    before = {sid: validation_key(sid, []) for sid in ("ledger", "manual", "hyva")}
    # A new service in the structure's reference values touches the suites that read the services.
    changed = {**reuse.reference_parameters(), "ref_services": [*reuse.reference_parameters()["ref_services"], "Uusi"]}
    monkeypatch.setattr(reuse, "reference_parameters", lambda: changed)
    reuse._source_part.cache_clear()
    try:
        after = {sid: validation_key(sid, []) for sid in before}
    finally:
        monkeypatch.undo()
        reuse._source_part.cache_clear()
    assert after["ledger"] != before["ledger"] and after["hyva"] != before["hyva"]
    assert after["manual"] == before["manual"]


def test_a_reused_file_outside_the_band_the_other_files_now_give_is_read_again():
    files = pd.DataFrame(
        {
            "source": "personnel",
            "file": [f"h_2024{m:02d}.csv" for m in range(1, 6)],
            "period": [f"2024-{m:02d}" for m in range(1, 6)],
            # The first three months were corrected to far more rows: month 4 now falls below its band (month 5's
            # band takes month 4 in, and month 1 to 3 have too few earlier months for a band).
            "rows": [400, 400, 400, 100, 100],
            "reused": [False, False, False, True, True],
        }
    )
    earlier = Checked(
        pd.DataFrame(columns=reuse.CHECKED_COLUMNS), pd.DataFrame(columns=["source", "period", "rows"]), 0
    )
    assert reused_outside_band(files, earlier) == {"personnel": frozenset({"h_202404.csv"})}
    assert reused_outside_band(files.assign(rows=100), earlier) == {}


@pytest.mark.parametrize(
    ("result", "files"),
    [
        (
            {
                "unexpected_count": 2,
                "partial_unexpected_index_list": [{"_file": "a", "_line": 2}, {"_file": "b", "_line": 3}],
            },
            {"a", "b"},
        ),
        # More failing rows than listed: the rest may be in any file.
        ({"unexpected_count": 30, "partial_unexpected_index_list": [{"_file": "a", "_line": 2}]}, None),
        # Without values (a personal identity code): lists of files and lines.
        (
            {"unexpected_count": 2, "partial_unexpected_index_list": [{"_file": ["a", "c"], "_line": [2, 9]}]},
            {"a", "c"},
        ),
        # A check of the whole table names no rows.
        ({"observed_value": ["x"]}, None),
    ],
)
def test_a_failed_check_flags_the_files_of_its_rows_or_all_when_it_cannot_tell(result, files):
    r = {
        "expectation_config": {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x"}},
        "result": result,
    }
    flagged = flagged_files(r, frozenset())
    assert flagged == (frozenset(files) if files is not None else None)


def _plant_long_responses(path: Path, lines: list[int]) -> None:
    """Unusually long response times (a warning, not a failure) on the given lines of a rescue file."""
    rows = path.read_text(encoding="utf-8-sig").splitlines()
    for line in lines:
        rows[line - 1] = rows[line - 1].rsplit(";", 1)[0] + ";4000"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")


def test_a_file_a_check_only_warned_on_is_reused_and_warns_as_if_every_file_were_read(extracts, tmp_path):
    """The next month's run reuses last month's warned files: each warning check's one message counts and names
    the rows of the reused files and of the new one in file order, word for word what reading them all says."""
    _plant_long_responses(extracts / "pelastustehtavat_202401.csv", [9, 4, 30])
    _plant_long_responses(extracts / "pelastustehtavat_202402.csv", [2, 3, 7])
    url = f"sqlite:///{tmp_path / 'w.db'}"
    _run(extracts, url, tmp_path / "q1", 1, "run1")
    nxt, v2, loaded = _run(extracts, url, tmp_path / "q2", 2, "run2")
    rescue = _files(nxt, "rescue")
    assert [n for n, f in rescue.items() if not f.reused] == ["pelastustehtavat_202402.csv"]
    assert rescue["pelastustehtavat_202401.csv"].warned  # what it warned of, kept with its batch
    _, full, _ = _run(extracts, f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path / "q3", 2, "run3", reuse_earlier=False)

    reused, read_all = ({s.source: s for s in v.statuses}["rescue"] for v in (v2, full))
    assert reused.warnings == read_all.warnings and (reused.checks, reused.passed) == (read_all.checks, read_all.passed)
    (message,) = reused.warnings
    assert "(7 riviä: pelastustehtavat_202307.csv rivi 515, pelastustehtavat_202401.csv rivi 4, " in message
    assert message.endswith("pelastustehtavat_202401.csv rivi 30, pelastustehtavat_202402.csv rivi 2 …)")
    # The new month warned too, and its rows are kept with its batch: a third run reuses every file.
    assert not loaded.batch_of("rescue", "pelastustehtavat_202402.csv").reused
    third, v3, _ = _run(extracts, url, tmp_path / "q4", 2, "run4")
    assert all(f.reused for f in _files(third, "rescue").values())
    assert {s.source: s for s in v3.statuses}["rescue"].warnings == read_all.warnings


def test_files_earlier_runs_checked_are_hashed_ahead_and_each_digest_is_taken_once(tmp_path):
    """A rerun hashes the files earlier runs checked all at once; a file no run checked is left to be read, and a
    digest taken by `reusable` is gone, so that asking again hashes the file as it is then."""
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    old.write_text("A;B\n1;2\n", encoding="utf-8")
    new.write_text("A;B\n3;4\n", encoding="utf-8")
    files = pd.DataFrame(
        [
            ["rescue", "2024-01", "old.csv", sha256_of(old), 1, "not-this-key", 7, "run1", None],
            ["rescue", "2024-03", "gone.csv", "0" * 64, 1, "not-this-key", 8, "run1", None],
        ],
        columns=reuse.CHECKED_COLUMNS,
    )
    earlier = Checked(files, pd.DataFrame(), 0.3)
    checked = PeriodFile("2024-01", "old.csv", old, True)
    # A file removed after it was listed is left to be hashed (and to fail) when its turn comes.
    gone = PeriodFile("2024-03", "gone.csv", tmp_path / "gone.csv", True)
    earlier.hash_ahead([("rescue", checked), ("rescue", PeriodFile("2024-02", "new.csv", new, True)), ("rescue", gone)])
    assert earlier.digests == {old: sha256_of(old)}
    assert earlier.reusable("rescue", checked) is None  # its bytes match, its validation key does not
    assert earlier.digests == {}
    with pytest.raises(FileNotFoundError):
        earlier.reusable("rescue", gone)
