"""`katsaus` command line: demo, run, sample, serve, backfill, deployments, and the operator's commands (arkisto
tarkista, laatu, tietovarasto päivitä).

Messages for people are in Finnish, argparse's and pydantic's own included; a
failure prints what went wrong and where, never a traceback.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from flows.finnish import pydantic_error_fi, speak_finnish
from flows.home import at_home, katsaus_home, warehouse_at_home
from flows.report_server import ReportServer
from reports import fmt
from tasks.contracts import source_title, sources
from tasks.contracts.vocab import (
    KIND_TITLES,
    KINDS,
    RECONCILIATION_CSV,
    REPORT_HTML,
    REPORT_PDF,
    SOURCE_STATUS_FI,
    Period,
    parse_date,
)
from tasks.deliver.archive import verify_whole_archive
from tasks.deliver.mail_settings import smtp_settings
from tasks.deliver.messages import moment_fi
from tasks.deliver.record import resend
from tasks.samples import sample_extracts
from tasks.warehouse.engine import engine_for, migrate, schema_revision, sqlite_file, warehouse
from tasks.warehouse.history import validation_history

# Defaults live in the one home (KATSAUS_HOME, the checkout, or the current folder for an installed wheel); a path
# typed on the command line is the user's own, relative to where they are.
HOME = katsaus_home()
DEFAULT_VAR = HOME / "var"
LOCAL_API = "http://127.0.0.1:{port}/api"
DEMO_REPORT_DATE = dt.date(2024, 9, 20)
# The commands that run a report in this process and speak for it themselves.
QUIET_COMMANDS = ("demo", "run", "kommentit")


def _prefect_home() -> None:
    # Embedded default: Prefect's home inside the project's var/ folder.
    os.environ.setdefault("PREFECT_HOME", str(DEFAULT_VAR / "prefect"))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def cmd_sample(args: argparse.Namespace) -> int:
    written = sample_extracts(args.year, Path(args.out), args.scale)
    print(f"Kirjoitettiin {len(written)} näytetiedostoa kansioon {args.out}")
    return 0


DELIVERY_FI = {
    "draft": "luonnos, ei toimitettu",
    "rejected": "hylätty, ei toimitettu",
    "sent": "lähetetty lautakunnalle",
    "already_sent": "sama versio on jo toimitettu, ei lähetetty uudelleen",
    "skipped": "arkistoitu, sähköpostia ei lähetetty",
}


def _temporary_server() -> None:
    """Without `PREFECT_API_URL` Prefect starts a temporary server of its own for the run: start it first, so the
    run says what that cost (`katsaus serve` keeps a server running and pays it once)."""
    if os.environ.get("PREFECT_API_URL"):
        return
    from prefect.client.orchestration import get_client  # after _prefect_home(): Prefect reads its settings once

    started = time.monotonic()
    with get_client(sync_client=True) as client:  # the process's one temporary server; the run uses it too
        client.api_healthcheck()
    print(
        f"Prefectin väliaikainen palvelin käynnistyi {fmt.short(round(time.monotonic() - started, 1))} sekunnissa "
        "(katsaus serve pitää palvelimen käynnissä ajojen välillä)."
    )


def _run(params) -> int:
    from flows.report import StrictStop, report_flow  # after _prefect_home(): Prefect reads its settings once

    _temporary_server()
    try:
        result = report_flow(params)
    except StrictStop as exc:
        print(f"Keskeytetään (--strict): {exc}", file=sys.stderr)
        return 2
    report = Path(result["report_dir"])
    print(f"Raportti: {report / REPORT_PDF}")
    print(f"          {report / REPORT_HTML}")
    print(f"Yhteenveto: {' '.join(result['summary'])}")
    bad = {s: st for s, st in result["sources"].items() if st != "ok"}
    for s, st in bad.items():
        print(f"Huom: {source_title(s)}: {SOURCE_STATUS_FI.get(st, st)}", file=sys.stderr)
    if result["deviations"]:
        print(
            f"Täsmäytyksessä {fmt.count(result['deviations'], 'täsmäytysero', 'täsmäytyseroa')}: "
            f"{report / RECONCILIATION_CSV}"
        )
    d = result["delivery"]
    text = DELIVERY_FI.get(d["status"], d["status"])
    if "version" in d:
        text += f" (arkistoversio {d['version']})"
    if d.get("reason"):
        text += f": {d['reason']}"
    print(f"Toimitus: {text}")
    if bad and params.strict:  # a draft run (--no-deliver) is not stopped, but it still fails the command
        print("Keskeytetään (--strict): kaikkia lähteitä ei voitu käyttää.", file=sys.stderr)
        return 2
    return 0


def _params(args: argparse.Namespace, **overrides):
    from flows.report import RunParams  # after _prefect_home(): Prefect reads its settings once, at import

    deliver = not args.no_deliver
    if deliver and not args.approve_as and not os.environ.get("PREFECT_API_URL"):
        # With Prefect's temporary server there is no UI to approve in: the run makes a draft.
        print(
            "Luonnos: hyväksyntää ei voi pyytää ilman Prefect-palvelinta (käytä --approve-as NIMI tai PREFECT_API_URL)."
        )
        deliver = False
    here = Path.cwd()
    values = {
        "period": args.period,
        "kind": args.kind,
        "extracts": at_home(args.extracts, here),
        "out": at_home(args.out, here),
        "warehouse": warehouse_at_home(args.warehouse, here),
        "cache_dir": at_home(args.cache_dir, here),
        "archive": at_home(args.archive, here),
        "publish_dir": at_home(args.publish, here) if getattr(args, "publish", None) else None,
        "approve_as": args.approve_as,
        "deliver": deliver,
        "force": getattr(args, "force", None),
        "strict": getattr(args, "strict", None),
        "report_date": getattr(args, "report_date", None),
        "meeting_date": getattr(args, "meeting_date", None),
        "approval_timeout_hours": getattr(args, "approval_timeout_hours", None),
    }
    values.update(overrides)
    return RunParams(**{k: v for k, v in values.items() if v is not None})


def cmd_run(args: argparse.Namespace) -> int:
    if not Path(args.extracts).is_dir():
        print(f"Virhe: lähdekansiota {args.extracts} ei ole.", file=sys.stderr)
        return 2
    return _run(_params(args))


def cmd_commentary(args: argparse.Namespace) -> int:
    """The report's commentary workbook, pre-filled from a draft run of the period (nothing is delivered)."""
    if not Path(args.extracts).is_dir():
        print(f"Virhe: lähdekansiota {args.extracts} ei ole.", file=sys.stderr)
        return 2
    from flows.report import report_flow  # after _prefect_home(): Prefect reads its settings once, at import

    with tempfile.TemporaryDirectory(prefix="katsaus-kommentit-") as tmp:
        args.out, args.no_deliver, args.approve_as = tmp, True, None
        result = report_flow(_params(args))
        name = f"kommentit_{args.period.replace('-', '')}_{args.kind}.xlsx"
        target = Path(args.file)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(result["report_dir"]) / name, target)
    print(f"Kommenttityökirja: {target}")
    print(f"Täytä se ja tallenna lähdetiedostojen kansioon nimellä {name}; seuraava ajo lukee sen.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    extracts = DEFAULT_VAR / "extracts"
    if not any(extracts.glob("talous_toteuma_*.csv")):
        sample_extracts(2024, extracts)
        print(f"Luotiin näytelähdetiedostot kansioon {extracts}")
    args.extracts = str(extracts)
    return _run(_params(args))


def _defaults(args: argparse.Namespace) -> dict:
    """Deployment parameters from the command line: absolute paths, so workers find them."""
    out = {
        "extracts": str(Path(args.extracts).resolve()),
        "out": str(Path(args.out).resolve()),
        "warehouse": args.warehouse,
        "cache_dir": str(Path(args.cache_dir).resolve()),
        "archive": str(Path(args.archive).resolve()),
    }
    if args.publish:
        out["publish_dir"] = str(Path(args.publish).resolve())
    return out


def _api_auth() -> tuple[str, str] | None:
    """The Prefect server's basic auth (`PREFECT_SERVER_API_AUTH_STRING`, `user:password`), when it is protected;
    this process then talks to it with the same (`PREFECT_API_AUTH_STRING`)."""
    secret = os.environ.get("PREFECT_SERVER_API_AUTH_STRING", "").strip()
    if not secret:
        return None
    os.environ.setdefault("PREFECT_API_AUTH_STRING", secret)
    user, _, password = secret.partition(":")
    return user, password


def _local_server(port: int) -> subprocess.Popen:
    """Prefect's server on loopback with its home in var/prefect: the UI where controllers rerun and approve."""
    import httpx  # only when serving

    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = LOCAL_API.format(port=port)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api}/health", timeout=2, auth=_api_auth()).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            break
        time.sleep(1)
    server.terminate()
    raise RuntimeError(f"Prefect-palvelin ei käynnistynyt porttiin {port}")


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the scheduled deployments; without PREFECT_API_URL on a local Prefect server of our own. The report
    folders are served over HTTP on loopback, so the UI's report links open (unless KATSAUS_REPORT_BASE_URL says
    where they are published already)."""
    server = None
    reports = None
    if not os.environ.get("PREFECT_API_URL"):
        server = _local_server(args.port)
        os.environ["PREFECT_API_URL"] = LOCAL_API.format(port=args.port)
        print(f"Prefect-käyttöliittymä: http://127.0.0.1:{args.port}")
    try:
        if not os.environ.get("KATSAUS_REPORT_BASE_URL"):
            defaults = _defaults(args)
            reports = ReportServer(
                Path(defaults["out"]), Path(defaults["archive"]), args.reports_host, args.reports_port
            )
            os.environ["KATSAUS_REPORT_BASE_URL"] = reports.reports_url  # the served runs inherit it
            print(f"Raportit selaimessa: {reports.reports_url}/ (arkisto: {reports.url}/arkisto/)")
        from prefect import serve  # after _prefect_home(): Prefect reads its settings once, at import

        from deployments import runner_deployments, schedules  # after _prefect_home(): Prefect reads its settings
        from flows.report import report_flow  # after _prefect_home(): Prefect reads its settings once, at import

        deployments = runner_deployments(report_flow, _defaults(args))
        limit = args.limit or schedules().serve_limit
        print("Ajastetut raportit: " + ", ".join(d.name for d in deployments))
        print(f"Samanaikaisia ajoja enintään {limit}; muut odottavat jonossa.")
        stop = _watching()
        try:
            serve(*deployments, print_starting_message=False, limit=limit)
        finally:
            stop.set()
        return 0
    finally:
        if reports is not None:
            reports.stop()
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


def _watching():
    """A thread that reports approval waits which expired while suspended (flows/watch.py); set the event to stop."""
    from flows.watch import watch_expired_waits  # after _prefect_home(): Prefect reads its settings once

    stop = threading.Event()
    every = float(os.environ.get("KATSAUS_WATCH_SECONDS", "60"))
    threading.Thread(target=watch_expired_waits, args=(every, stop), name="katsaus-watch", daemon=True).start()
    return stop


def cmd_watch(args: argparse.Namespace) -> int:
    """Beside a worker (no `katsaus serve`): report approval waits that expired while suspended, until stopped."""
    print("Valvotaan vanhentuneita hyväksyntöjä (Ctrl+C lopettaa).")
    _watching().wait()
    return 0


def cmd_resend(args: argparse.Namespace) -> int:
    """An operator's recorded decision to send an uncertain, failed or partly delivered version again."""
    settings = smtp_settings()
    if settings is None:
        print("Virhe: sähköpostiasetuksia ei ole (KATSAUS_SMTP_HOST); mitään ei lähetetty.", file=sys.stderr)
        return 2
    with warehouse(warehouse_at_home(args.warehouse, Path.cwd())) as engine:
        result = resend(engine, settings, period=args.period, kind=args.kind, version=args.version, by=args.by)
    refused = f"; hylätyt vastaanottajat: {', '.join(result.refused)}" if result.refused else ""
    print(
        f"Raportti {args.period}-{args.kind} v{args.version} lähetettiin uudelleen ({args.by}), Message-ID "
        f"{result.message_id}{refused}."
    )
    return 0


