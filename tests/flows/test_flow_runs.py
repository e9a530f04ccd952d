"""Integration: whole runs of the flow that change the sample (a missing or broken source, a strict run, an approval
and a correction), each on its own copy, on the session's Prefect server. (The sample's own run: test_flow.py.)"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from flows import cli
from tasks.ingest.reuse import REUSED_FI
from tests import pdf_layout as layout
from tests.flows.conftest import checked_warehouse, cli_draft_args, run_report, stage_lines_are_all_there

pytestmark = pytest.mark.usefixtures("prefect_server")
run_result = run_report


@pytest.fixture(autouse=True)
def earlier_run(forecast_run, tmp_path) -> Path:
    """Each test's warehouse (`tmp_path/w.db`) holds the untouched sample as an earlier run checked it: the test's
    runs read and check again only what the test changed, and must not take what is gone from the earlier run."""
    return checked_warehouse(forecast_run, tmp_path)


def run(extracts: Path, tmp: Path, **kw) -> Path:
    return Path(run_result(extracts, tmp, **kw)["report_dir"])


def test_missing_source_is_reported_and_strict_fails(extracts, tmp_path, capsys, prefect_server):
    (extracts / "talousarvio_2024.csv").unlink()
    args = cli_draft_args(extracts, tmp_path / "out", tmp_path / "w.db", tmp_path / "cache")
    assert cli.main(args) == 0
    console = capsys.readouterr().out.splitlines()
    stage_lines_are_all_there(console)  # the run's progress, on the console as it goes
    # The sources the earlier run checked are judged as then, and said so; the budget is not taken from that run.
    assert any(
        re.fullmatch(
            rf"  Henkilöstö: 100 riviä, läpäisi \d+/\d+ tarkistusta \(kaikki {re.escape(REUSED_FI)}\); käytetty",
            line,
        )
        for line in console
    ), console
    assert "  Talousarvio: 0 tiedostoa, 0 riviä; tieto puuttuu" in console
    html = (tmp_path / "out" / "2024-08-forecast" / "report.html").read_text(encoding="utf-8")
    assert "Talousarvio: tieto puuttuu" in html
    assert "Talouden toteuma" in html and "Toimiala yhteensä" in html  # the rest is reported
    # Strict and meant for the board: it stops before anyone is asked to approve; nothing archived or sent.
    deliver = [a for a in args if a != "--no-deliver"]
    archive = tmp_path / "archive"
    strict = ["--strict", "--approve-as", "Maija Meikäläinen", "--archive", str(archive)]
    # As its own process: a handled failure ends in Finnish, without Prefect's traceback or log lines.
    stopped = subprocess.run(
        [str(Path(sys.executable).parent / "katsaus"), *deliver, *strict],
        env={**os.environ, "PREFECT_API_URL": prefect_server},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert stopped.returncode == 2, stopped.stdout + stopped.stderr
    err = stopped.stderr
    assert "Traceback" not in stopped.stdout + err and "| ERROR" not in stopped.stdout + err, err
    assert "Keskeytetään (--strict): Tiukka ajo keskeytettiin ennen hyväksyntää" in err
    assert "Talousarvio (tieto puuttuu)" in err and "council_budget" not in err
    assert not archive.exists()


def test_failed_source_is_not_used_and_says_where(extracts, tmp_path):
    path = extracts / "talous_toteuma_202405.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    lines[7] = re.sub(r";[^;]*$", ";12,3x", lines[7])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    report = run(extracts, tmp_path)
    html = (report / "report.html").read_text(encoding="utf-8")
    assert (
        "Talouden toteuma: virheellinen, ei käytetty – talous_toteuma_202405.csv, rivi 8, sarake Summa: arvo "
        "ei ole luku" in layout.html_text(html.split('id="liite-laatu"')[1])
    )
    m = json.loads((report / "manifest.json").read_text(encoding="utf-8"))
    assert all(i["batch_id"] is None for i in m["inputs"] if i["source"] == "ledger")
    assert "Talouden toteumaa ei voida arvioida" in html


def test_approved_report_is_archived_and_mailed_once_and_a_correction_is_a_new_version(
    extracts, tmp_path, smtp_server, monkeypatch
):
    """Headless approval (--approve-as): the final report, its archive version and exactly one e-mail per version."""

    for k, v in {
        "KATSAUS_SMTP_HOST": "127.0.0.1",
        "KATSAUS_SMTP_PORT": str(smtp_server.port),
        "KATSAUS_MAIL_FROM": "Katsaus <katsaus@stadi.example>",
        "KATSAUS_MAIL_TO": "sihteeri@stadi.example",
    }.items():
        monkeypatch.setenv(k, v)
    archive = tmp_path / "archive" / "2024-08-forecast"
    first = run_result(extracts, tmp_path, deliver=True, approve_as="Maija Meikäläinen")
    assert (first["delivery"]["status"], first["delivery"]["version"]) == ("sent", 1)
    html = (Path(first["report_dir"]) / "report.html").read_text(encoding="utf-8")
    assert "LUONNOS" not in html and "hyväksyjä Maija Meikäläinen" in html
    assert len(smtp_server.handler.received) == 1
    message = smtp_server.handler.received[0].message
    assert message["Subject"].startswith("Sosiaali-, terveys- ja pelastuslautakunta: 3. toteutumisennuste 2024")
    pdf = next(part for part in message.iter_attachments() if part.get_content_type() == "application/pdf")
    assert pdf.get_content() == (archive / "v1" / "report.pdf").read_bytes()
    manifest = json.loads((archive / "v1" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["approval"]["approved_by"] == "Maija Meikäläinen"

    # The same inputs another day, approved by someone else: the same content, nothing new.
    again = run_result(extracts, tmp_path, deliver=True, approve_as="Matti Virtanen", report_date=dt.date(2024, 9, 27))
    assert (again["delivery"]["status"], again["delivery"]["version"]) == ("already_sent", 1)
    assert len(smtp_server.handler.received) == 1 and sorted(p.name for p in archive.iterdir()) == ["v1"]

    # A corrected extract: more permanent leavers in August. Version 2, sent as a correction saying what changed.
    path = extracts / "henkilosto_202408.csv"
    staff = pd.read_csv(path, sep=";", encoding="utf-8-sig")
    staff["Vakituisista_lahteneet"] += 40
    path.write_bytes(staff.to_csv(sep=";", index=False).encode("utf-8-sig"))
    fixed = run_result(extracts, tmp_path, deliver=True, approve_as="Maija Meikäläinen")
    assert (fixed["delivery"]["status"], fixed["delivery"]["version"]) == ("sent", 2)
    assert len(smtp_server.handler.received) == 2
    correction = smtp_server.handler.received[1].message
    assert correction["Subject"].startswith("Korjattu versio (v2)")
    body = correction.get_body(("plain",)).get_content()
    assert "Vakituisen henkilöstön lähtövaihtuvuus" in body
    assert (archive / "v1" / "report.pdf").read_bytes() == pdf.get_content()  # version 1 untouched
