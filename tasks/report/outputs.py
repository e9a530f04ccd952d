"""Write the run's outputs: CSVs for Finnish spreadsheets, the manifest, and the swap into place.

A run writes into a staging folder beside the final one and swaps it in only
when everything is written (`replace_outputs`). The report's folder is a
symbolic link to the newest complete outputs, replaced by one rename: a reader
sees the old report or the new one, never none and never half of one.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
import uuid
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy.engine import make_url

from tasks.contracts.vocab import INDICATORS_CSV, MANIFEST_JSON, QUALITY_DIR, RECONCILIATION_CSV, SOURCE_OK, TALOUS_CSV
from tasks.ingest.commentary import Commentary
from tasks.ingest.parsing import sha256_of
from tasks.ingest.period import Extracted
from tasks.ingest.quality import SourceStatus
from tasks.ingest.reuse import REUSED_FI
from tasks.warehouse.load import Loaded


def _fi_number(v: float) -> str:
    if pd.isna(v):
        return ""
    return np.format_float_positional(round(float(v), 4) + 0.0, trim="-").replace(".", ",")


def spreadsheet_csv(df: pd.DataFrame, path: Path) -> None:
    """UTF-8 with BOM, `;` delimiter, decimal comma, no thousands separator."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_numeric_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c]):
            out[c] = out[c].map(_fi_number)
    path.write_bytes(out.to_csv(sep=";", index=False, lineterminator="\r\n").encode("utf-8-sig"))


# talous.csv (DESIGN.md): the contract's columns and the budget table's fields behind them.
TALOUS_COLUMNS = {
    "Palvelukokonaisuus": "area",
    "Palvelu": "service",
    "Rivi": "line",
    "TB": "tb",
    "Toteuma": "ytd",
    "Jaksotettu_TB": "tb_to_date",
    "Ennuste_laskennallinen": "mechanical",
    "Korjaus": "adjustment",
    "Ennuste": "forecast",
    "Poikkeama": "deviation",
    "Poikkeama_pct": "deviation_pct",
    "Edellinen_ennuste": "previous_forecast",
    "Edellisvuosi": "prev_ytd",
}
# Money columns of talous.csv are in 1 000 €, as the budgets state them.
_TALOUS_UNIT = 1000


def talous_rows(table: pd.DataFrame) -> pd.DataFrame:
    """talous.csv per DESIGN.md: one row per sector, service area and service and line, 1 000 €, Helsinki sign;
    `Palvelu` empty on an area's own row, both names empty on the sector's."""
    out = table[list(TALOUS_COLUMNS.values())].copy()
    money = [
        f for c, f in TALOUS_COLUMNS.items() if c not in ("Palvelukokonaisuus", "Palvelu", "Rivi", "Poikkeama_pct")
    ]
    # To the euro: the budgets' unit with three decimals.
    out[money] = (out[money].astype("float64") / _TALOUS_UNIT).round(3)
    out["adjustment"] = out["adjustment"].fillna(0.0)
    return out.rename(columns={f: c for c, f in TALOUS_COLUMNS.items()})