def cmd_archive_verify(args: argparse.Namespace) -> int:
    """Every archived version against its checksums and the chain between versions."""
    root = Path(at_home(args.archive, Path.cwd()))
    if not root.is_dir():
        print(f"Virhe: arkistokansiota {root} ei ole.", file=sys.stderr)
        return 2
    results = verify_whole_archive(root)
    if not results:
        print(f"Arkistossa {args.archive} ei ole raportteja.")
        return 0
    for name, problems in results.items():
        print(f"{name}: {'ehjä' if not problems else 'EI EHJÄ'}")
        for problem in problems:
            print(f"  {problem}")
    broken = sum(1 for p in results.values() if p)
    print(f"Tarkistettiin {fmt.count(len(results), 'raportti', 'raporttia')}; ei ehjiä {broken}.")
    return 1 if broken else 0


def cmd_quality(args: argparse.Namespace) -> int:
    """The validation history of one source (or of all): each run's checks, warnings and failures, newest first."""
    if args.source and args.source not in sources():
        known = ", ".join(sources())
        print(f"Virhe: tuntematon lähde {args.source!r}; lähteet ovat {known}.", file=sys.stderr)
        return 2
    url = warehouse_at_home(args.warehouse, Path.cwd())
    file = sqlite_file(url)
    if file is not None and not file.is_file():
        print(f"Virhe: tietovarastoa {file} ei ole (yhtään raporttia ei ole ajettu).", file=sys.stderr)
        return 2
    with warehouse(url) as engine:
        history = validation_history(engine, args.source, limit=args.count)
    if history.empty:
        print(
            "Tietovarastossa ei ole tarkistuksia" + (f" lähteelle {source_title(args.source)}." if args.source else ".")
        )
        return 0
    for row in history.itertuples(index=False):  # a screenful of runs, not data rows
        at = row.validated_at
        print(
            f"{moment_fi(at if at.tzinfo else at.replace(tzinfo=dt.UTC))}  {row.period} "
            f"{KIND_TITLES.get(row.kind, row.kind).lower()}  {source_title(row.source)}: "
            f"{SOURCE_STATUS_FI.get(row.status, row.status)}; tarkistuksia {row.checks}, läpäisi {row.passed}, "
            f"varoituksia {row.warnings}, virheitä {row.failures}"
        )
    return 0


