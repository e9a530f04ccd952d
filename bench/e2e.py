"""End-to-end benchmark (issue 14): the whole report at scale against a DuckDB floor, on SQLite and PostgreSQL.

    .venv/bin/python bench/e2e.py [--scale 89] [--databases sqlite,postgresql] [--repeat 3]

The sample (`katsaus sample --scale N`, 2023–2024) is generated once into
`var/bench/data/sample-s<N>/` and reused. For each warehouse it measures

(a) the full run: `katsaus run --period 2024-12 --kind annual --no-deliver` on a fresh warehouse;
(b) the next month's run: on another fresh warehouse, November's run first (not timed), then December's
    annual report: what the run costs when only the new month's files are new;

and once, (c) the floor: DuckDB reads every ledger and event CSV of the same folder with the same Finnish
conventions and computes the ledger's sums by year, month, service and account and the events' counts by
source and month (median of `--repeat`). One Prefect server serves every run, as `katsaus serve` keeps one;
its start is timed once. Each run's peak memory is that of the whole process tree (the CLI, the Prefect server,
everything they start), polled every 0.1 s. Stage times come from the run's progress lines. The table and a
JSON go to `var/bench/results/e2e-s<N>-<time>.{md,json}`.
Goals: (a) ≤ 3 × (c) + 20 s; (b)/(a) ≤ 0.15; peak ≤ 2 GB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' loopback PostgreSQL and Prefect servers

from flows.progress import STAGE_TITLES  # noqa: E402
from tasks.contracts import sources  # noqa: E402
from tests.loopback_servers import running_postgres, running_prefect_server  # noqa: E402

KATSAUS = Path(sys.executable).with_name("katsaus")
# The stages as the table names them, in the order of the run's own progress lines (flows/progress.py).
STAGES = dict(zip(STAGE_TITLES, ("extract", "validate", "load", "finance", "goals", "render"), strict=True))
# `Lähteiden luku valmis: 214 tiedostoa, 181 903 riviä (45,4 s)`: a stage's end and its seconds, Finnish style.
STAGE_DONE = re.compile(r"^(?P<title>.+?) valmis(?::.*)? \((?P<seconds>[\d\u00a0 ]+(?:,\d+)?) s\)$")


def sample(scale: int, root: Path) -> Path:
    """The scale's sample folder, generated on first use."""
    out = root / f"sample-s{scale}"
    done = out / ".complete"
    if not done.exists():
        subprocess.run([str(KATSAUS), "sample", "--year", "2024", "--out", str(out), "--scale", str(scale)], check=True)
        done.touch()
    return out


class PeakMemory:
    """The largest sum of resident memory of this benchmark's descendants (the run's process tree and the Prefect
    server's), polled in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._root = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                procs = self._root.children(recursive=True)
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                return
            time.sleep(0.1)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def stage_seconds(log: str) -> dict[str, float]:
    """Seconds of each stage, as the run's progress lines tell them when the stage ends."""
    out: dict[str, float] = {}
    for line in log.splitlines():
        if (m := STAGE_DONE.match(line.strip())) and m.group("title") in STAGES:
            seconds = float(re.sub(r"[\u00a0 ]", "", m.group("seconds")).replace(",", "."))
            out[STAGES[m.group("title")]] = out.get(STAGES[m.group("title")], 0.0) + seconds
    return out


