"""The command line speaks Finnish: help for every command and option, argparse's and pydantic's messages, the
operator's commands (tietovarasto päivitä, laatu, arkisto tarkista). No Prefect server: nothing here runs a flow."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shlex
from pathlib import Path

import pytest
from pydantic import ValidationError

from flows import cli
from flows.finnish import pydantic_error_fi
from flows.report import RunParams
from tasks.contracts import sources
from tasks.contracts.vocab import SOURCE_FAILED, SOURCE_OK
from tasks.ingest.quality import SourceStatus
from tasks.warehouse.engine import engine_for, schema_revision
from tasks.warehouse.history import record_validation

# What argparse says in English; none of it may reach a Finnish user.
ENGLISH = ("usage:", "options:", "positional arguments", "show this help", "error:", "invalid", "required", "choose")


def parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every parser of the command line with the words that reach it: ("run",), ("arkisto", "tarkista"), …"""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if sub.prog.split()[-1] == name:  # an alias names the same parser again
                    yield from parsers(sub, (*path, name))


def test_every_command_and_option_has_finnish_help(capsys):
    found = list(parsers(cli.parser()))
    assert {("arkisto", "tarkista"), ("laatu",), ("tietovarasto", "päivitä"), ("run",)} <= {p for p, _ in found}
    for path, parser in found:
        undocumented = [a.dest for a in parser._actions if not a.help and not isinstance(a, argparse._SubParsersAction)]
        assert not undocumented, f"katsaus {' '.join(path)}: {undocumented}"
        with pytest.raises(SystemExit):
            cli.parser().parse_args([*path, "--help"])
        shown = capsys.readouterr().out
        assert shown.startswith("käyttö: katsaus") and "valitsimet:" in shown, path
        assert not [w for w in ENGLISH if w in shown], (path, shown)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["run", "--period", "2024-13"],
            "--period: Virheellinen raportointikausi '2024-13': odotettiin muotoa VVVV-KK",
        ),
        (["run", "--period", "2024-08", "--kind", "viikko"], "--kind: tuntematon arvo 'viikko' (sallitut: 'monthly'"),
        (["run"], "nämä puuttuvat: --period"),
        (["run", "--period", "2024-08", "--report-date", "31.9.2024"], "Virheellinen päivämäärä '31.9.2024'"),
        (["run", "--period", "2024-08", "--approval-timeout-hours", "0"], "pitää olla suurempi kuin 0, ei 0"),
        (["sample", "--year", "vuosi", "--out", "x"], "--year: 'vuosi' ei ole kokonaisluku"),
        (["backfill", "--from", "2024-8", "--to", "2024-09"], "--from: Virheellinen raportointikausi '2024-8'"),
        (["raportti"], "tuntematon arvo 'raportti'"),
        (["run", "--period", "2024-08", "--tuntematon"], "tuntemattomia valitsimia tai arvoja: --tuntematon"),
    ],
)
def test_bad_arguments_are_refused_in_finnish(argv, said, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert said in err and "katsaus" in err and ": virhe: " in err
    assert not [w for w in ENGLISH if w in err], err


def test_dates_are_taken_the_finnish_and_the_iso_way():
    for typed in ("31.8.2024", "2024-08-31"):
        args = cli.parser().parse_args(["run", "--period", "2024-08", "--report-date", typed])
        assert args.report_date == dt.date(2024, 8, 31)
    assert (
        cli.parser()
        .parse_args(["run", "--period", "2024-08", "--approval-timeout-hours", "1,5"])
        .approval_timeout_hours
        == 1.5
    )


def test_parameters_refused_by_the_model_are_told_in_finnish():
    with pytest.raises(ValidationError) as refused:
        RunParams(period="2024-8", kind="viikko", approval_timeout_hours=0, report_date="31.9.2024")
    told = {e["loc"][0]: pydantic_error_fi(e) for e in refused.value.errors()}
    assert told["period"] == "period: '2024-8' ei ole muotoa VVVV-KK"
    assert told["kind"] == "kind: tuntematon arvo 'viikko'"
    assert told["approval_timeout_hours"] == "approval_timeout_hours: pitää olla suurempi kuin 0"
    # katsaus' own check already speaks Finnish: its words are passed on as they are.
    assert told["report_date"].startswith("report_date: Virheellinen päivämäärä '31.9.2024'")


def test_the_warehouse_is_migrated_on_request_and_says_from_which_version(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    for name in (["tietovarasto", "päivitä"], ["warehouse", "migrate"]):
        assert cli.main([*name, "--warehouse", url]) == 0
    first, second = capsys.readouterr().out.splitlines()
    engine = engine_for(url)
    head = schema_revision(engine)
    engine.dispose()
    assert head and first.endswith(f"päivitettiin: versio tyhjä → {head}.")
    assert second.endswith(f"on jo ajan tasalla (versio {head}).")


def test_the_quality_history_names_sources_and_statuses_as_the_report_does(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert cli.main(["laatu", "--warehouse", url]) == 2  # no warehouse yet: said, and none created
    assert "tietovarastoa" in capsys.readouterr().err and not (tmp_path / "w.db").exists()
    cli.main(["tietovarasto", "päivitä", "--warehouse", url])

    def status(source: str, state: str, errors: list[str]) -> SourceStatus:
        return SourceStatus(source, "", state, "", [], "", 10, 12, 12 - len(errors), errors, ["varoitus"], [], "")

    engine = engine_for(url)
    record_validation(engine, "run-1", "2024-07", "monthly", [status("ledger", SOURCE_OK, [])])
    record_validation(engine, "run-2", "2024-08", "forecast", [status("ledger", SOURCE_FAILED, ["a", "b"])])
    record_validation(engine, "run-2", "2024-08", "forecast", [status("feedback", SOURCE_OK, [])])
    engine.dispose()
    capsys.readouterr()
    assert cli.main(["laatu", "--lahde", "ledger", "--warehouse", url]) == 0
    newest, oldest = capsys.readouterr().out.splitlines()
    title = sources()["ledger"].title
    assert f"2024-08 toteutumisennuste  {title}: virheellinen, ei käytetty; tarkistuksia 12, läpäisi 10" in newest
    assert "varoituksia 1, virheitä 2" in newest
    assert f"2024-07 kuukausiraportti  {title}: käytetty" in oldest
    assert " klo " in newest and sources()["feedback"].title not in newest + oldest
    assert cli.main(["laatu", "--lahde", "ledger", "--maara", "1", "--warehouse", url]) == 0
    assert capsys.readouterr().out.splitlines() == [newest]  # at most one: the newest
    assert cli.main(["quality", "--source", "pääkirja", "--warehouse", url]) == 2
    assert "tuntematon lähde 'pääkirja'" in capsys.readouterr().err


def test_every_command_the_user_guide_shows_is_one_the_command_line_takes():
    """docs/kayttoohje.md: each `katsaus …` it tells a controller or an operator to type parses as written."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "kayttoohje.md").read_text(encoding="utf-8")
    commands = re.findall(r"^    katsaus ([^#\n]+?)\s*(?:#.*)?$", guide, flags=re.MULTILINE)  # code blocks
    commands += re.findall(r"`katsaus ([^`]+)`", guide)  # and inline code
    assert len(set(commands)) >= 6, commands
    for command in set(commands):
        args = cli.parser().parse_args(shlex.split(command.replace("…", "x")))
        assert callable(args.func), command


def test_the_command_ends_with_its_status_after_its_threads_and_exit_handlers(tmp_path):
    """`katsaus` leaves without taking every module apart, but as the interpreter would have: a thread still at work
    is waited for, an idle thread pool left open does not keep it waiting, the exit handlers run (Prefect sends its
    last logs there) and the status is the command's."""
    import subprocess
    import sys

    code = (
        "import atexit, pathlib, sys, threading, time\n"
        "from flows import cli\n"
        "done = pathlib.Path(sys.argv[1])\n"
        "atexit.register(lambda: print('exit handlers ran', flush=False))\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), done.write_text('kirjoitettu'))).start()\n"
        "import concurrent.futures\n"
        "concurrent.futures.ThreadPoolExecutor(1).submit(lambda: None).result()  # its worker waits for more\n"
        "cli.main = lambda argv=None: 3\n"
        "cli.command_line()\n"
        "print('not reached')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "done")], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 3
    assert out.stdout == "exit handlers ran\n"
    assert (tmp_path / "done").read_text() == "kirjoitettu"