def cmd_warehouse_migrate(args: argparse.Namespace) -> int:
    """Bring the warehouse's schema to this version of katsaus (runs do it themselves; an operator may do it first,
    for example after an upgrade, to see that it succeeds)."""
    url = warehouse_at_home(args.warehouse, Path.cwd())
    engine = engine_for(url)
    try:
        before = schema_revision(engine)
        migrate(engine)
        after = schema_revision(engine)
    finally:
        engine.dispose()
    shown = engine.url.render_as_string(hide_password=True)
    if before == after:
        print(f"Tietovarasto {shown} on jo ajan tasalla (versio {after}).")
    else:
        print(f"Tietovarasto {shown} päivitettiin: versio {before or 'tyhjä'} → {after}.")
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    """Create the runs of a range of periods on the Prefect server; repeating it creates nothing new."""
    if not os.environ.get("PREFECT_API_URL"):
        print(
            "Virhe: backfill tarvitsee Prefect-palvelimen (PREFECT_API_URL), jolla raportit on otettu "
            "käyttöön (katsaus serve).",
            file=sys.stderr,
        )
        return 2
    from deployments import backfill_runs  # after _prefect_home(): Prefect reads its settings once, at import

    created = backfill_runs(args.kind, args.first, args.last)
    for period, run_name, new in created:
        print(f"{period}: {'luotiin ajo' if new else 'ajo on jo olemassa'} {run_name}")
    print(
        f"Uusia ajoja {sum(1 for *_, new in created if new)}, olemassa olevia "
        f"{sum(1 for *_, new in created if not new)}."
    )
    return 0


