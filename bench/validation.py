"""Benchmark of the validate stage (issue 3, "Speed"): is validation the slow stage?

    .venv/bin/python bench/validation.py --scale 270 --repeat 3      # or: make bench

On a ledger scaled with the project's own sample generator (`--scale 270`
gives about 5 million rows for the report of 2024-08: the twelve months of
2023 and eight of 2024), it measures in one process:

- extract: the period's ledger files parsed and typed exactly as the flow does
  (`tasks.ingest.ledger.extract_ledger`);
- validate, Great Expectations: the committed ledger suite run exactly as the
  flow runs it (`tasks.ingest.validate.run_suites` with `suite_parameters` and the
  row bands the flow learns on an empty warehouse), results and Data Docs
  written to a temporary folder;
- validate, by hand: the same expectations written in vectorised pandas
  (`bench/hand_checks.py`), on the same frame; the two must agree on every
  expectation's success and unexpected-row count, or the benchmark stops;
- the same two again on a copy of the frame with planted errors (so the
  failure path, with its row numbers, is measured and compared too);
- load: the typed frame into a fresh SQLite warehouse
  (`tasks.warehouse.load.load_files`).

Times are the median and the minimum of `--repeat` runs (extract and load run
once). Peak memory is the process's resident set size sampled every 20 ms
during each stage (growth over the level before the stage) and the process's
maximum (`getrusage`). Results are printed as a table and written as JSON and
Markdown to `var/bench/results/` (git-ignored). Generated extracts are cached in
`var/bench/data/ledger-s<scale>/`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hand_checks import hand_checks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Peak resident set size while the block runs, sampled from /proc every 20 ms."""

    def __init__(self) -> None:
        self.start = self.peak = self._rss()
        self._stop = threading.Event()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = self._rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / 2**20


CPU_SECONDS: list[float] = []  # process CPU time of each timed call, in order


def timed(fn, *args, **kwargs):
    """(result, wall seconds, peak RSS growth in MiB) of one call; its CPU seconds go to CPU_SECONDS.

    The machine may be shared (other jobs on two cores): CPU time, which such jobs
    disturb less than wall time, is reported beside it."""
    with PeakRSS() as mem:
        cpu = time.process_time()
        t = time.perf_counter()
        result = fn(*args, **kwargs)
        seconds = time.perf_counter() - t
        CPU_SECONDS.append(time.process_time() - cpu)
    return result, seconds, mem.growth_mib


def ledger_extracts(data: Path, scale: int, year: int) -> tuple[Path, float]:
    """The scaled sample ledger of `year - 1` and `year` (all months), generated once and cached."""
    folder = data / f"ledger-s{scale}"
    stamp = folder / ".complete"
    if stamp.exists():
        return folder, 0.0
    from tasks.samples.finance import ledger_frame, sample_budget, write_ledger

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t = time.perf_counter()
    seed = sample_budget()
    for y in (year - 1, year):
        write_ledger(folder, ledger_frame(seed, y, scale), y, year)
    seconds = time.perf_counter() - t
    stamp.write_text(f"scale {scale}, generated in {seconds:.1f} s\n")
    return folder, seconds


