"""The bad-input catalogue (`tests/ingest/bad_inputs/catalogue.yaml`), case by case.

Every case puts its malformed file(s) into a copy of the sample and shows,
with the real loaders and the committed Great Expectations suites, that the
source gets the expected status and a Finnish message naming the file and,
where it applies, the row and column. The cases marked `flow` also run the
whole report flow on the temporary Prefect server: no traceback reaches the
user, a failed source has nothing of the run in the warehouse (the previous
good batches stay untouched), and every other source is reported normally.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
import yaml

from reports import fmt
from tasks.contracts import sources
from tasks.ingest.extract import Extract, extract_source
from tasks.ingest.ledger import extract_ledger
from tasks.ingest.period import Extracted
from tasks.ingest.quality import source_statuses
from tasks.ingest.validate import run_suites, suite_parameters
from tests.flows.conftest import checked_warehouse, cli_draft_args

CATALOGUE = Path(__file__).parent / "bad_inputs"
CASES = yaml.safe_load((CATALOGUE / "catalogue.yaml").read_text(encoding="utf-8"))["cases"]
FLOW_CASES = [c for c in CASES if c.get("flow")]
DATE = dt.date(2024, 9, 20)
MASKED = "******-****"


def _id(case: dict) -> str:
    return case["case"]


def write_enormous_line(sample_dir: Path, target: Path) -> None:
    """The month's answers, header included, on one line of over 5 MB: the record separators are lost."""
    line = ";".join((sample_dir / target.name).read_text(encoding="utf-8-sig").splitlines())
    text = line
    while len(text) < 5_000_000:
        text += ";" + line
    target.write_text(text, encoding="utf-8")


GENERATORS = {"enormous_line": write_enormous_line}


def prepare(case: dict, sample_dir: Path, dst: Path) -> Path:
    """A copy of the sample with the case's files in place of the sample's."""
    shutil.copytree(sample_dir, dst)
    return _apply(case, sample_dir, dst)


def _apply(case: dict, sample_dir: Path, dst: Path) -> Path:
    for name in case.get("files", []):
        shutil.copyfile(CATALOGUE / case["case"] / name, dst / name)
    for name in case.get("remove", []):
        (dst / name).unlink()
    if "generate" in case:
        GENERATORS[case["case"]](sample_dir, dst / case["generate"])
    return dst


def extract(extracts: Path, source: str) -> Extract:
    if source == "ledger":
        return extract_ledger(extracts, 2024, 8)[0]
    return extract_source(extracts, source, 2024, 8)


def case_file_names(case: dict) -> list[str]:
    return case.get("files", []) + ([case["generate"]] if "generate" in case else [])


def personal_codes(case: dict) -> list[str]:
    """The personal identity codes the case's files hold (each with a valid checksum)."""
    from tasks.ingest.pii import PATTERN, certain_codes, hetu_rows

    text = "".join((CATALOGUE / case["case"] / n).read_bytes().decode("utf-8-sig") for n in case["files"])
    codes = [m.group(0) for m in re.finditer(PATTERN, text, flags=re.IGNORECASE)]
    assert codes and hetu_rows(pd.Series(codes)).all(), "the case must hold personal identity codes"
    assert certain_codes(pd.Series(codes)).any(), "at least one with a valid checksum"
    return codes


def forbidden(codes: list[str]) -> list[str]:
    """A code and its digits without the century sign: neither may be repeated anywhere."""
    return [*codes, *(re.sub(r"\D", "", c)[:9] for c in codes)]


def expected_message(case: dict, messages: list[str]) -> str:
    """The message carrying the case's fragment, checked for the file, row and column it must name."""
    hits = [m for m in messages if case["message"] in m]
    assert hits, f"{case['message']!r} not in {messages}"
    m = hits[0]
    assert case.get("names", case_file_names(case)[0]) in m, m
    if "line" in case:
        assert re.search(rf"\brivi {case['line']}\b", m), m
    if "column" in case:
        assert case["column"] in m, m
    return m


