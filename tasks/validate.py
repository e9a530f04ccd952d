"""Validate stage: run each source's committed Great Expectations suite.

The suites live in `expectations/<source>.json` and are loaded, never rebuilt,
here. Great Expectations is imported inside `run_suites` only: it is slow to
import and only this stage needs it. Results go to `<out>/quality/`: one JSON
per source, a summary and the built Data Docs site.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

SUITES = Path(__file__).resolve().parent.parent / "expectations"

# Plain-Finnish description of a failed expectation, by type.
MESSAGES_FI = {
    "expect_table_columns_to_match_set": "sarakkeet eivät vastaa tietosopimusta",
    "expect_column_values_to_not_be_null": "sarakkeessa {column} on tyhjiä arvoja",
    "expect_column_values_to_be_of_type": "sarakkeen {column} tietotyyppi on väärä",
    "expect_column_values_to_be_between": "sarakkeen {column} arvo on sallitun välin ulkopuolella",
    "expect_column_values_to_match_regex": "sarakkeen {column} arvon muoto on virheellinen",
    "expect_column_values_to_be_in_set": "sarakkeessa {column} on tuntematon arvo",
    "expect_compound_columns_to_be_unique": "avain ({columns}) toistuu",
}


@dataclass
class SourceQuality:
    source: str
    status: str  # ok, failed (a critical expectation failed), missing, unreadable
    checks: int = 0
    passed: int = 0
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.status == "ok"


def validation_frame(source: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame the suite sees: the typed extract plus derived columns some checks need."""
    if source == "ledger":
        return frame.assign(account_number=pd.to_numeric(frame["account"], errors="coerce"))
    return frame


def describe_failure(result: dict) -> str:
    """One line in Finnish: what failed, on how many rows and on which input lines."""
    cfg = result["expectation_config"]
    kwargs = cfg["kwargs"]
    names = input_column_names()
    text = MESSAGES_FI.get(cfg["type"], cfg["type"]).format(
        column=names.get(kwargs.get("column", ""), kwargs.get("column", "")),
        columns=", ".join(names.get(c, c) for c in kwargs.get("column_list", [])),
    )
    res = result.get("result") or {}
    n = res.get("unexpected_count")
    if n:
        where = [
            f"{i.get('_file')} rivi {i.get('_line')}"
            for i in (res.get("partial_unexpected_index_list") or [])
            if isinstance(i, dict)
        ]
        text += f" ({n} {'rivi' if n == 1 else 'riviä'}"
        if where:
            text += ": " + ", ".join(where[:5]) + (" …" if n > 5 else "")
        text += ")"
    return text


def input_column_names() -> dict[str, str]:
    """Field name to the column name a controller sees in the input file."""
    from tasks.contracts import sources
    from tasks.extract import LEDGER_RENAMES

    names = {c.field: c.name for s in sources().values() for c in s.columns}
    names.update({new: names[old] for old, new in LEDGER_RENAMES.items()})
    names["account_number"] = names["account"]
    return names


def run_suites(frames: dict[str, pd.DataFrame], quality_dir: Path) -> dict[str, SourceQuality]:
    """Validate each frame with its committed suite; write results and Data Docs to `quality_dir`."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    quality_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, SourceQuality] = {}
    with tempfile.TemporaryDirectory(prefix="katsaus-gx-") as tmp:
        ctx = gx.get_context(mode="file", project_root_dir=tmp)
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        datasource = ctx.data_sources.add_pandas("katsaus")
        for source, frame in frames.items():
            suite_doc = json.loads((SUITES / f"{source}.json").read_text(encoding="utf-8"))
            suite = ctx.suites.add(gx.ExpectationSuite(**suite_doc))
            batch_def = datasource.add_dataframe_asset(source).add_batch_definition_whole_dataframe("period")
            vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=source, data=batch_def, suite=suite))
            checkpoint = ctx.checkpoints.add(
                gx.Checkpoint(
                    name=source,
                    validation_definitions=[vd],
                    actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
                    result_format={
                        "result_format": "SUMMARY",
                        "unexpected_index_column_names": ["_file", "_line"],
                        "partial_unexpected_count": 20,
                    },
                )
            )
            result = checkpoint.run(batch_parameters={"dataframe": validation_frame(source, frame)})
            vr = next(iter(result.run_results.values())).to_json_dict()
            (quality_dir / f"{source}.json").write_text(json.dumps(vr, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
            q = SourceQuality(source, "ok", checks=len(vr["results"]))
            for r in vr["results"]:
                if r["success"]:
                    q.passed += 1
                elif r["expectation_config"].get("severity", "critical") == "critical":
                    q.failures.append(describe_failure(r))
                else:
                    q.warnings.append(describe_failure(r))
            if q.failures:
                q.status = "failed"
            out[source] = q
        site = Path(tmp) / "gx" / "uncommitted" / "data_docs" / "local_site"
        if site.exists():
            shutil.rmtree(quality_dir / "data_docs", ignore_errors=True)
            shutil.copytree(site, quality_dir / "data_docs")
    return out


def quality_summary(statuses: list[dict], quality_dir: Path) -> None:
    """Machine-readable summary of every source's status, checks and errors."""
    quality_dir.mkdir(parents=True, exist_ok=True)
    (quality_dir / "summary.json").write_text(json.dumps(statuses, indent=2, ensure_ascii=False), encoding="utf-8")


@task(name="validate", cache_policy=NO_CACHE)
def validate_sources(frames: dict[str, pd.DataFrame], quality_dir: Path) -> dict[str, SourceQuality]:
    """Run the suites of the sources that were read; sources not read are judged by the caller."""
    return run_suites(frames, quality_dir)
