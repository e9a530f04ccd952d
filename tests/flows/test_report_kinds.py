"""The sample's report of each kind (monthly, forecast, annual): the same inputs give the recorded report, and its
PDF reads well on every page.

Golden: the content fingerprint, CSVs and HTML against a recorded run.

`tests/flows/golden/` holds what the sample's reports of each kind contained when it
was recorded: `golden.json` (the content fingerprint and the SHA-256 of
report.html with the report date replaced by `{report_date}`) and the two CSVs.
A change of code that is meant to leave the report alone (a move, a rename, a
speed-up) must pass this test unchanged; a change that is meant to change the
report updates the recording in the same commit, and says why.

Re-record with `KATSAUS_RECORD_GOLDEN=1 pytest tests/flows/test_report_kinds.py` (the
runs then write the recording instead of comparing with it).

Layout: the PDF read back with `pdftotext -bbox-layout` (tests/pdf_layout.py): no word
cut without a hyphen, no text over its neighbour or out of the page, no heading at a
page's foot, no nearly empty page, a table of contents that points to the right pages,
no code identifier on the board's pages.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import pytest

from deployments import schedules
from reports import fmt
from tasks.contracts import settings, structure
from tasks.contracts.vocab import Period
from tests import pdf_layout as layout
from tests.flows.conftest import REPORT_DATE, checked_warehouse, manifest, observed, run_report

GOLDEN = Path(__file__).parent / "golden"
# Each kind prepared when it would be: a few weeks after its period ends.
CASES = [
    ("2024-03", "monthly", dt.date(2024, 4, 12)),
    ("2024-08", "forecast", REPORT_DATE),
    ("2024-12", "annual", dt.date(2025, 2, 14)),
]

pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture(scope="module", params=CASES, ids=[f"{p}-{k}" for p, k, _ in CASES])
def report(request, sample_dir, tmp_path_factory) -> Path:
    """The sample's report of one kind, run once for every test of this module. The monthly report starts from an
    empty warehouse, as the demo's does; the annual report from the demo's warehouse, so that it reads January to
    August as an earlier run checked them and September to December afresh: the recording holds either way."""
    period, kind, prepared = request.param
    forecast_run = request.getfixturevalue("forecast_run")
    if (period, kind) == ("2024-08", "forecast"):
        return forecast_run[0]  # the demo's report, shared with the flow tests
    tmp = tmp_path_factory.mktemp(f"{period}-{kind}")
    if kind == "annual":
        checked_warehouse(forecast_run, tmp)
    return Path(run_report(sample_dir, tmp, period=period, kind=kind, report_date=prepared)["report_dir"])


def test_same_inputs_give_the_recorded_report(report):
    recorded = GOLDEN / report.name
    if os.environ.get("KATSAUS_RECORD_GOLDEN"):
        record(report)
    for name in ("reconciliation.csv", "indicators.csv"):
        assert (report / name).read_bytes() == (recorded / name).read_bytes(), name
    assert observed(report) == json.loads((GOLDEN / "golden.json").read_text(encoding="utf-8"))[report.name]


def record(report: Path) -> None:
    """Write one report's CSVs and digests into the recording."""
    (GOLDEN / report.name).mkdir(parents=True, exist_ok=True)
    for name in ("reconciliation.csv", "indicators.csv"):
        (GOLDEN / report.name / name).write_bytes((report / name).read_bytes())
    path = GOLDEN / "golden.json"
    golden = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    golden[report.name] = observed(report)
    path.write_text(json.dumps(dict(sorted(golden.items())), indent=2) + "\n", encoding="utf-8")


# --- the PDF, page by page -------------------------------------------------------------


@pytest.fixture(scope="module")
def read(report) -> tuple[list[layout.Page], str]:
    """The report's PDF as pages of words, and its HTML."""
    return layout.read_pdf(report / "report.pdf"), (report / "report.html").read_text(encoding="utf-8")


def board_pages(pages: list[layout.Page]) -> list[layout.Page]:
    """The pages before the first appendix: what the board reads."""
    first = dict(layout.toc_entries(pages))["Liite 1. Täsmäytys"]
    return [p for p in pages if p.number < first]