def read_talous(path: Path) -> pd.DataFrame:
    """An earlier report's talous.csv as the budget table's fields (`level`, `area`, `service`, `line`, euros)."""
    df = pd.read_csv(path, sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    out = df.rename(columns=TALOUS_COLUMNS)
    for c in (
        "tb",
        "ytd",
        "tb_to_date",
        "mechanical",
        "adjustment",
        "forecast",
        "deviation",
        "previous_forecast",
        "prev_ytd",
    ):
        out[c] = pd.to_numeric(out[c].str.replace(",", "."), errors="coerce") * _TALOUS_UNIT
    out["level"] = [
        "sector" if not a else ("area" if not s else "service") for a, s in zip(out["area"], out["service"])
    ]
    return out


def indicators_csv_rows(results: pd.DataFrame) -> pd.DataFrame:
    """indicators.csv per DESIGN.md: one row per indicator; a suppressed actual is left empty."""
    return results[["id", "name", "unit", "baseline", "target", "actual", "forecast", "status"]]


SOFTWARE = [
    "katsaus",
    "prefect",
    "pandas",
    "pyarrow",
    "sqlalchemy",
    "alembic",
    "great-expectations",
    "jinja2",
    "babel",
    "weasyprint",
    "matplotlib",
    "openpyxl",
]


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "?"
    return versions


# Query parameters of a database URL that carry a secret (libpq's and the drivers' spellings).
SECRET_PARAMETERS = ("password", "passwd", "pwd", "pass", "secret", "token")


def mask_url(url: str) -> str:
    """A warehouse URL without its password, in the user part or in the query string (`?password=…`): the
    manifest that shows it is archived for ever."""
    try:
        parsed = make_url(url)
    except Exception:
        return "?"
    query = {k: ("***" if any(s in k.casefold() for s in SECRET_PARAMETERS) else v) for k, v in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def input_entries(
    extracted: Extracted, statuses: list[SourceStatus], loaded: Loaded, commentary: Commentary | None = None
) -> list[dict]:
    """Every input file of the run: source, SHA-256, rows, period, status and the warehouse batch holding it
    (the controller's commentary workbook too: its words and adjustments are in the report)."""
    status = {s.source: s.status for s in statuses}
    controls = extracted.controls
    out = []
    for sid, e in extracted.sources.items():
        for f in e.files:
            b = loaded.batch_of(sid, f.name)
            out.append(
                {
                    "source": sid,
                    "file": f.name,
                    "sha256": f.sha256,
                    "rows": f.rows,
                    "period": f.period,
                    "status": status[sid],
                    "batch_id": b.id if b else None,
                    "loaded_by_run": b.run_id if b else None,
                    # Not read again: the batch's run validated these very bytes under the same checks.
                    "reused": f.reused,
                    "validation": REUSED_FI if f.reused else "tarkistettu tässä ajossa",
                }
            )
    for c in controls.to_dict("records") if not controls.empty else []:
        # Control files are read and checked, never loaded: they have no batch.
        out.append(
            {
                "source": "ledger_control",
                "file": c["control_file"],
                "sha256": c["control_sha256"],
                "rows": 1,
                "period": c["period"],
                "status": status.get("ledger", SOURCE_OK),
                "batch_id": None,
                "loaded_by_run": None,
            }
        )
    if commentary is not None and commentary.file is not None:
        f = commentary.file
        out.append(
            {
                "source": "commentary",
                "file": f.name,
                "sha256": f.sha256,
                "rows": f.rows,
                "period": f.period,
                "status": commentary.status,
                "batch_id": None,
                "loaded_by_run": None,
            }
        )
    return out


def manifest(run: dict, inputs: list[dict], outputs_dir: Path) -> dict:
    files = sorted(p for p in outputs_dir.rglob("*") if p.is_file() and p.name != MANIFEST_JSON)
    return {
        **run,
        "inputs": inputs,
        "outputs": [
            {"file": str(p.relative_to(outputs_dir)), "sha256": sha256_of(p)}
            for p in files
            if QUALITY_DIR not in p.parts
        ],
        "software": software_versions(),
    }


def write_json(obj: dict, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def _run_folder_name(report: str, what: str, run_id: str) -> str:
    """`.<report>.<what>-<run id>`: a run's hidden folder beside the outputs (a glob pattern with `*`)."""
    return f".{report}.{what}-{run_id}"


def _run_folder(final: Path, run_id: str, what: str, copy_of: Path | None = None) -> Path:
    """This run's own hidden folder beside the outputs, emptied, or a fresh copy of `copy_of`."""
    folder = final.parent / _run_folder_name(final.name, what, run_id)
    shutil.rmtree(folder, ignore_errors=True)
    if copy_of is None:
        folder.mkdir(parents=True)
    else:
        shutil.copytree(copy_of, folder)
    return folder


def remove_dead_staging(final: Path) -> list[Path]:
    """Remove the staging folders of this report that runs killed mid-write left behind. Call it holding the
    period's lock: every run stages only while it holds the lock, so no live run owns one of them."""
    dead = sorted(final.parent.glob(_run_folder_name(final.name, "partial", "*")))
    for folder in dead:
        shutil.rmtree(folder, ignore_errors=True)
    return dead


def draft_of_run(final: Path, run_id: str) -> Path | None:
    """The run's private copy of its draft of the report `final`, if it has one (it waits for approval)."""
    folder = final.parent / _run_folder_name(final.name, "draft", run_id)
    return folder if folder.is_dir() else None


def remove_drafts_of_run(out: Path, run_id: str) -> None:
    """Remove a run's private drafts (of any report) from the output folder: the run has ended."""
    for draft in out.glob(_run_folder_name("*", "draft", run_id)):
        shutil.rmtree(draft, ignore_errors=True)


def staging_dir(final: Path, run_id: str) -> Path:
    """An empty staging folder for this run's outputs."""
    return _run_folder(final, run_id, "partial")


def keep_draft(stage: Path, final: Path, run_id: str) -> Path:
    """A private copy of this run's draft outputs: its final report is built from them, even if
    another run of the same period publishes its own draft meanwhile."""
    return _run_folder(final, run_id, "draft", copy_of=stage)


def restage(draft: Path, final: Path, run_id: str) -> Path:
    """A staging folder holding a copy of this run's draft outputs, to be changed and published."""
    return _run_folder(final, run_id, "partial", copy_of=draft)


def replace_outputs(stage: Path, final: Path) -> Path:
    """Publish the finished staging folder as `final`, atomically for a reader.

    The outputs move into `.<name>.versions/<unique>/` and `final` (a symbolic link) is pointed at them by a
    rename, which replaces the link in one step. Versions no link points to any more are removed after a grace
    period (a reader may still be inside them), links left by a run that died between the two steps at once.
    """
    store = final.parent / f".{final.name}.versions"
    store.mkdir(parents=True, exist_ok=True)
    if final.is_dir() and not final.is_symlink():
        # A report folder from before links: moved into the store once, then linked like any other.
        final.rename(store / f"legacy-{uuid.uuid4().hex}")
    target = store / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    stage.rename(target)
    previous = final.resolve() if final.is_symlink() else None
    link = final.parent / f".{final.name}.link-{uuid.uuid4().hex}"
    link.symlink_to(target.relative_to(final.parent), target_is_directory=True)
    os.replace(link, final)
    _clean_store(store, final, keep={target, previous})
    return final


# Outputs no link points to are kept this long: a reader that opened the previous report (or the one before,
# when runs publish in quick succession) finishes reading it.
GRACE_SECONDS = 600


def _clean_store(store: Path, final: Path, keep: set[Path | None]) -> None:
    """Remove versions nothing points to once their grace is over, and links a dead run left behind (never another
    run's staging)."""
    kept = {k.resolve() for k in keep if k is not None}
    cutoff = time.time() - GRACE_SECONDS
    for old in store.iterdir():
        if old.resolve() not in kept and old.lstat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)
    for stale in final.parent.glob(f".{final.name}.link-*"):
        stale.unlink(missing_ok=True)
    for stale in final.parent.glob(f".{final.name}.old-*"):  # the two-rename swap of earlier versions
        shutil.rmtree(stale, ignore_errors=True)


def read_manifest(report_dir: Path) -> dict:
    """A published report's manifest, or an empty one when there is none (or it cannot be read)."""
    try:
        found = json.loads((report_dir / MANIFEST_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def approved_outputs(final: Path) -> bool:
    """True when `final` holds an approved report (its manifest records the approval)."""
    return bool(read_manifest(final).get("approval"))


def write_tables(
    stage: Path, reconciliation: pd.DataFrame, indicator_results: pd.DataFrame, budget: pd.DataFrame
) -> None:
    """reconciliation.csv, indicators.csv and talous.csv of the run into its staging folder."""
    spreadsheet_csv(reconciliation, stage / RECONCILIATION_CSV)
    spreadsheet_csv(indicators_csv_rows(indicator_results), stage / INDICATORS_CSV)
    spreadsheet_csv(talous_rows(budget), stage / TALOUS_CSV)
