"""Validate stage: run each source's committed Great Expectations suite.

The suites live in `expectations/<source>.json` and are loaded, never rebuilt,
here. Great Expectations is imported inside `run_suites` only: it is slow to
import and only this stage needs it. Results go to `<out>/quality/`: one JSON
per source, a summary and the built Data Docs site.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from reports import fmt
from tasks.contracts import sources

SUITES = Path(__file__).resolve().parent.parent / "expectations"

# How a source's status reads in the report.
SOURCE_STATUS_FI = {
    "ok": "käytetty",
    "missing": "tieto puuttuu",
    "failed": "virheellinen, ei käytetty",
}

# Plain-Finnish description of a failed expectation, by type; a suite's `meta.fi` overrides it.
MESSAGES_FI = {
    "expect_table_columns_to_match_set": "sarakkeet eivät vastaa tietosopimusta",
    "expect_column_values_to_not_be_null": "sarakkeessa {column} on tyhjiä arvoja",
    "expect_column_values_to_be_of_type": "sarakkeen {column} tietotyyppi on väärä",
    "expect_column_values_to_be_between": "sarakkeen {column} arvo on sallitun välin ulkopuolella",
    "expect_column_values_to_match_regex": "sarakkeen {column} arvon muoto on virheellinen",
    "expect_column_values_to_be_in_set": "sarakkeessa {column} on tuntematon arvo",
    "expect_compound_columns_to_be_unique": "avain ({columns}) toistuu",
    "expect_column_pair_values_to_be_equal": "sarakkeiden {column_A} ja {column_B} arvot eivät täsmää",
    "expect_column_values_to_not_contain_hetu": "sarakkeessa {column} on henkilötunnus",
}
PII_EXPECTATION = "expect_column_values_to_not_contain_hetu"


@dataclass
class SourceQuality:
    source: str
    status: str  # ok, failed (a critical expectation failed: quarantined), missing
    checks: int = 0
    passed: int = 0
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    personal_data: bool = False

    @property
    def usable(self) -> bool:
        return self.status == "ok"


class _Distinct:
    """A column as codes into its distinct values, to derive values once per distinct value.

    Extract columns repeat a few values millions of times (twenty file names, some
    dozen services, a few thousand cost centres): working on the distinct values
    keeps regular expressions, dictionary look-ups and Python objects off the rows.
    """

    def __init__(self, values: pd.Series):
        self.values = values
        self.codes, uniques = pd.factorize(values)
        self.uniques = pd.Series(uniques)

    def map(self, fn: Callable[[pd.Series], pd.Series]) -> pd.Series:
        """`fn` of each distinct value, spread over the rows; a missing value gets `fn` of a missing value."""
        per_value = pd.Series(fn(self.uniques)).reset_index(drop=True)
        codes = self.codes
        if (codes < 0).any():
            missing = self.values[codes < 0].iloc[:1].reset_index(drop=True)
            per_value = pd.concat([per_value, pd.Series(fn(missing))], ignore_index=True)
            codes = np.where(codes < 0, len(self.uniques), codes)
        return pd.Series(per_value.array.take(codes), index=self.values.index)

    def categorical(self, fn: Callable[[pd.Series], pd.Series] | None = None, categories: pd.Index | None = None) -> pd.Series:
        """The column (or `fn` of it, missing for a missing value) as a categorical over `categories`
        (default: its own distinct values), built from the codes without touching the rows' text."""
        if fn is None and categories is None:  # the codes are already the categoricals' codes
            return pd.Series(pd.Categorical.from_codes(self.codes, categories=pd.Index(self.uniques)), index=self.values.index)
        per_value = self.uniques if fn is None else pd.Series(fn(self.uniques)).reset_index(drop=True)
        if categories is None:
            categories = pd.Index(per_value.dropna().unique())
        positions = categories.get_indexer(per_value)
        if ((positions < 0) & per_value.notna().to_numpy()).any():
            raise ValueError("a value is missing from the categories")
        codes = np.append(positions, -1)[self.codes]
        return pd.Series(pd.Categorical.from_codes(codes, categories=categories), index=self.values.index)

    def counts(self) -> pd.Series | None:
        """Rows per distinct value, spread over the rows (None when a value is missing)."""
        if (self.codes < 0).any():
            return None
        return pd.Series(np.bincount(self.codes, minlength=len(self.uniques))[self.codes], index=self.values.index)


def _regex_columns(source: str) -> set[str]:
    """Columns the committed suite of `source` matches against a regular expression."""
    path = SUITES / f"{source}.json"
    if not path.exists():
        return set()
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {e["kwargs"]["column"] for e in doc["expectations"] if e["type"] == "expect_column_values_to_match_regex"}