def katsaus_run(extracts: Path, work: Path, url: str, period: str, kind: str, api: str) -> dict:
    """One `katsaus run` as an operator starts it where `katsaus serve` keeps a Prefect server running (`api`):
    wall and CPU seconds, peak memory, stage times, rows read."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(work / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_LOGGING_LEVEL": "INFO",
        # The THL comparison is not what is measured: an unreachable host answers at once.
        "KATSAUS_SOTKANET_URL": "http://127.0.0.1:1",
    }
    args = [
        str(KATSAUS), "run", "--period", period, "--kind", kind, "--extracts", str(extracts),
        "--out", str(work / "out"), "--warehouse", url, "--archive", str(work / "archive"),
        "--cache-dir", str(work / "cache"), "--no-deliver", "--report-date", "2025-01-20",
    ]  # fmt: skip
    before = os.times()
    start = time.perf_counter()
    with (work / f"{period}.log").open("w") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        memory = PeakMemory()
        code = proc.wait()
    wall = time.perf_counter() - start
    peak = memory.stop()
    after = os.times()
    text = (work / f"{period}.log").read_text(errors="replace")
    if code != 0:
        raise SystemExit(f"katsaus run {period} failed ({code}):\n{text[-3000:]}")
    manifest = json.loads((work / "out" / f"{period}-{kind}" / "manifest.json").read_text(encoding="utf-8"))
    inputs = manifest["inputs"]
    return {
        "wall_s": wall,
        "cpu_s": (after.children_user + after.children_system) - (before.children_user + before.children_system),
        "peak_mib": peak / 2**20,
        "stages_s": stage_seconds(text),
        "rows": sum(i["rows"] for i in inputs),
        "rows_read": sum(i["rows"] for i in inputs if not i.get("reused")),
        "files": len(inputs),
        "files_reused": sum(1 for i in inputs if i.get("reused")),
    }


def floor(extracts: Path, repeat: int) -> dict:
    """DuckDB's time to read every ledger and event CSV with the Finnish conventions and aggregate them."""
    import duckdb

    def files(source: str) -> dict[str, list[str]]:
        """The source's files by encoding (UTF-8, or Windows-1252 read as Latin-1: the digits are the same)."""
        pattern = re.sub(r"(\{[^}]*\})+", "*", sources()[source].file)
        out: dict[str, list[str]] = {"utf-8": [], "latin-1": []}
        for path in sorted(extracts.glob(pattern)):
            try:
                path.read_bytes().decode("utf-8")
                out["utf-8"].append(str(path))
            except UnicodeDecodeError:
                out["latin-1"].append(str(path))
        return {enc: paths for enc, paths in out.items() if paths}

    def number(col: str) -> str:
        # Spaces and no-break spaces group thousands, `−` and `–` are minus signs, `,` the decimal separator.
        return (
            f"CAST(replace(replace(replace(replace(replace(\"{col}\", ' ', ''), chr(160), ''), '−', '-'), '–', '-'), "
            f"',', '.') AS DOUBLE)"
        )

    def stamp(col: str) -> str:
        # A date or date-time written the Finnish way (31.8.2024 [klo 14.05]) or as ISO 8601.
        finnish = ", ".join(
            f"try_strptime(\"{col}\", '{f}')"
            for f in ("%d.%m.%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y %H.%M", "%d.%m.%Y %H:%M:%S")
        )
        return f'coalesce({finnish}, TRY_CAST("{col}" AS TIMESTAMP))'

    def read(paths: list[str], encoding: str) -> str:
        # Delimiter sniffed (`;` or `,`), every column as text: the conversions are the query's own.
        return f"read_csv({paths!r}, header=true, all_varchar=true, encoding='{encoding}')"

    events = [s for s in sources().values() if s.date and s.period == "month" and not s.workbook]
    queries = [
        (
            "ledger",
            f"""SELECT Vuosi, Kuukausi, Palvelu, Tili, sum({number("Summa")}), count(*) FROM {read(paths, enc)}
                GROUP BY ALL""",
        )
        for enc, paths in files("ledger").items()
    ]
    for s in events:
        date_col = next(c.name for c in s.columns if c.field == s.date)
        queries += [
            (s.id, f"SELECT date_trunc('month', {stamp(date_col)}), count(*) FROM {read(paths, enc)} GROUP BY ALL")
            for enc, paths in files(s.id).items()
        ]
    times, answers = [], []
    for _ in range(repeat):
        con = duckdb.connect()
        start = time.perf_counter()
        answers = [(sid, con.execute(q).fetchall()) for sid, q in queries]
        times.append(time.perf_counter() - start)
        con.close()
    # What was read, to compare with katsaus' own extract (tests/test_bench.py).
    ledger = [row for sid, rows in answers if sid == "ledger" for row in rows]
    counts: dict[str, int] = {}
    for sid, rows in answers:
        if sid != "ledger":
            counts[sid] = counts.get(sid, 0) + sum(n for _, n in rows)
    return {
        "median_s": statistics.median(times),
        "runs_s": times,
        "groups": sum(len(rows) for _, rows in answers),
        "ledger_rows": sum(r[5] for r in ledger),
        "ledger_total_eur": round(sum(r[4] for r in ledger), 2),
        "event_rows": counts,
    }


