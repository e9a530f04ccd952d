import datetime as dt
import json

import pandas as pd

from expectations.create_suites import SUITES
from tasks.ingest.extract import extract_source
from tasks.ingest.ledger import extract_ledger
from tasks.ingest.validate import run_suites, suite_document, suite_parameters


def test_committed_suites_match_the_contracts():
    """The JSON files are the suites the flow loads; they must be what the contracts say."""
    for name, build in SUITES.items():
        doc = suite_document(name)
        assert [e["type"] for e in doc["expectations"]] == [e.expectation_type for e in build()], name
        assert {e["severity"] for e in doc["expectations"]} <= {"critical", "warning"}
        # The personal-data guard is always critical.
        assert all(
            e["severity"] == "critical"
            for e in doc["expectations"]
            if e["type"] == "expect_column_values_to_not_contain_hetu"
        )


def test_sample_passes_and_planted_errors_fail_with_their_place(sample_dir, tmp_path):
    ledger, _ = extract_ledger(sample_dir, 2024, 2)
    frame = ledger.frame.copy()
    bad = frame.copy()
    bad.loc[3, "account"] = "5100"  # outside the chart's operating accounts
    bad.loc[4, "service"] = "Keksitty palvelu"
    bad = pd.concat([bad, bad.iloc[[0]]], ignore_index=True)  # duplicated key
    frames = {
        "ledger": bad,
        "result_budget": extract_source(sample_dir, "result_budget", 2024, 12).frame,
        "council_budget": extract_source(sample_dir, "council_budget", 2024, 12).frame,
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


def _validation_frame_row_by_row(source, frame, bands):
    """The derived columns as first written, row by row: the reference for the vectorised version."""
    from tasks.contracts import sources, structure

    derived = {}
    if "year" not in frame:
        return (
            frame.assign(unit_lines=frame.groupby(["area", "service"], dropna=False)["line"].transform("nunique"))
            if source == "result_budget"
            else frame
        )
    stamp = frame["_file"].astype(str).str.extract(r"(\d{4,6})\.\w+$")[0]
    derived["file_period"] = pd.to_numeric(stamp, errors="coerce")
    if sources()[source].period == "month":
        derived["row_period"] = frame["year"].astype("float64") * 100 + frame["month"].astype("float64")
        derived["file_rows"] = frame.groupby("_file", observed=True)["_line"].transform("size")
        b = bands.set_index("file")
        # No band: open, not missing (the same verdict without GX dropping rows).
        derived["row_band_min"] = frame["_file"].map(b["lo"]).astype("float64").fillna(float("-inf"))
        derived["row_band_max"] = frame["_file"].map(b["hi"]).astype("float64").fillna(float("inf"))
    if source == "ledger":
        derived.update(
            account_number=pd.to_numeric(frame["account"], errors="coerce"),
            cost_centre_service=frame["cost_centre"].str[:4],
            service_code=frame["service"].map({s.name: s.code for s in structure().services}),
            area_of_service=frame["service"].map({s.name: s.area for s in structure().services}),
        )
    return frame.assign(**derived)


def _assert_same_values(frame, reference, obj="frame"):
    """Equal to the reference, text columns as categoricals holding the same values, dates the same instants at
    nanosecond precision, nullable integers the same numbers in NumPy's int64 or float64."""
    frame = frame.copy()
    for c in frame.columns:
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            assert isinstance(reference[c].dtype, pd.StringDtype), c
            frame[c] = frame[c].astype(reference[c].dtype)
        elif pd.api.types.is_datetime64_dtype(reference[c]) and reference[c].dtype != frame[c].dtype:
            assert frame[c].dtype == "datetime64[ns]", c
            frame[c] = frame[c].astype(reference[c].dtype)
        elif isinstance(reference[c].dtype, pd.Int64Dtype) and reference[c].dtype != frame[c].dtype:
            assert frame[c].dtype in ("int64", "float64"), c
            frame[c] = frame[c].astype(reference[c].dtype)
    pd.testing.assert_frame_equal(frame, reference, obj=obj)


def test_derived_columns_per_distinct_value_equal_the_row_by_row_definition(sample_dir):
    """validation_frame computes per distinct file, account and service, text as categoricals; values are unchanged."""
    from tasks.ingest.period import Extracted
    from tasks.ingest.validate import row_bands, validation_frame

    ledger, _ = extract_ledger(sample_dir, 2024, 3)
    bands = row_bands(
        Extracted({"ledger": ledger}, pd.DataFrame()).files(), pd.DataFrame(columns=["source", "period", "rows"]), 0.3
    )
    clean = ledger.frame
    broken = clean.copy()
    broken.loc[1, "account"] = "40A0"  # not a number
    broken.loc[2, "account"] = pd.NA
    broken.loc[3, "service"] = "Keksitty palvelu"  # no code, no area
    broken.loc[4, "service"] = pd.NA
    broken.loc[5, "cost_centre"] = pd.NA
    broken.loc[6, "_file"] = "talous_toteuma.csv"  # no period in the name
    for frame in (clean, broken, clean.iloc[:0]):
        expected = _validation_frame_row_by_row("ledger", frame, bands)
        checked = validation_frame("ledger", frame, bands)
        _assert_same_values(checked, expected)
        assert {c for c in checked if isinstance(checked[c].dtype, pd.CategoricalDtype)} == {
            "area",
            "service",
            "cost_centre",
            "account_name",
            "_file",
            "line",
            "area_of_service",
            "cost_centre_service",
            "service_code",
        }  # account: matched by a regex
    assert bands["lo"].isna().any() and bands["lo"].notna().any()  # files with and without a band


def test_derived_columns_of_every_source_are_unchanged(sample_dir):
    from tasks.contracts import reported_sources
    from tasks.ingest.extract import extract_source
    from tasks.ingest.period import Extracted
    from tasks.ingest.validate import row_bands, validation_frame

    extracted = {sid: extract_source(sample_dir, sid, 2024, 8) for sid in reported_sources() if sid != "ledger"}
    bands = row_bands(
        Extracted(extracted, pd.DataFrame()).files(), pd.DataFrame(columns=["source", "period", "rows"]), 0.3
    )
    for sid, e in extracted.items():
        assert e.status == "ok", sid
        _assert_same_values(
            validation_frame(sid, e.frame, bands), _validation_frame_row_by_row(sid, e.frame, bands), obj=sid
        )


def test_row_band_warns_on_the_file_outside_it_and_files_without_a_band_are_not_judged(sample_dir, tmp_path):
    from tasks.ingest.period import Extracted
    from tasks.ingest.validate import row_bands

    ledger, _ = extract_ledger(sample_dir, 2024, 3)
    files = Extracted({"ledger": ledger}, pd.DataFrame()).files()
    bands = row_bands(files, pd.DataFrame(columns=["source", "period", "rows"]), 0.3)
    assert bands["lo"].isna().sum() == 3  # the first three months have no earlier periods
    rows = files.set_index("file")["rows"]
    bands.loc[bands["file"] == "talous_toteuma_202402.csv", "lo"] = rows["talous_toteuma_202402.csv"] + 1
    bands.loc[bands["file"] == "talous_toteuma_202403.csv", "hi"] = rows["talous_toteuma_202403.csv"] - 1
    q = run_suites({"ledger": ledger.frame}, tmp_path / "quality", suite_parameters(dt.date(2024, 4, 20)), bands)[
        "ledger"
    ]
    assert q.status == "ok" and not q.failures  # a band is a warning only
    low, high = sorted(q.warnings, key=lambda w: "suurempi" in w)
    n_low, n_high = rows["talous_toteuma_202402.csv"], rows["talous_toteuma_202403.csv"]
    assert low.startswith(
        f"kuukauden rivimäärä on pienempi kuin aiempien kausien perusteella odotettu ({n_low} riviä: "
        "talous_toteuma_202402.csv rivi 2,"
    )
    assert high.startswith(
        f"kuukauden rivimäärä on suurempi kuin aiempien kausien perusteella odotettu ({n_high} riviä: "
        "talous_toteuma_202403.csv rivi 2,"
    )
    assert len(q.warnings) == 2


def test_text_checks_on_categoricals_name_their_rows_and_the_guard_leaks_nothing(sample_dir, tmp_path):
    """The suite sees text as categoricals: each check still fails on its rows, named by file and line,
    and a personal identity code stops the source without its value appearing anywhere."""
    ledger, _ = extract_ledger(sample_dir, 2024, 2)
    bad = ledger.frame.copy()
    where = {i: f"{bad.at[i, '_file']} rivi {bad.at[i, '_line']}" for i in (3, 10, 20, 30, 40, 50)}
    other_area = next(a for a in bad["area"].unique() if a != bad.at[20, "area"])
    bad.loc[3, "service"] = "Keksitty palvelu"
    bad.loc[10, "area"] = "Keksitty alue"
    bad.loc[20, "area"] = other_area
    bad.loc[30, "cost_centre"] = "9999001"
    bad.loc[40, "account_name"] = "soita 131052-308T"
    bad.loc[50, "account"] = "40A0"
    q = run_suites({"ledger": bad}, tmp_path / "quality", suite_parameters(dt.date(2024, 3, 20)))["ledger"]
    assert q.status == "failed" and q.personal_data
    text = " | ".join(q.failures)
    assert f"sarakkeessa Palvelu on tuntematon arvo (ei rakenteessa) (1 rivi: {where[3]})" in text
    assert f"sarakkeessa Palvelukokonaisuus on tuntematon arvo (ei rakenteessa) (1 rivi: {where[10]})" in text
    assert f"palvelu ei kuulu ilmoitettuun palvelukokonaisuuteen (2 riviä: {where[10]}, {where[20]})" in text
    assert f"kustannuspaikka ei kuulu ilmoitettuun palveluun (1 rivi: {where[30]})" in text
    assert f"sarakkeessa Tilin nimi on henkilötunnus (1 rivi: {where[40]}; muoto ******-****)" in text
    assert f"sarakkeen Tili arvon muoto on virheellinen (1 rivi: {where[50]})" in text
    for path in (tmp_path / "quality").rglob("*"):
        if path.is_file():
            assert "131052" not in path.read_text(encoding="utf-8", errors="replace"), path


def test_great_expectations_is_imported_only_by_the_validate_stage():
    """Importing the flow, the CLI and every stage module leaves GX unloaded (it is slow to import)."""
    import subprocess
    import sys

    code = (
        "import sys, importlib, pkgutil, tasks, flows.cli, flows.report\n"
        "for m in pkgutil.iter_modules(tasks.__path__):\n"
        "    if m.name != 'gx_custom': importlib.import_module('tasks.' + m.name)\n"
        "print('great_expectations' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_great_expectations_imported_ahead_is_set_up_as_run_suites_needs_it():
    """The import begun on its own thread leaves GX as `run_suites` sets it up: no batch fingerprints, katsaus's
    own expectations registered, and the data context's logger quiet."""
    import subprocess
    import sys

    code = (
        "import logging, sys\n"
        "from tasks.ingest.validate import import_great_expectations_ahead, great_expectations\n"
        "thread = import_great_expectations_ahead()\n"
        "thread.join()\n"
        "assert 'great_expectations' in sys.modules\n"
        "from great_expectations.execution_engine import pandas_execution_engine\n"
        "from great_expectations.expectations.registry import get_expectation_impl\n"
        "print(pandas_execution_engine.HASH_THRESHOLD)\n"
        "print(get_expectation_impl('expect_column_values_to_not_contain_hetu').__name__)\n"
        "print(logging.getLogger('great_expectations.data_context.types.base').level == logging.WARNING)\n"
        "print(great_expectations() is sys.modules['great_expectations'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "ExpectColumnValuesToNotContainHetu", "True", "True"]


def test_a_failed_import_ahead_is_silent_and_run_suites_meets_it_itself(tmp_path):
    """An import ahead that fails prints nothing (no traceback among the controller's lines); `run_suites`
    then raises the import's own error."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.modules['great_expectations'] = None  # as if it were not installed\n"
        "from tasks.ingest.validate import import_great_expectations_ahead, run_suites\n"
        "import_great_expectations_ahead().join()\n"
        "try:\n"
        "    run_suites({'ledger': None}, __import__('pathlib').Path(sys.argv[1]), {})\n"
        "except ImportError as e:\n"
        "    print('ImportError', 'great_expectations' in str(e))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stderr == ""
    assert out.stdout.split() == ["ImportError", "True"]


def test_gx_still_has_the_batch_fingerprint_threshold_that_run_suites_turns_off():
    """run_suites sets GX's HASH_THRESHOLD to 0 (no hashing of every cell); after a GX upgrade
    that renamed it, the setting would silently do nothing and validation would slow down."""
    from great_expectations.execution_engine import pandas_execution_engine

    assert hasattr(pandas_execution_engine, "HASH_THRESHOLD")


def test_an_empty_account_name_is_a_warning_not_a_quarantine(sample_dir, tmp_path):
    ledger, _ = extract_ledger(sample_dir, 2024, 1)
    frame = ledger.frame.copy()
    frame["account_name"] = frame["account_name"].astype("string[pyarrow]")
    frame.loc[7, "account_name"] = ""
    q = run_suites({"ledger": frame}, tmp_path / "quality", suite_parameters(dt.date(2024, 9, 20)))["ledger"]
    assert q.status == "ok" and not q.failures
    assert any(w.startswith("tilin nimi puuttuu (1 rivi: talous_toteuma_2023") for w in q.warnings), q.warnings


def test_dates_are_checked_column_wise_and_a_date_beyond_nanoseconds_still_fails_as_written(sample_dir, tmp_path):
    """GX compares dates with their bounds column-wise only at nanosecond precision (the extract's are
    microseconds); a date too far to have nanoseconds keeps the row-wise comparison, and fails all the same."""
    from tasks.ingest.extract import extract_source
    from tasks.ingest.validate import validation_frame

    e = extract_source(sample_dir, "rescue", 2024, 3)
    assert e.frame["alarm_time"].dtype == "datetime64[us]"
    assert validation_frame("rescue", e.frame)["alarm_time"].dtype == "datetime64[ns]"
    frame = e.frame.copy()
    frame.loc[3, "alarm_time"] = pd.Timestamp("2030-01-01")
    assert validation_frame("rescue", frame)["alarm_time"].dtype == "datetime64[ns]"
    q = run_suites({"rescue": frame}, tmp_path / "q1", suite_parameters(dt.date(2024, 4, 20)))["rescue"]
    file, line = frame.loc[3, "_file"], frame.loc[3, "_line"]
    assert any("tulevaisuudessa" in f and f"{file} rivi {line}" in f for f in q.failures), q.failures

    frame.loc[5, "alarm_time"] = dt.datetime(2999, 12, 31)
    assert validation_frame("rescue", frame)["alarm_time"].dtype == "datetime64[us]"
    q = run_suites({"rescue": frame}, tmp_path / "q2", suite_parameters(dt.date(2024, 4, 20)))["rescue"]
    failure = next(f for f in q.failures if "tulevaisuudessa" in f)
    assert f"{file} rivi {line}" in failure and f"{frame.loc[5, '_file']} rivi {frame.loc[5, '_line']}" in failure


def test_nullable_integers_are_checked_column_wise_and_gaps_and_bounds_still_fail_at_their_rows(sample_dir, tmp_path):
    """GX compares numbers with their bounds column-wise only in NumPy's dtypes: the extract's nullable integers
    are int64 (no gaps) or float64 (gaps as NaN) for the suite, and a gap or a value out of bounds is still found
    at its row. A value too large for a float64 to hold exactly stays a nullable integer."""
    from tasks.ingest.extract import extract_source
    from tasks.ingest.validate import validation_frame

    e = extract_source(sample_dir, "rescue", 2024, 3)
    assert e.frame["response_s"].dtype == "Int64"
    assert validation_frame("rescue", e.frame)["response_s"].dtype == "int64"
    frame = e.frame.copy()
    frame.loc[3, "response_s"] = pd.NA
    frame.loc[7, "response_s"] = 0
    frame.loc[9, "response_s"] = 4000
    checked = validation_frame("rescue", frame)
    assert checked["response_s"].dtype == "float64" and checked["response_s"].isna().sum() == 1
    q = run_suites({"rescue": frame}, tmp_path / "q", suite_parameters(dt.date(2024, 4, 20)))["rescue"]

    def at(row: int) -> str:
        return f"{frame.loc[row, '_file']} rivi {frame.loc[row, '_line']}"

    assert any("tyhjiä" in f and at(3) in f for f in q.failures), q.failures  # the gap: missing, as before
    assert any("välin ulkopuolella" in f and at(7) in f for f in q.failures), q.failures  # below its minimum
    assert any("epätavallisen suuri" in w and at(9) in w for w in q.warnings), q.warnings  # above its warning

    frame.loc[11, "response_s"] = 2**60
    assert validation_frame("rescue", frame)["response_s"].dtype == "Int64"