def _shared_categories(*values: pd.Series) -> pd.Index:
    return pd.Index(pd.concat([v.astype(object) for v in values], ignore_index=True).dropna().unique())


def validation_frame(source: str, frame: pd.DataFrame, bands: pd.DataFrame | None = None) -> pd.DataFrame:
    """The frame the suite sees: the typed extract plus columns derived for checks of meaning.

    Every source with a year (and month) gets `row_period` and `file_period`
    (the period its file name states); monthly sources get `file_rows` and the
    band of row counts learned from earlier periods (`bands`, per file).
    Derived values are computed per distinct file name, account and service
    (`_Distinct`), never row by row: a ledger has millions of rows. Text columns
    are categoricals here (only here: the extract keeps its string columns).
    """
    from tasks.contracts import sources, structure

    src = sources()[source]
    derived: dict[str, pd.Series] = {}
    distinct: dict[str, _Distinct] = {}

    def of(column: str) -> _Distinct:
        if column not in distinct:
            distinct[column] = _Distinct(frame[column].astype(str) if column == "_file" else frame[column])
        return distinct[column]

    if "year" in frame:
        files = of("_file")
        derived["file_period"] = files.map(lambda names: pd.to_numeric(names.str.extract(r"(\d{4,6})\.\w+$")[0], errors="coerce"))
        if src.period == "month":
            derived["row_period"] = frame["year"].astype("float64") * 100 + frame["month"].astype("float64")
            rows = files.counts()
            derived["file_rows"] = rows if rows is not None else frame.groupby("_file", observed=True)["_line"].transform("size")
            b = (bands if bands is not None else pd.DataFrame(columns=["file", "lo", "hi"])).set_index("file")
            # A file without a band (too few earlier periods) is not judged: its band is open,
            # (−∞, ∞), rather than missing, so that GX never copies the whole frame to drop
            # the rows of such files (ignore_row_if) in each of the band checks' metrics.
            derived["row_band_min"] = files.map(lambda names: names.map(b["lo"]).astype("float64").fillna(-np.inf))
            derived["row_band_max"] = files.map(lambda names: names.map(b["hi"]).astype("float64").fillna(np.inf))
    if source == "ledger":
        codes = {s.name: s.code for s in structure().services}
        areas = {s.name: s.area for s in structure().services}
        services, centres = of("service"), of("cost_centre")
        # Columns compared pairwise share their categories (categoricals compare only so).
        area_names = _shared_categories(of("area").uniques, services.uniques.map(areas))
        code_names = _shared_categories(centres.uniques.str[:4], services.uniques.map(codes))
        derived.update(
            account_number=of("account").map(lambda accounts: pd.to_numeric(accounts, errors="coerce")),
            cost_centre_service=centres.categorical(lambda centres: centres.str[:4], code_names),
            service_code=services.categorical(lambda names: names.map(codes), code_names),
            area_of_service=services.categorical(lambda names: names.map(areas), area_names),
            area=of("area").categorical(categories=area_names),
        )
    # Text as categoricals: the suite's checks of text (in set, not null, unique keys, the
    # personal identity code scan) then run on integer codes, not on millions of strings.
    # (Every text column: GX copies whole frames to drop rows where a value is missing.)
    # A column matched against a regular expression stays text: GX's check would turn the
    # categorical back into millions of strings first.
    matched = _regex_columns(source)
    for column in frame.columns:
        if column not in derived and column not in matched and isinstance(frame[column].dtype, pd.StringDtype):
            derived[column] = of(column).categorical()
    if source == "result_budget":
        derived["unit_lines"] = frame.groupby(["area", "service"], dropna=False)["line"].transform("nunique")
    return frame.assign(**derived)


def suite_parameters(today: dt.date) -> dict:
    """Run-time values of the suites' parameters: the reference tables and the latest allowed date."""
    from tasks.contracts import reference_values

    refs = reference_values()
    params = {f"ref_{name}": values for name, values in refs.items()}
    params["ref_services_or_empty"] = ["", *refs["services"]]
    # A full timestamp: GX compares date-times, and an event of this very day is allowed.
    params["latest_date"] = f"{today.isoformat()}T23:59:59"
    return params