def machine() -> dict:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
    }


def table(result: dict) -> str:
    c = result["floor"]["median_s"]
    lines = [
        f"# katsaus end to end, scale {result['scale']} "
        f"({result['machine']['cpu']}, {result['machine']['cores']} cores)",
        "",
        f"DuckDB floor (c): {c:.1f} s (median of {len(result['floor']['runs_s'])}); Prefect server start, once: "
        f"{result['prefect_server_start_s']:.1f} s",
        "",
        "| warehouse | run | wall s | CPU s | peak MiB | rows | rows read | files reused | "
        + " | ".join(STAGES.values())
        + " | rows/s extract | rows/s validate | rows/s load |",
        "|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(STAGES) + "---:|---:|---:|",
    ]
    for db, runs in result["runs"].items():
        for name, r in runs.items():
            st = r["stages_s"]
            rate = [
                f"{r['rows_read'] / st[s]:,.0f}".replace(",", " ") if st.get(s) else "–"
                for s in ("extract", "validate", "load")
            ]
            lines.append(
                f"| {db} | {name} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_mib']:.0f} | {r['rows']} | "
                f"{r['rows_read']} | {r['files_reused']}/{r['files']} | "
                + " | ".join(f"{st.get(s, 0):.1f}" for s in STAGES.values())
                + " | "
                + " | ".join(rate)
                + " |"
            )
    lines.append("")
    for db, runs in result["runs"].items():
        a, b = runs["full"]["wall_s"], runs["next_month"]["wall_s"]
        lines.append(
            f"- {db}: (a)/(c) = {a / c:.1f} (goal: (a) ≤ 3 × (c) + 20 s = {3 * c + 20:.0f} s); "
            f"(b)/(a) = {b / a:.2f} (goal ≤ 0.15); peak {max(r['peak_mib'] for r in runs.values()):.0f} MiB "
            "(goal ≤ 2048)"
        )
    return "\n".join(lines) + "\n"


def measure(args: argparse.Namespace, extracts: Path, api: str, result: dict) -> None:
    """The full and the next month's run on each warehouse, into `result["runs"]`."""
    for db in args.databases.split(","):
        runs = {}
        for name in ("full", "next_month"):
            with tempfile.TemporaryDirectory(prefix=f"katsaus-bench-{db}-") as tmp:
                work = Path(tmp)

                def run(url: str, work: Path = work, name: str = name) -> dict:
                    if name == "next_month":
                        katsaus_run(extracts, work, url, "2024-11", "monthly", api)
                    return katsaus_run(extracts, work, url, "2024-12", "annual", api)

                if db == "sqlite":
                    runs[name] = run(f"sqlite:///{work / 'warehouse.db'}")
                else:
                    with running_postgres() as url:
                        runs[name] = run(url)
            print(f"{db} {name}: {runs[name]['wall_s']:.1f} s", flush=True)
        result["runs"][db] = runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=89)
    ap.add_argument("--databases", default="sqlite,postgresql")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the DuckDB floor (its median is used)")
    ap.add_argument("--root", type=Path, default=ROOT / "var" / "bench")
    args = ap.parse_args()

    extracts = sample(args.scale, args.root / "data")
    result = {
        "scale": args.scale,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "floor": floor(extracts, args.repeat),
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="katsaus-bench-prefect-") as home:
        # One server for every run, as `katsaus serve` keeps one; its start is paid once and reported apart.
        start = time.perf_counter()
        with running_prefect_server(Path(home)) as api:
            result["prefect_server_start_s"] = time.perf_counter() - start
            measure(args, extracts, api, result)

    out = args.root / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"e2e-s{args.scale}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    text = table(result)
    (out / f"{stem}.md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
