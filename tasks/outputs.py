"""Write the run's outputs: CSVs for Finnish spreadsheets, the manifest, and the atomic publish.

A run writes into a staging folder beside the final one and swaps it in only
when everything is written, so a reader never sees a half-written report.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.parsing import sha256_of


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


SOFTWARE = ["katsaus", "prefect", "pandas", "pyarrow", "sqlalchemy", "alembic", "great-expectations", "jinja2", "babel", "weasyprint", "matplotlib", "openpyxl"]


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "?"
    return versions


def mask_url(url: str) -> str:
    """A warehouse URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "?"


def manifest(run: dict, inputs: list[dict], outputs_dir: Path) -> dict:
    files = sorted(p for p in outputs_dir.rglob("*") if p.is_file() and p.name != "manifest.json")
    return {
        **run,
        "inputs": inputs,
        "outputs": [{"file": str(p.relative_to(outputs_dir)), "sha256": sha256_of(p)} for p in files if "quality" not in p.parts],
        "software": software_versions(),
    }


def write_json(obj: dict, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def staging_dir(final: Path, run_id: str) -> Path:
    stage = final.parent / f".{final.name}.partial-{run_id}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    return stage


def publish(stage: Path, final: Path) -> Path:
    """Swap the finished staging folder in place of the previous run's outputs."""
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        final.rename(old)
    stage.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final