def row_bands(files: pd.DataFrame, history: pd.DataFrame, margin: float, min_periods: int = 3, window: int = 12) -> pd.DataFrame:
    """The band of row counts each monthly file is expected to fall in, learned from earlier periods.

    `files`: this run's files (`source`, `file`, `period`, `rows`); `history`:
    row counts the warehouse holds from earlier loads (`source`, `period`,
    `rows`). For each file, the counts of up to `window` earlier periods of
    the same source (this run's files first, then the warehouse's) give
    [min × (1 − margin), max × (1 + margin)]; with fewer than `min_periods`
    earlier periods there is no band (NaN).
    """
    known = pd.concat([files[["source", "period", "rows"]], history[["source", "period", "rows"]]], ignore_index=True)
    known = known.drop_duplicates(["source", "period"], keep="first").sort_values(["source", "period"])
    pairs = files[["source", "file", "period"]].merge(known, on="source", suffixes=("", "_earlier"))
    earlier = pairs[pairs["period_earlier"] < pairs["period"]].sort_values("period_earlier")
    last = earlier.groupby("file").tail(window)
    agg = last.groupby("file")["rows"].agg(["min", "max", "count"])
    enough = agg["count"] >= min_periods
    out = pd.DataFrame({
        "lo": (agg["min"] * (1 - margin)).where(enough),
        "hi": (agg["max"] * (1 + margin)).where(enough),
    }).reindex(files["file"])
    return out.rename_axis("file").reset_index()


def _where(res: dict, n: int) -> str:
    """Where the failing rows are: `file rivi N`, in either of GX's index formats."""
    where = []
    for item in res.get("partial_unexpected_index_list") or []:
        if isinstance(item, dict):
            files, lines = item.get("_file"), item.get("_line")
            if isinstance(lines, list):  # exclude_unexpected_values: lists of index values
                where += [f"{f} rivi {l}" for f, l in zip(files or [""] * len(lines), lines)]
            else:
                where.append(f"{files} rivi {lines}")
    return ", ".join(where[:5]) + (" …" if n > 5 else "")


def describe_failure(result: dict) -> str:
    """One line in Finnish: what failed, on how many rows and on which input lines; never a value."""
    cfg = result["expectation_config"]
    kwargs = cfg["kwargs"]
    names = input_column_names()
    template = (cfg.get("meta") or {}).get("fi") or MESSAGES_FI.get(cfg["type"], cfg["type"])
    text = template.format(
        column=names.get(kwargs.get("column", ""), kwargs.get("column", "")),
        columns=", ".join(names.get(c, c) for c in kwargs.get("column_list", [])),
        column_A=names.get(kwargs.get("column_A", ""), kwargs.get("column_A", "")),
        column_B=names.get(kwargs.get("column_B", ""), kwargs.get("column_B", "")),
    )
    res = result.get("result") or {}
    n = res.get("unexpected_count")
    if n:
        text += f" ({fmt.count(n, 'rivi', 'riviä')}"
        where = _where(res, n)
        text += f": {where})" if where else ")"
    return text


def input_column_names() -> dict[str, str]:
    """Field name to the column name a controller sees in the input file."""
    from tasks.contracts import sources
    from tasks.extract import LEDGER_RENAMES

    names = {c.field: c.name for s in sources().values() for c in s.columns}
    names.update({new: names[old] for old, new in LEDGER_RENAMES.items()})
    names.update({
        "account_number": names["account"], "row_period": "Vuosi ja Kuukausi", "file_period": "tiedoston nimen kausi",
        "cost_centre_service": names["cost_centre"], "service_code": names["service"], "area_of_service": "palvelun palvelukokonaisuus",
        "file_rows": "rivimäärä", "row_band_min": "odotettu vähimmäisrivimäärä", "row_band_max": "odotettu enimmäisrivimäärä",
        "unit_lines": "Rivi",
    })
    return names