def test_no_word_is_cut_without_a_hyphen(read):
    pages, html = read
    assert layout.unhyphenated_breaks(pages, html) == []


def test_no_text_runs_over_its_neighbour_or_out_of_the_page(read):
    assert layout.overlapping_words(read[0]) == []


def test_no_heading_ends_a_page_and_no_page_is_nearly_empty(read):
    pages, html = read
    assert layout.headings_ending_a_page(pages, html) == []
    assert layout.nearly_empty_pages(pages) == []


def test_the_table_of_contents_points_to_the_right_pages(read):
    pages, _ = read
    entries = layout.toc_entries(pages)
    assert [t for t, _ in entries][:3] == ["Päätösehdotus", "Tiivistelmä", "Talouden toteutuminen"]
    assert len(entries) >= 6
    assert [(t, layout.page_of_heading(pages, t)) for t, _ in entries] == entries


def test_the_boards_pages_carry_no_code_identifiers(read):
    pages, _ = read
    assert layout.code_identifiers(board_pages(pages)) == []
    # The technical appendices may name files: the check would see them there.
    assert layout.code_identifiers(pages[len(board_pages(pages)) :])


def test_the_cover_names_the_city_the_meeting_and_who_answers(report, read):
    cover = read[0][0].text
    contact = settings().contact
    facts = manifest(report)
    prepared = dt.date.fromisoformat(facts["report_date"])
    assert structure().city in cover
    # The board's first meeting after the report was prepared and its period ended, from the meeting calendar.
    meeting = schedules().next_meeting(max(prepared, Period.parse(facts["period"]).end))
    assert meeting and facts["meeting_date"] == meeting.isoformat()
    assert f"Kokouspäivä\n{fmt.date(meeting)}" in cover and f"Laadittu\n{fmt.date(prepared)}" in cover
    assert f"Lisätiedot: {contact['name']}, {contact['title']}, puh. {contact['phone']}" in cover.replace("\n", " ")


def test_tables_and_figures_are_numbered_in_order_and_a_continued_table_says_so(read):
    pages, _ = read
    text = "\n".join(p.text for p in pages)
    tables = [int(n) for n in re.findall(r"^Taulukko (\d+)\. ", text, flags=re.M)]
    figures = [int(n) for n in re.findall(r"^Kuvio (\d+)\. ", text, flags=re.M)]
    # Every number once, none skipped (text order is not print order where figures stand side by side).
    assert sorted(tables) == list(range(1, len(tables) + 1)) and len(tables) > 10
    assert sorted(figures) == list(range(1, len(figures) + 1)) and len(figures) > 5
    # A page's header says which table continues on it: one that began on an earlier page.
    continued = 0
    for page in pages[1:]:
        header = " ".join(w.text for b in page.blocks for line in b for w in line.words if w.y1 < layout.MARGIN_TOP)
        m = re.search(r"Taulukko (\d+) \(jatkuu\)", header)
        if m:
            continued += 1
            began = next(p.number for p in pages if re.search(rf"^Taulukko {m[1]}\. ", p.text, flags=re.M))
            assert began < page.number, header
    assert continued, "the budget's table by service runs over a page"


def test_the_budget_books_own_arithmetic_error_is_footnoted_not_called_a_deviation(read):
    """Table 5 of the 2024 plan prints Perhe- ja sosiaalipalvelut's margin as −518 358 while its lines add up to
    −502 964: the report uses the sum and tells a member holding the book why."""
    text = layout.html_text(read[1])
    note = re.search(r"1\) Hyväksytyssä tulosbudjettiasiakirjassa [^.]*\.[^.]*\.", text)
    assert note, "the footnote"
    assert "Perhe- ja sosiaalipalvelut" in note[0]
    assert "−518\u00a0358" in note[0] and "−502\u00a0964" in note[0]
    assert "poikkeama" not in text.split("Liite 1. Täsmäytys")[-1].split("Liite 2.")[0].lower().replace(
        "budjettipoikkeama", ""
    )