def plant_errors(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with one of each kind of error the ledger suite must catch, spread over the files."""
    from tasks.contracts import structure

    bad = frame.copy()
    n = len(bad)
    at = [int(n * f) for f in (0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85)]
    other_area = next(a.name for a in structure().areas if a.name != bad.at[at[5], "area"])
    other_code = next(s.code for s in structure().services if s.code != bad.at[at[6], "cost_centre"][:4])
    bad.loc[at[0], "account"] = "5100"  # not an operating account
    bad.loc[at[1], "service"] = "Keksitty palvelu"  # unknown service: no area, no code
    bad.loc[at[2], "account_name"] = "soita 131052-308T"  # a personal identity code
    bad.loc[at[3], "month"] = 13  # impossible month, not the file's period
    bad.loc[at[4], "account"] = "40A0"  # not four digits
    bad.loc[at[5], "area"] = other_area  # service under the wrong area
    bad.loc[at[6], "cost_centre"] = other_code + "999"  # cost centre of another service
    # (No missing value: the extract turns an empty cell into "" or an error, never into NA.)
    bad.loc[at[7], "area"] = "Keksitty palvelukokonaisuus"  # unknown area
    return pd.concat([bad, bad.iloc[[at[8]]]], ignore_index=True)  # duplicated key


def _key(config: dict) -> str:
    """An expectation's identity across GX's reloading: its type and arguments (parameters unresolved)."""
    kwargs = {k: v for k, v in config["kwargs"].items() if k not in ("batch_id", "value_set")}
    return config["type"] + json.dumps(kwargs, sort_keys=True)


def gx_outcome(quality_dir: Path, suite: dict) -> dict[str, dict]:
    """Per expectation of the committed suite (by its id): type, success and unexpected-row count
    from the result file run_suites wrote. GX gives the expectations new ids when it loads a suite
    and groups the results by domain, so they are matched by type and arguments."""
    vr = json.loads((quality_dir / "ledger.json").read_text(encoding="utf-8"))
    by_key = {_key(r["expectation_config"]): r for r in vr["results"]}
    if len(by_key) != len(vr["results"]) or len(by_key) != len(suite["expectations"]):
        raise SystemExit("GX results cannot be matched one to one with the suite's expectations")
    out = {}
    for e in suite["expectations"]:
        r = by_key[_key(e)]
        out[e["id"]] = {
            "type": e["type"],
            "success": r["success"],
            "unexpected_count": (r.get("result") or {}).get("unexpected_count"),
        }
    return out


def assert_agree(gx: dict[str, dict], hand: dict[str, dict], scenario: str) -> dict:
    """Both must judge every expectation alike: success and unexpected rows."""
    if set(gx) != set(hand):
        raise SystemExit(f"{scenario}: expectations differ: {sorted(set(gx) ^ set(hand))}")
    diffs = []
    for eid, g in gx.items():
        h = hand[eid]
        if g["success"] != h["success"] or (
            h["unexpected_count"] is not None and g["unexpected_count"] != h["unexpected_count"]
        ):
            diffs.append(
                f"{g['type']} {eid}: GX {g['success']}/{g['unexpected_count']}, hand "
                f"{h['success']}/{h['unexpected_count']}"
            )
    if diffs:
        raise SystemExit(f"{scenario}: GX and the hand-written checks disagree:\n  " + "\n  ".join(diffs))
    failed = sum(not g["success"] for g in gx.values())
    return {
        "expectations": len(gx),
        "passed": len(gx) - failed,
        "failed": failed,
        "unexpected_rows": sum(g["unexpected_count"] or 0 for g in gx.values()),
    }


def stats(samples: list[float]) -> dict:
    return {"median": statistics.median(samples), "min": min(samples), "runs": samples}


def compare(
    name: str, frame: pd.DataFrame, suite: dict, params: dict, bands: pd.DataFrame, repeat: int, tmp: Path
) -> dict:
    """Great Expectations (as the flow runs it) against the hand-written checks, alternating, `repeat` times."""
    from tasks.ingest.validate import run_suites, validation_frame

    gx_t, gx_m, gx_c, hand_t, hand_m, hand_c = [], [], [], [], [], []
    for k in range(repeat):
        quality = tmp / f"quality-{name}-{k}"
        q, s, m = timed(run_suites, {"ledger": frame}, quality, params, bands)
        gx_t.append(s)
        gx_m.append(m)
        gx_c.append(CPU_SECONDS[-1])
        gx = gx_outcome(quality, suite)
        shutil.rmtree(quality, ignore_errors=True)
        hand, s, m = timed(hand_checks, frame, suite, params, bands)
        hand_t.append(s)
        hand_m.append(m)
        hand_c.append(CPU_SECONDS[-1])
        agreed = assert_agree(gx, hand, name)
        print(
            f"  {name} run {k + 1}/{repeat}: GX {gx_t[-1]:.2f} s, hand {hand_t[-1]:.2f} s, "
            f"{agreed['passed']}/{agreed['expectations']} passed, agree",
            flush=True,
        )
    _, derive_s, _ = timed(validation_frame, "ledger", frame, bands)
    return {
        "rows": len(frame),
        "outcome": agreed,
        "status": q["ledger"].status,
        "failures": q["ledger"].failures,
        "warnings": q["ledger"].warnings,
        "gx": {**stats(gx_t), "cpu_median": statistics.median(gx_c), "peak_rss_growth_mib": max(gx_m)},
        "hand": {**stats(hand_t), "cpu_median": statistics.median(hand_c), "peak_rss_growth_mib": max(hand_m)},
        "ratio_median": statistics.median(gx_t) / statistics.median(hand_t),
        "ratio_cpu_median": statistics.median(gx_c) / statistics.median(hand_c),
        "derived_columns_s": derive_s,
    }


def _loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def machine() -> dict:
    import great_expectations as gx
    import pyarrow

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    import tasks

    return {
        "code": str(Path(tasks.__file__).resolve().parent.parent),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30, 1),
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "pyarrow": pyarrow.__version__,
        "great_expectations": gx.__version__,
        "platform": platform.platform(),
    }


def table(r: dict) -> str:
    rows = r["rows"]
    lines = [
        f"katsaus validation benchmark — ledger, {rows:,} rows (scale {r['scale']}, period {r['period']}), "
        f"{r['when']}".replace(f"{rows:,}", f"{rows:,}".replace(",", " ")),
        "machine: {cores} cores ({cpu}), {memory_gib} GiB, Python {python}, pandas {pandas}, pyarrow {pyarrow}, "
        "great_expectations {great_expectations}; code from {code}".format(**r["machine"]),
        "",
        f"| {'stage':<52} | {'median s':>9} | {'min s':>8} | {'CPU s':>7} | {'rows/s':>11} | {'peak RSS +MiB':>13} |",
        f"|{'-' * 54}|{'-' * 11}|{'-' * 10}|{'-' * 9}|{'-' * 13}|{'-' * 15}|",
    ]

    def row(
        label: str,
        median: float | None,
        minimum: float | None = None,
        n: int | None = None,
        mem: float | None = None,
        cpu: float | None = None,
    ) -> None:
        med = f"{median:9.2f}" if median is not None else " " * 9
        mn = f"{minimum:8.2f}" if minimum is not None else " " * 8
        c = f"{cpu:7.2f}" if cpu is not None else " " * 7
        rate = f"{n / median:11,.0f}".replace(",", " ") if n and median else " " * 11
        m = f"{mem:13.0f}" if mem is not None else " " * 13
        lines.append(f"| {label:<52} | {med} | {mn} | {c} | {rate} | {m} |")

    def note(text: str) -> None:
        lines.append(f"| {text:<52} | {'':9} | {'':8} | {'':7} | {'':11} | {'':13} |")

    st = r["stages"]
    if st.get("generate_s"):
        row("generate sample files (once, then cached)", st["generate_s"])
    row(
        "extract: parse + type (extract_ledger)",
        st["extract"]["s"],
        None,
        rows,
        st["extract"]["peak_rss_growth_mib"],
        st["extract"]["cpu_s"],
    )
    row("import great_expectations (once per process)", st["gx_import_s"])
    for name, c in r["scenarios"].items():
        o = c["outcome"]
        row(
            f"validate {name}: GX suite (run_suites)",
            c["gx"]["median"],
            c["gx"]["min"],
            c["rows"],
            c["gx"]["peak_rss_growth_mib"],
            c["gx"]["cpu_median"],
        )
        row(
            f"validate {name}: same checks by hand",
            c["hand"]["median"],
            c["hand"]["min"],
            c["rows"],
            c["hand"]["peak_rss_growth_mib"],
            c["hand"]["cpu_median"],
        )
        lines.append(
            f"| {'  ratio GX / hand (median)':<52} | {c['ratio_median']:8.2f}× | {'':8} | "
            f"{c['ratio_cpu_median']:6.2f}× | {'':11} | {'':13} |"
        )
        row("  of GX: derived columns (validation_frame)", c["derived_columns_s"])
        note(f"  outcome: {o['passed']}/{o['expectations']} passed, {o['unexpected_rows']} bad rows, agree")
    if "load" in st:
        row(
            "load to SQLite (load_warehouse)",
            st["load"]["s"],
            None,
            rows,
            st["load"]["peak_rss_growth_mib"],
            st["load"]["cpu_s"],
        )
    lines += [
        "",
        f"process peak RSS (getrusage): {r['max_rss_mib']:.0f} MiB; load average at start "
        f"{r['loadavg_start']}, at end {r['loadavg_end']}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=int, default=270, help="sample scale; 270 gives about 5 M rows for 2024-08")
    p.add_argument("--repeat", type=int, default=3, help="runs of each validation (median and min are reported)")
    p.add_argument("--period", default="2024-08", help="report period YYYY-MM (the sample's year is 2024)")
    p.add_argument("--report-date", default="2024-09-20", help="the run's day (latest allowed date)")
    p.add_argument("--data", type=Path, default=ROOT / "var" / "bench" / "data", help="cache of generated extracts")
    p.add_argument(
        "--results", type=Path, default=ROOT / "var" / "bench" / "results", help="where JSON and Markdown go"
    )
    p.add_argument("--no-planted", action="store_true", help="skip the scenario with planted errors")
    p.add_argument("--no-load", action="store_true", help="skip the SQLite load")
    p.add_argument("--min-rows", type=int, default=5_000_000, help="warn when the period has fewer rows")
    args = p.parse_args(argv)
    year, month = int(args.period[:4]), int(args.period[5:])

    from tasks.contracts import settings
    from tasks.ingest.ledger import extract_ledger
    from tasks.ingest.period import Extracted
    from tasks.ingest.validate import row_bands, suite_document, suite_parameters

    result: dict = {
        "scale": args.scale,
        "period": args.period,
        "repeat": args.repeat,
        "loadavg_start": _loadavg(),
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "stages": {},
        "scenarios": {},
    }
    st = result["stages"]
    folder, st["generate_s"] = ledger_extracts(args.data, args.scale, year)
    print(
        f"extracts: {folder}" + (f" (generated in {st['generate_s']:.1f} s)" if st["generate_s"] else " (cached)"),
        flush=True,
    )

    (extract, controls), s, m = timed(extract_ledger, folder, year, month)
    if extract.status != "ok":
        raise SystemExit(f"the ledger did not extract: {extract.status} {[str(e) for e in extract.errors[:5]]}")
    frame = extract.frame
    result["rows"] = len(frame)
    st["extract"] = {"s": s, "cpu_s": CPU_SECONDS[-1], "peak_rss_growth_mib": m, "files": len(extract.files)}
    print(f"extract: {len(frame):,} rows from {len(extract.files)} files in {s:.1f} s", flush=True)
    if len(frame) < args.min_rows:
        print(f"NOTE: {len(frame):,} rows is below {args.min_rows:,}; use a larger --scale", flush=True)

    # As the flow does on an empty warehouse: bands from this run's own files only.
    no_history = pd.DataFrame(columns=["source", "period", "rows"])
    bands = row_bands(Extracted({"ledger": extract}, pd.DataFrame()).files(), no_history, settings().row_band_margin)
    params = suite_parameters(dt.date.fromisoformat(args.report_date))
    suite = suite_document("ledger")

    t = time.perf_counter()
    import great_expectations  # noqa: F401

    import tasks.ingest.custom_expectations  # noqa: F401

    st["gx_import_s"] = time.perf_counter() - t
    result["machine"] = machine()

    with tempfile.TemporaryDirectory(prefix="katsaus-bench-") as tmp:
        tmp = Path(tmp)
        result["scenarios"]["clean"] = compare("clean", frame, suite, params, bands, args.repeat, tmp)
        if not args.no_planted:
            planted = plant_errors(frame)
            result["scenarios"]["planted"] = compare("planted", planted, suite, params, bands, args.repeat, tmp)
            del planted
        if not args.no_load:
            from tasks.ingest.quality import Validated, source_statuses
            from tasks.warehouse.engine import warehouse
            from tasks.warehouse.load import load_files, load_plan

            def load(url: str, plan: list) -> None:
                with warehouse(url) as engine:
                    load_files(engine, plan, "bench")

            url = f"sqlite:///{tmp / 'warehouse.db'}"
            extracted = Extracted({"ledger": extract}, pd.DataFrame())
            plan = list(load_plan(extracted, Validated(source_statuses(extracted, {}))))  # split before the clock
            _, s, m = timed(load, url, plan)
            st["load"] = {
                "s": s,
                "cpu_s": CPU_SECONDS[-1],
                "peak_rss_growth_mib": m,
                "db_mib": (tmp / "warehouse.db").stat().st_size / 2**20,
            }
            print(f"load: {s:.1f} s", flush=True)

    result["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["loadavg_end"] = _loadavg()
    text = table(result)
    print("\n" + text)
    args.results.mkdir(parents=True, exist_ok=True)
    stem = f"validation-s{args.scale}-{result['when'].replace(':', '')}"
    (args.results / f"{stem}.json").write_text(
        json.dumps(result, indent=1, ensure_ascii=False, default=str), encoding="utf-8"
    )
    (args.results / f"{stem}.md").write_text(text + "\n", encoding="utf-8")
    print(f"\nwrote {args.results / stem}.json and .md")
    return result


if __name__ == "__main__":
    main()