def cmd_deployments(args: argparse.Namespace) -> int:
    # After _prefect_home(): Prefect reads its settings once, at import.
    from deployments import next_runs, prefect_yaml, schedules

    if args.write:
        Path(args.write).write_text(prefect_yaml({}), encoding="utf-8")
        print(f"Kirjoitettiin {args.write}")
        return 0
    for d in schedules().deployments:
        runs = ", ".join(r.strftime("%d.%m.%Y %H:%M") for r in next_runs(d.cron, 3))
        print(f"{d.name} ({d.kind}): {d.cron} {schedules().timezone}; seuraavat: {runs}")
    return 0


def _add_run_options(p: argparse.ArgumentParser, *, demo: bool = False) -> None:
    p.add_argument(
        "--period",
        default="2024-08" if demo else None,
        required=not demo,
        type=_period,
        metavar="VVVV-KK",
        help="raportointikauden viimeinen kuukausi, esim. 2024-08" + (" (oletus: 2024-08)" if demo else ""),
    )
    _add_kind(p, default="forecast" if demo else "monthly")
    if not demo:
        _add_extracts(p)
    _add_place_options(p)
    p.add_argument("--no-deliver", action="store_true", help="älä pyydä hyväksyntää äläkä toimita raporttia")
    p.add_argument("--approve-as", default=None, metavar="NIMI", help="hyväksyjän nimi (hyväksyy ilman odotusta)")
    p.add_argument(
        "--force", action="store_true", help="lue, tarkista ja lataa lähteet uudelleen, vaikka ne eivät ole muuttuneet"
    )
    p.add_argument("--strict", action="store_true", help="puuttuva tai virheellinen lähde on virhe")
    p.add_argument(
        "--report-date",
        type=_date_argument,
        # The demo's sample forecast as it was prepared, so its cover names the meeting it went to (24.9.2024).
        default=DEMO_REPORT_DATE if demo else None,
        metavar="PÄIVÄ",
        help="laatimispäivä kanteen, 24.9.2024 tai 2024-09-24 (oletus: tänään)",
    )
    p.add_argument(
        "--meeting-date",
        type=_date_argument,
        default=None,
        metavar="PÄIVÄ",
        help="lautakunnan kokouspäivä kanteen, 24.9.2024 tai 2024-09-24 (oletus: kokouskalenterista)",
    )
    p.add_argument(
        "--approval-timeout-hours",
        type=_positive_number,
        default=None,
        metavar="TUNTIA",
        help="kuinka kauan hyväksyntää odotetaan (oletus: raportin lajin työpäivät, deployments/schedules.yaml)",
    )