def pii_scan(source: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Personal identity codes in the source's text columns (positions and masked forms only)."""
    from tasks.contracts import sources
    from tasks.pii import hetu_findings

    text = [c.field for c in sources()[source].columns if c.type == "str"]
    return hetu_findings(frame, text)


def run_suites(frames: dict[str, pd.DataFrame], quality_dir: Path, parameters: dict, bands: pd.DataFrame | None = None) -> dict[str, SourceQuality]:
    """Validate each frame with its committed suite; write results and Data Docs to `quality_dir`.

    A source with a personal identity code is validated with a result format
    that keeps no values at all, so Data Docs and result files can carry none.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every batch under 1 GB by hashing all its cells (a batch marker that
    # nothing here reads; the manifest has each input file's SHA-256): seconds on a ledger.
    pandas_execution_engine.HASH_THRESHOLD = 0

    import tasks.gx_custom  # noqa: F401  (registers the custom expectations)

    quality_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, SourceQuality] = {}
    with tempfile.TemporaryDirectory(prefix="katsaus-gx-") as tmp:
        ctx = gx.get_context(mode="file", project_root_dir=tmp)
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        datasource = ctx.data_sources.add_pandas("katsaus")
        for source, frame in frames.items():
            checked = validation_frame(source, frame, bands)
            pii = pii_scan(source, checked)
            suite_doc = json.loads((SUITES / f"{source}.json").read_text(encoding="utf-8"))
            suite = ctx.suites.add(gx.ExpectationSuite(**suite_doc))
            batch_def = datasource.add_dataframe_asset(source).add_batch_definition_whole_dataframe("period")
            vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=source, data=batch_def, suite=suite))
            checkpoint = ctx.checkpoints.add(
                gx.Checkpoint(
                    name=source,
                    validation_definitions=[vd],
                    # Data Docs are built once for all sources at the end, not after each.
                    actions=[],
                    result_format={
                        "result_format": "SUMMARY",
                        "unexpected_index_column_names": ["_file", "_line"],
                        "partial_unexpected_count": 20,
                        # Not the query listing every failing row (a whole month's rows when a
                        # row band fails): messages name the first rows from the partial list.
                        "return_unexpected_index_query": False,
                        "exclude_unexpected_values": not pii.empty,
                    },
                )
            )
            result = checkpoint.run(
                batch_parameters={"dataframe": checked},
                expectation_parameters=parameters,
            )
            vr = next(iter(result.run_results.values())).to_json_dict()
            (quality_dir / f"{source}.json").write_text(json.dumps(vr, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
            q = SourceQuality(source, "ok", checks=len(vr["results"]), personal_data=not pii.empty)
            for r in vr["results"]:
                if r["success"]:
                    q.passed += 1
                elif r["expectation_config"]["type"] == PII_EXPECTATION:
                    col = r["expectation_config"]["kwargs"]["column"]
                    hits = pii[pii["column"] == col]
                    where = ", ".join(f"{f} rivi {l}" for f, l in zip(hits["file"].head(5), hits["line"].head(5)))
                    q.failures.append(
                        f"sarakkeessa {input_column_names().get(col, col)} on henkilötunnus "
                        f"({fmt.count(len(hits), 'rivi', 'riviä')}: {where}; muoto {hits['masked'].iloc[0] if len(hits) else '******-****'})"
                    )
                elif r["expectation_config"].get("severity", "critical") == "critical":
                    q.failures.append(describe_failure(r))
                else:
                    q.warnings.append(describe_failure(r))
            if q.failures:
                q.status = "failed"
            out[source] = q
        ctx.build_data_docs()
        site = Path(tmp) / "gx" / "uncommitted" / "data_docs" / "local_site"
        if site.exists():
            shutil.rmtree(quality_dir / "data_docs", ignore_errors=True)
            shutil.copytree(site, quality_dir / "data_docs")
    return out


def source_statuses(extracted: dict, quality: dict[str, SourceQuality]) -> list[dict]:
    """One entry per source for the report and manifest: files, rows, status and why."""
    out = []
    for sid, e in extracted.items():
        q = quality.get(sid)
        status = e.status if e.status != "ok" else (q.status if q else "ok")
        errors = [str(x) for x in e.errors] + (q.failures if q else [])
        warnings = [str(x) for x in e.warnings] + (q.warnings if q else [])
        if errors:
            reason = errors[0]
        elif e.required_missing:
            reason = "puuttuvat tiedostot: " + _files_text(e.required_missing)
        elif e.missing:
            reason = "edellisen vuoden tiedostoja puuttuu, ennuste ja vertailu edelliseen vuoteen ovat vajaita: " + _files_text(e.missing)
        else:
            reason = ""
        out.append({
            "source": sid,
            "title": sources()[sid].title,
            "status": status,
            "status_fi": SOURCE_STATUS_FI[status],
            "files": [f.name for f in e.files],
            "files_text": _files_text([f.name for f in e.files]) or _files_text(e.missing) or "–",
            "rows": sum(f.rows for f in e.files),
            "checks": q.checks if q else 0,
            "passed": q.passed if q else 0,
            "errors": errors,
            "warnings": warnings,
            "missing": e.missing,
            "reason": reason,
        })
    return out


def _files_text(names: list[str]) -> str:
    if len(names) <= 2:
        return ", ".join(names)
    return f"{names[0]} … {names[-1]} ({len(names)} tiedostoa)"


def quality_summary(statuses: list[dict], quality_dir: Path) -> None:
    """Machine-readable summary of every source's status, checks and errors."""
    quality_dir.mkdir(parents=True, exist_ok=True)
    (quality_dir / "summary.json").write_text(json.dumps(statuses, indent=2, ensure_ascii=False), encoding="utf-8")


@task(name="validate", cache_policy=NO_CACHE)
def validate_sources(frames: dict[str, pd.DataFrame], quality_dir: Path, parameters: dict, bands: pd.DataFrame | None = None) -> dict[str, SourceQuality]:
    """Run the suites of the sources that were read; sources not read are judged by the caller."""
    return run_suites(frames, quality_dir, parameters, bands)