# ---------------------------------------------------------------------------------------------
# Every case: the real extract and the committed suite.


def test_catalogue_is_complete_and_its_files_exist():
    ids = [c["case"] for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 25
    folders = {p.name for p in CATALOGUE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == {c["case"] for c in CASES if c.get("files")}, (
        "every folder is a case and every case's folder exists"
    )
    for c in CASES:
        assert c["source"] in sources() and c["status"] in ("ok", "failed"), c["case"]
        assert c["status"] == "ok" or c.get("message"), f"{c['case']}: a failed case names its message"
        for name in c.get("files", []):
            assert (CATALOGUE / c["case"] / name).stat().st_size < 64_000, f"{c['case']}/{name} is not small"
    # The must-have kinds of fault are all here.
    assert {
        "utf16",
        "latin1_c1",
        "tab_delimiter",
        "missing_column",
        "extra_column",
        "renamed_header",
        "duplicated_rows",
        "non_numeric_amount",
        "half_numeric_amount",
        "mixed_thousands",
        "unicode_minus",
        "other_period_rows",
        "future_date",
        "negative_count",
        "part_exceeds_whole",
        "pct_over_100",
        "empty_file",
        "header_only",
        "truncated_last_line",
        "control_row_count",
        "control_sum",
        "control_missing",
        "hetu_in_feedback",
        "xlsx_merged_header",
        "png_as_csv",
        "enormous_line",
    } <= set(ids)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_case_is_caught_with_its_place(case, sample_dir, tmp_path):
    extracts = prepare(case, sample_dir, tmp_path / "extracts")
    source = case["source"]
    e = extract(extracts, source)  # returns: a bad file is an error of its source, never an exception
    quality = run_suites({source: e.frame}, tmp_path / "quality", suite_parameters(DATE)) if e.status == "ok" else {}
    status = source_statuses(Extracted({source: e}, pd.DataFrame()), quality)[0].as_dict()
    assert status["status"] == case["status"], status["errors"] or status["warnings"]
    messages = status["errors"] + status["warnings"]
    if case["status"] == "failed":
        message = expected_message(case, status["errors"])
        # The reason the report shows first points at the bad file, not at an innocent neighbour.
        assert status["reason"] == status["errors"][0]
        assert re.search(r"[\w.-]+\.(?:csv|ctl|xlsx)", status["reason"]).group(0) == case.get(
            "names", case_file_names(case)[0]
        )
        assert len(message) < 400, "a message is a line for a person, not a dump of the file"
    elif case.get("message"):
        expected_message(case, status["warnings"])
    else:
        mine = [m for m in messages if any(n in m for n in case_file_names(case))]
        assert not mine, f"valid input got messages: {mine}"
    for fragment in case.get("absent", []):
        assert not any(fragment in m for m in messages), f"{fragment!r} in {messages}"
    if case.get("same_data"):
        # The case's file carries the sample's content in another form: the typed rows are the same.
        good = extract(sample_dir, source).frame
        pd.testing.assert_frame_equal(e.frame.reset_index(drop=True), good.reset_index(drop=True))
    if case.get("pii"):
        bad = forbidden(personal_codes(case))
        written = [p.read_bytes().decode("utf-8", "replace") for p in (tmp_path / "quality").rglob("*") if p.is_file()]
        for text in [*messages, *written, json.dumps(status, ensure_ascii=False)]:
            assert not any(b in text for b in bad)


def test_enormous_line_is_refused_quickly(sample_dir, tmp_path):
    """Before the guard, pandas spent minutes on such a line; a refusal must not cost more than reading it."""
    import time

    case = next(c for c in CASES if c["case"] == "enormous_line")
    extracts = prepare(case, sample_dir, tmp_path / "extracts")
    assert (extracts / case["generate"]).stat().st_size > 5_000_000
    assert b"\n" not in (extracts / case["generate"]).read_bytes()
    start = time.perf_counter()
    e = extract(extracts, "feedback")
    assert time.perf_counter() - start < 20
    assert e.status == "failed"


# ---------------------------------------------------------------------------------------------
# Representative cases on the whole flow, on the real Prefect server.


def run_report(extracts: Path, tmp: Path, db: Path, cli_run: bool) -> Path:
    out = tmp / "out"
    if cli_run:
        from flows import cli

        rc = cli.main(cli_draft_args(extracts, out, db, tmp / "cache"))
        assert rc == 0, "a failed source is marked in the report; the run itself succeeds"
    else:
        from flows.report import RunParams, report_flow

        report_flow(
            RunParams(
                period="2024-08",
                kind="forecast",
                extracts=str(extracts),
                out=str(out),
                warehouse=f"sqlite:///{db}",
                cache_dir=str(tmp / "cache"),
                report_date=DATE,
                deliver=False,
            )
        )
    return out / "2024-08-forecast"


def warehouse_batches(db: Path) -> dict[str, list[tuple]]:
    """Per source: every load batch (id, period, file, SHA-256, rows, run) with the fact rows it holds."""
    from tasks.warehouse.models import FACTS

    with sqlite3.connect(db) as con:
        out: dict[str, list[tuple]] = {}
        for row in con.execute(
            "select source, id, period, file_name, sha256, rows, run_id from load_batch order by id"
        ):
            table = FACTS[row[0]].__tablename__
            facts = con.execute(f"select count(*) from {table} where batch_id = ?", (row[1],)).fetchone()[0]
            out.setdefault(row[0], []).append((*row[1:], facts))
    return out


@pytest.fixture(scope="module")
def baseline_warehouse(forecast_run, tmp_path_factory) -> Path:
    """A warehouse that already holds a good run of the untouched sample: a copy of the demo report's."""
    return checked_warehouse(forecast_run, tmp_path_factory.mktemp("baseline"))


def _prefect_files() -> list[Path]:
    """The Prefect server's database (flow and task runs, their logs) and Prefect's home (results, if any)."""
    import os

    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value() or ""
    db = Path(url.split("///", 1)[1]) if "///" in url else None
    folders = [Path(os.environ["PREFECT_HOME"])] + ([db.parent] if db else [])
    return [p for f in folders for p in f.rglob("*") if p.is_file()]


# The flow cases run together, one flow run per warehouse kind (`flow` in the catalogue): each case's fault
# is in another source, so one run shows every source quarantined on its own while the rest are reported.
SCENARIOS = sorted({c["flow"] for c in FLOW_CASES})


@pytest.mark.usefixtures("prefect_server")
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_flow_quarantines_each_bad_source_and_reports_the_rest(scenario, sample_dir, tmp_path, request, capfd, caplog):
    cases = [c for c in FLOW_CASES if c["flow"] == scenario]
    assert len({c["source"] for c in cases}) == len(cases), "one case per source in a run"
    extracts = prepare_all(cases, sample_dir, tmp_path / "extracts")
    db = tmp_path / "w.db"
    before = {}
    if scenario == "baseline":
        shutil.copyfile(request.getfixturevalue("baseline_warehouse"), db)
        before = warehouse_batches(db)
        assert all(before[c["source"]] for c in cases), "the baseline holds the good sample's batches"

    cli_run = any(c.get("cli") for c in cases)
    report = run_report(extracts, tmp_path, db, cli_run=cli_run)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err + caplog.text

    statuses = {s["source"]: s for s in json.loads((report / "quality" / "summary.json").read_text(encoding="utf-8"))}
    touched = {c["source"] for c in cases}
    assert {s: statuses[s]["status"] for s in touched} == {c["source"]: c["status"] for c in cases}
    others = {s: v["status"] for s, v in statuses.items() if s not in touched}
    assert set(others.values()) == {"ok"}, f"the other sources are reported normally: {others}"
    # The page's text as read: file names may wrap (zero-width spaces), numbers keep their units (no-break spaces).
    page = html.unescape((report / "report.html").read_text(encoding="utf-8")).replace("\u200b", "")
    page = page.replace("\u00a0", " ")
    manifest = json.loads((report / "manifest.json").read_text(encoding="utf-8"))
    after = warehouse_batches(db)

    for case in cases:
        source = case["source"]
        if case["status"] == "failed":
            assert f"{sources()[source].title}: virheellinen, ei käytetty – " in page, case["case"]
            assert case["message"] in page, case["case"]
            if cli_run:
                assert f"Huom: {sources()[source].title}: virheellinen, ei käytetty" in err, case["case"]
            # No partial period: nothing of the failed source was loaded by this run ...
            assert after.get(source, []) == before.get(source, []), f"{source}: exactly the batches before the run"
            assert all(i["batch_id"] is None for i in manifest["inputs"] if i["source"] == source), case["case"]
        else:
            # ... while a usable file is loaded as a batch of its own period.
            name = case["files"][0]
            sha = hashlib.sha256((extracts / name).read_bytes()).hexdigest()
            periods = {b[1]: b for b in after[source]}
            assert periods[case["period"]][2:4] == (name, sha)
            if case.get("message"):
                assert case["message"] in page
    # The rest of the report: every source read whole has its batches, the sections are there.
    for s, status in statuses.items():
        if status["status"] == "ok" and status["files"]:
            assert len(after.get(s, [])) == len(status["files"]), s
    failed = {c["source"] for c in cases if c["status"] == "failed"}
    assert "Henkilöstömäärä palvelukokonaisuuksittain" in page or failed & {"personnel", "personnel_plan"}
    assert "Sitovat toiminnan tavoitteet" in page and "Liite 2. Tietojen laatu" in page
    if "ledger" in failed:
        assert "Talouden toteumaa ei voida arvioida" in page
    else:
        assert "Toimiala yhteensä" in page and "Talouden toteumaa ei voida arvioida" not in page
    assert (report / "report.pdf").stat().st_size > 10_000

    for case in cases:
        if case.get("pii"):
            assert_code_repeated_nowhere(case, report, db, out + err + caplog.text, page)


def prepare_all(cases: list[dict], sample_dir: Path, dst: Path) -> Path:
    """A copy of the sample with every case's files in place of the sample's."""
    shutil.copytree(sample_dir, dst)
    for case in cases:
        _apply(case, sample_dir, dst)
    return dst


def assert_code_repeated_nowhere(case: dict, report: Path, db: Path, captured: str, page: str) -> None:
    """The code, or its digits, in no output file, PDF text, warehouse, Prefect's records or captured output."""
    from pypdf import PdfReader

    bad = forbidden(personal_codes(case))
    pdf_text = "\n".join(p.extract_text() for p in PdfReader(report / "report.pdf").pages)
    files = [p for p in report.rglob("*") if p.is_file()]
    assert any(p.parent.name == "data_docs" or "data_docs" in p.parts for p in files), "Data Docs were written"
    prefect = _prefect_files()
    assert any(p.suffix == ".db" for p in prefect), "the Prefect server's database is searched too"
    stored = [*files, *db.parent.glob(db.name + "*"), *prefect]
    for path in stored:
        raw = path.read_bytes()
        for b in bad:
            assert b.encode() not in raw and b.encode("utf-16-le") not in raw, f"{b} in {path}"
    for text in (pdf_text, captured):
        assert not any(b in text for b in bad)
    # What people see instead: the column, the row and the masked form.
    rows = fmt.count(len(personal_codes(case)), "rivi", "riviä")
    shown = re.search(rf"sarakkeessa Avoin_palaute on henkilötunnus \({rows}: ([^;]*); muoto (\S+)\)", page)
    assert shown and f"{case['files'][0]} rivi {case['line']}" in shown[1] and shown[2] == MASKED, page
    assert MASKED in pdf_text