def _date_argument(text: str) -> dt.date:
    """argparse's type for dates: the Finnish message of `parse_date` instead of argparse's own."""
    try:
        return parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} ei ole kokonaisluku") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"pitää olla vähintään 1, ei {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} ei ole porttinumero") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"porttinumero on 0–65535, ei {value}")
    return value


def _positive_number(text: str) -> float:
    try:
        value = float(text.replace(",", "."))  # 1,5 as a Finn writes it
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} ei ole luku") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"pitää olla suurempi kuin 0, ei {text}")
    return value


def _period(text: str) -> str:
    try:
        return str(Period.parse(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_kind(p: argparse.ArgumentParser, default: str | None = "monthly") -> None:
    titles = ", ".join(f"{kind} ({title.lower()})" for kind, title in KIND_TITLES.items())
    p.add_argument(
        "--kind",
        default=default,
        required=default is None,
        choices=KINDS,
        metavar="LAJI",
        help=f"raportin laji: {titles}" + (f" (oletus: {default})" if default else ""),
    )


def _add_extracts(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--extracts", default=str(DEFAULT_VAR / "extracts"), metavar="KANSIO", help="lähdetiedostojen kansio"
    )


def _add_warehouse(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--warehouse",
        default=f"sqlite:///{DEFAULT_VAR / 'warehouse.db'}",
        metavar="OSOITE",
        help="tietovaraston osoite, esim. sqlite:///var/warehouse.db tai postgresql+psycopg://… "
        "(oletus: kotikansion var/warehouse.db)",
    )


def _add_archive(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--archive",
        default=str(DEFAULT_VAR / "archive"),
        metavar="KANSIO",
        help="hyväksyttyjen raporttien arkisto (oletus: kotikansion var/archive)",
    )


def _add_cache(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--cache-dir",
        default=str(DEFAULT_VAR / "cache"),
        metavar="KANSIO",
        help="välimuistikansio (THL Sotkanetin vastaukset)",
    )


def _add_place_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=str(HOME / "out"), metavar="KANSIO", help="tuloskansio (oletus: kotikansion out)")
    _add_warehouse(p)
    _add_archive(p)
    _add_cache(p)
    p.add_argument("--publish", default=None, metavar="KANSIO", help="julkaisukansio hyväksytylle PDF:lle")


def _commands(p: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return p.add_subparsers(dest="command", required=True, metavar="KOMENTO", title="komennot")


def parser() -> argparse.ArgumentParser:
    speak_finnish()
    ap = argparse.ArgumentParser(prog="katsaus", description="Lautakunnan talous- ja toimintaraportit")
    sub = _commands(ap)
    p = sub.add_parser("demo", help="näyteaineisto ja yksi kokonainen raportti", description="Näyteaineiston raportti.")
    _add_run_options(p, demo=True)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("run", help="yhden kauden raportti", description="Yhden kauden raportti lähdetiedostoista.")
    _add_run_options(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("kommentit", help="raportin kommenttityökirja esitäytettynä (luonnokset, ennuste, toimenpiteet)")
    p.add_argument(
        "--period", required=True, type=_period, metavar="VVVV-KK", help="raportointikauden viimeinen kuukausi"
    )
    _add_kind(p)
    _add_extracts(p)
    p.add_argument("--out", dest="file", required=True, metavar="TIEDOSTO", help="mihin työkirja kirjoitetaan (.xlsx)")
    _add_warehouse(p)
    _add_archive(p)
    _add_cache(p)
    p.set_defaults(func=cmd_commentary)
    p = sub.add_parser("sample", help="deterministiset näytelähdetiedostot")
    p.add_argument(
        "--year", type=_whole_number, required=True, metavar="VUOSI", help="näyteaineiston vuosi, esim. 2024"
    )
    p.add_argument("--out", required=True, metavar="KANSIO", help="mihin kansioon tiedostot kirjoitetaan")
    p.add_argument("--scale", type=_whole_number, default=1, metavar="KERROIN", help="rivimäärän kerroin (oletus: 1)")
    p.set_defaults(func=cmd_sample)
    p = sub.add_parser("serve", help="ajastetut raportit paikallisessa Prefectissä")
    _add_extracts(p)
    _add_place_options(p)
    p.add_argument(
        "--port", type=_whole_number, default=4200, metavar="PORTTI", help="paikallisen Prefect-palvelimen portti"
    )
    p.add_argument(
        "--limit",
        type=_whole_number,
        default=None,
        metavar="N",
        help="samanaikaisia ajoja enintään N, muut odottavat jonossa (oletus: deployments/schedules.yaml, 1)",
    )
    p.add_argument(
        "--reports-host",
        default="127.0.0.1",
        metavar="OSOITE",
        help="mistä osoitteesta raportit ja arkisto näkyvät selaimeen (oletus: 127.0.0.1, vain tältä koneelta)",
    )
    p.add_argument(
        "--reports-port",
        type=_port,
        default=8420,
        metavar="PORTTI",
        help="raporttien ja arkiston HTTP-portti (oletus: 8420; 0 = mikä tahansa vapaa)",
    )
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("watch", help="ilmoita ylläpidolle hyväksynnät, joiden odotus päättyi (työntekijän rinnalla)")
    p.set_defaults(func=cmd_watch)
    p = sub.add_parser("backfill", help="luo ajot kausivälille (toistaminen ei luo uusia)")
    p.add_argument("--from", dest="first", type=_period, required=True, metavar="VVVV-KK", help="ensimmäinen kausi")
    p.add_argument("--to", dest="last", type=_period, required=True, metavar="VVVV-KK", help="viimeinen kausi")
    _add_kind(p)
    p.set_defaults(func=cmd_backfill)
    p = sub.add_parser(
        "resend",
        help="lähetä epävarma tai keskeytynyt toimitus uudelleen (ylläpidon päätös, kirjataan; sama Message-ID)",
    )
    p.add_argument("--period", required=True, type=_period, metavar="VVVV-KK", help="raportointikausi")
    _add_kind(p, default=None)
    p.add_argument("--version", required=True, type=_whole_number, metavar="N", help="arkistoversio, esim. 1")
    p.add_argument(
        "--by", required=True, metavar="NIMI", help="päätöksen tekijän nimi (kirjataan toimituskirjanpitoon)"
    )
    _add_warehouse(p)
    p.set_defaults(func=cmd_resend)
    p = sub.add_parser("arkisto", aliases=["archive"], help="arkiston ylläpito")
    p = _commands(p).add_parser(
        "tarkista", aliases=["verify"], help="tarkista arkistoversiot tarkistussummia ja versioketjua vasten"
    )
    _add_archive(p)
    p.set_defaults(func=cmd_archive_verify)
    p = sub.add_parser("laatu", aliases=["quality"], help="lähteen tarkistushistoria ajoittain, uusin ensin")
    p.add_argument("--lahde", "--source", dest="source", metavar="LÄHDE", help="lähteen tunnus, esim. ledger")
    p.add_argument(
        "--maara",
        "--count",
        dest="count",
        type=_whole_number,
        default=20,
        metavar="N",
        help="enintään N riviä (oletus: 20)",
    )
    _add_warehouse(p)
    p.set_defaults(func=cmd_quality)
    p = sub.add_parser("tietovarasto", aliases=["warehouse"], help="tietovaraston ylläpito")
    p = _commands(p).add_parser(
        "päivitä", aliases=["migrate"], help="päivitä tietovaraston rakenne tämän version mukaiseksi"
    )
    _add_warehouse(p)
    p.set_defaults(func=cmd_warehouse_migrate)
    p = sub.add_parser(
        "deployments", help="ajastukset ja niiden seuraavat ajot; --write kirjoittaa prefect.yaml-tiedoston"
    )
    p.add_argument("--write", metavar="TIEDOSTO", default=None, help="kirjoita ajastukset prefect.yaml-tiedostoon")
    p.set_defaults(func=cmd_deployments)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _prefect_home()  # before anything imports Prefect, which reads its settings once
    if args.command in QUIET_COMMANDS:
        # A run at the command line says what happens in its own Finnish lines (flows/progress.py) and ends with
        # the report or the reason it stopped: Prefect's console lines (a handled failure's traceback among them)
        # would only bury them. They still reach the run's logs in the UI.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: a message, not a traceback
        from pydantic import ValidationError  # only on a failure

        if isinstance(exc, ValidationError):
            msgs = "; ".join(pydantic_error_fi(e) for e in exc.errors())
            print(f"Virheelliset parametrit: {msgs}", file=sys.stderr)
            return 2
        print(f"Virhe: {exc}", file=sys.stderr)
        if os.environ.get("KATSAUS_DEBUG"):
            raise
        return 1


def command_line() -> None:
    """The `katsaus` command: `main`, its status the process's exit status."""
    status = main()
    # The interpreter would now spend a second or more taking apart every module and object (Great Expectations',
    # Prefect's, the run's data) before the process ends and gives their memory back anyway. End as it would, but
    # without that: its own first two steps (the threads that keep the process alive are let finish, idle thread
    # pools told to close first; then the exit handlers run: Prefect sends its last logs and events, temporary
    # folders go), then the console is flushed and the process leaves.
    threading._shutdown()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    command_line()
