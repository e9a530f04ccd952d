"""`katsaus` command line: demo, run, sample.

Messages for people are in Finnish; a failure prints what went wrong and where,
never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

DEFAULT_VAR = Path("var")


def _prefect_home() -> None:
    # Embedded default: Prefect's home inside the project's var/ folder.
    os.environ.setdefault("PREFECT_HOME", str((DEFAULT_VAR / "prefect").resolve()))
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def cmd_sample(args: argparse.Namespace) -> int:
    from tasks.sample import sample_extracts

    written = sample_extracts(args.year, Path(args.out), args.scale)
    print(f"Kirjoitettiin {len(written)} näytetiedostoa kansioon {args.out}")
    return 0


def _run(params) -> int:
    from flows.report import report_flow

    result = report_flow(params)
    report = Path(result["report_dir"])
    print(f"Raportti: {report / 'report.pdf'}")
    print(f"          {report / 'report.html'}")
    bad = {s: st for s, st in result["sources"].items() if st != "ok"}
    for s, st in bad.items():
        print(f"Huom: lähde {s}: {st}", file=sys.stderr)
    if result["deviations"]:
        print(f"Täsmäytyksessä {result['deviations']} poikkeamaa: {report / 'reconciliation.csv'}")
    if bad and params.strict:
        print("Keskeytetään (--strict): kaikkia lähteitä ei voitu käyttää.", file=sys.stderr)
        return 2
    return 0


def _params(args: argparse.Namespace, **overrides):
    from flows.report import RunParams

    values = {
        "period": args.period, "kind": args.kind, "extracts": args.extracts, "out": args.out,
        "warehouse": args.warehouse, "cache_dir": args.cache_dir, "approve_as": args.approve_as, "deliver": not args.no_deliver,
        "strict": args.strict, "report_date": args.report_date,
    }
    values.update(overrides)
    return RunParams(**{k: v for k, v in values.items() if v is not None})


def cmd_run(args: argparse.Namespace) -> int:
    if not Path(args.extracts).is_dir():
        print(f"Virhe: lähdekansiota {args.extracts} ei ole.", file=sys.stderr)
        return 2
    return _run(_params(args))


def cmd_demo(args: argparse.Namespace) -> int:
    from tasks.sample import sample_extracts

    extracts = DEFAULT_VAR / "extracts"
    if not any(extracts.glob("talous_toteuma_*.csv")):
        sample_extracts(2024, extracts)
        print(f"Luotiin näytelähdetiedostot kansioon {extracts}")
    args.extracts = str(extracts)
    return _run(_params(args))


def _add_run_options(p: argparse.ArgumentParser, *, demo: bool = False) -> None:
    p.add_argument("--period", default="2024-08" if demo else None, required=not demo, help="raportointikauden viimeinen kuukausi, VVVV-KK")
    p.add_argument("--kind", default="forecast" if demo else "monthly", choices=["monthly", "forecast", "annual"])
    if not demo:
        p.add_argument("--extracts", default=str(DEFAULT_VAR / "extracts"))
    p.add_argument("--out", default="out")
    p.add_argument("--warehouse", default=f"sqlite:///{DEFAULT_VAR.resolve() / 'warehouse.db'}")
    p.add_argument("--archive", default=str(DEFAULT_VAR / "archive"))
    p.add_argument("--cache-dir", default=str(DEFAULT_VAR / "cache"), help="välimuistikansio (THL Sotkanetin vastaukset)")
    p.add_argument("--no-deliver", action="store_true", help="älä toimita raporttia")
    p.add_argument("--approve-as", default=None, help="hyväksyjän nimi (ilman odotusta)")
    p.add_argument("--strict", action="store_true", help="puuttuva tai virheellinen lähde on virhe")
    p.add_argument("--report-date", type=dt.date.fromisoformat, default=None, help="raportin päivämäärä VVVV-KK-PP")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="katsaus", description="Lautakunnan talous- ja toimintaraportit")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="näyteaineisto ja yksi kokonainen raportti")
    _add_run_options(p, demo=True)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("run", help="yhden kauden raportti")
    _add_run_options(p)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("sample", help="deterministiset näytelähdetiedostot")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--scale", type=int, default=1)
    p.set_defaults(func=cmd_sample)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _prefect_home()  # before anything imports Prefect, which reads its settings once
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: a message, not a traceback
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            print(f"Virheelliset parametrit: {msgs}", file=sys.stderr)
            return 2
        print(f"Virhe: {exc}", file=sys.stderr)
        if os.environ.get("KATSAUS_DEBUG"):
            raise
        return 1


if __name__ == "__main__":
    sys.exit(main())
