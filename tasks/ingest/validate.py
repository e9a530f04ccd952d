"""Validate stage: run each source's committed Great Expectations suite.

The suites live in `expectations/<source>.json` and are loaded, never rebuilt,
here. Great Expectations is imported by `great_expectations` only, when `run_suites` first runs: it is slow
to import and only this stage needs it (`import_great_expectations_ahead` lets a run pay those seconds while it
reads its files). Results go to `<out>/quality/`: one JSON
per source, a summary and the built Data Docs site.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from reports import fmt
from tasks.contracts import reference_values, sources, structure
from tasks.contracts.vocab import SOURCE_FAILED, SOURCE_OK
from tasks.ingest.distinct import Distinct
from tasks.ingest.findings import describe, describe_failure, input_column_names, unexpected_rows
from tasks.ingest.partwise import KeysAcrossParts, merged_validation
from tasks.ingest.pii import hetu_findings
from tasks.ingest.rows import Rows

# The committed suites, one JSON per source, in the `expectations` package.
SUITES_PACKAGE = "expectations"


def suite_document(source: str) -> dict | None:
    """The committed suite of `source` as JSON, or None when it has none."""
    path = resources.files(SUITES_PACKAGE).joinpath(f"{source}.json")
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def uniqueness_keys(source: str) -> list[list[str]]:
    """The column sets the source's suite requires to be unique, one list per expectation."""
    doc = suite_document(source) or {"expectations": []}
    out = []
    for e in doc["expectations"]:
        if e["type"] == "expect_column_values_to_be_unique":
            out.append([e["kwargs"]["column"]])
        elif e["type"] == "expect_compound_columns_to_be_unique":
            out.append(list(e["kwargs"]["column_list"]))
    return out


PII_EXPECTATION = "expect_column_values_to_not_contain_hetu"
# The one Data Docs site the validate stage builds (copied to `<quality>/data_docs`).
DOCS_SITE = "katsaus"


@dataclass
class SourceQuality:
    source: str
    status: str  # ok or failed (a critical expectation failed: quarantined)
    checks: int = 0
    passed: int = 0
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    personal_data: bool = False
    # Files a failed expectation may concern (a warning's only when it does not tell its every row: see
    # `kept_rows`); None when it cannot be told (all of them).
    flagged: frozenset[str] | None = frozenset()
    # Per warning expectation (id) that found rows: how many and the rows it listed, (file, line) in file order.
    warned: dict[str, tuple[int, list[tuple[str, int]]]] = field(default_factory=dict)
    # The warning expectations whose every row is listed: kept with each file's batch (see `file_warnings`).
    kept: set[str] = field(default_factory=set)
    # The expectation (id) of each of `warnings`.
    warning_ids: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.status == SOURCE_OK

    def flag(self, files: frozenset[str] | None) -> None:
        self.flagged = None if files is None or self.flagged is None else self.flagged | files

    def warn(self, expectation_id: str, message: str) -> None:
        self.warning_ids.append(expectation_id)
        self.warnings.append(message)


def outside_band(checked: pd.DataFrame) -> tuple[frozenset[str], list[str]]:
    """The files of a validation frame whose row count falls outside their band, and every file, in order."""
    files = checked["_file"]
    order = [str(f) for f in pd.unique(files)]  # a categorical's few names, not a string per row
    if "file_rows" not in checked:
        return frozenset(), order
    outside = (checked["file_rows"] < checked["row_band_min"]) | (checked["file_rows"] > checked["row_band_max"])
    return frozenset(str(f) for f in pd.unique(files[outside])), order


def flagged_files(result: dict, outside: set[str] | frozenset[str]) -> frozenset[str] | None:
    """The files a failed expectation concerns, or None when its result does not tell them all.

    The row-band checks concern the files outside their bands (`outside`, see
    `outside_band`); other checks the files of their listed rows, when the list holds every failing row.
    """
    kwargs = result["expectation_config"]["kwargs"]
    if "file_rows" in (kwargs.get("column_A"), kwargs.get("column_B")):
        return frozenset(outside)
    res = result.get("result") or {}
    listed = [i for i in res.get("partial_unexpected_index_list") or [] if isinstance(i, dict)]
    files: set[str] = set()
    for item in listed:
        f = item.get("_file")
        files.update(f if isinstance(f, list) else [f])
    count = res.get("unexpected_count")
    rows = sum(len(i["_line"]) if isinstance(i.get("_line"), list) else 1 for i in listed)
    if count is None or rows < count or None in files:
        return None
    return frozenset(str(f) for f in files)


# Most failing rows a result lists. The messages name the first five; a warning whose every row is listed is kept
# with each file's batch, so that a file a check only warned on is reused like a clean one.
LISTED_ROWS = 200


def _expectation_key(config: dict) -> str:
    kwargs = {k: v for k, v in config["kwargs"].items() if k != "batch_id"}
    return json.dumps([config["type"], kwargs, config.get("severity", "critical")], sort_keys=True, default=str)


def suite_id(source: str, config: dict) -> str | None:
    """The committed suite's own id of a result's expectation (GX gives each run's copy an id of its own); None
    for one whose arguments GX filled in from the run's parameters."""
    doc = suite_document(source) or {"expectations": []}
    return {_expectation_key(e): e["id"] for e in doc["expectations"]}.get(_expectation_key(config))


def kept_rows(result: dict) -> list[tuple[str, int]] | None:
    """The rows a failed warning expectation found, when they can be kept with the batches: every row listed, and
    not a check of a file's row count (its band is learned again every run). None otherwise."""
    kwargs = result["expectation_config"]["kwargs"]
    if "file_rows" in (kwargs.get("column_A"), kwargs.get("column_B")):
        return None
    res = result.get("result") or {}
    rows = unexpected_rows(res)
    if res.get("unexpected_count") != len(rows) or any(f is None for f, _ in rows):
        return None
    return rows


def file_warnings(quality: SourceQuality) -> dict[str, str]:
    """Per file, what the kept warning expectations found in its rows, as its batch keeps it: JSON of expectation
    id to [rows, [their first five lines]]."""
    per_file: dict[str, dict[str, list[int]]] = {}
    for eid in sorted(quality.kept):
        for file, line in quality.warned[eid][1]:
            per_file.setdefault(str(file), {}).setdefault(eid, []).append(int(line))
    return {f: json.dumps({e: [len(lines), lines[:5]] for e, lines in found.items()}) for f, found in per_file.items()}


def with_earlier_warnings(quality: SourceQuality, files: list[str], earlier: dict[str, str]) -> SourceQuality:
    """`quality` (of the rows read now) with what the warning expectations found in the reused files' rows when
    they were read (`earlier`: file name to `file_warnings`' JSON): each expectation's one message counts and
    names the rows of every file, in the order of the source's `files`, as if all had been read now."""
    found = {f: json.loads(text) for f, text in earlier.items() if text}
    if not found:
        return quality
    suite = {e["id"]: e for e in (suite_document(quality.source) or {"expectations": []})["expectations"]}
    position = {name: i for i, name in enumerate(files)}
    messages = dict(zip(quality.warning_ids, quality.warnings))
    passed = quality.passed
    for eid in sorted({e for notes in found.values() for e in notes}):
        count, rows = quality.warned.get(eid, (0, []))
        if eid not in quality.warned:
            passed -= 1  # passed on the rows read now (or not run at all), not on the reused ones
        for file, notes in found.items():
            if eid in notes:
                count += notes[eid][0]
                rows = [*rows, *((file, line) for line in notes[eid][1])]
        rows = sorted(rows, key=lambda row: (position.get(row[0], len(position)), row[1]))
        messages[eid] = describe(suite[eid], quality.source, count, rows)
    return in_suite_order(dataclasses.replace(quality, passed=passed), messages)


def in_suite_order(quality: SourceQuality, messages: dict[str, str]) -> SourceQuality:
    """`quality` warning with `messages` (expectation id to message), in the order of the source's suite."""
    if not messages:
        return quality
    doc = suite_document(quality.source) or {"expectations": []}
    order = {e["id"]: i for i, e in enumerate(doc["expectations"])}
    ids = sorted(messages, key=lambda eid: order.get(eid, len(order)))
    return dataclasses.replace(quality, warning_ids=ids, warnings=[messages[eid] for eid in ids])


def _regex_columns(source: str) -> set[str]:
    """Columns the committed suite of `source` matches against a regular expression."""
    doc = suite_document(source)
    if doc is None:
        return set()
    return {e["kwargs"]["column"] for e in doc["expectations"] if e["type"] == "expect_column_values_to_match_regex"}


def _shared_categories(*values: pd.Series) -> pd.Index:
    return pd.Index(pd.concat([v.astype(object) for v in values], ignore_index=True).dropna().unique())


def validation_frame(source: str, frame: pd.DataFrame, bands: pd.DataFrame | None = None) -> pd.DataFrame:
    """The frame the suite sees: the typed extract plus columns derived for checks of meaning.

    Every source with a year (and month) gets `row_period` and `file_period`
    (the period its file name states); monthly sources get `file_rows` and the
    band of row counts learned from earlier periods (`bands`, per file).
    Derived values are computed per distinct file name, account and service
    (`Distinct`), never row by row: a ledger has millions of rows. Text columns
    are categoricals here, dates have nanoseconds and nullable integers NumPy's dtypes
    (only here: the extract keeps its string columns, microseconds and nullable integers).
    """
    src = sources()[source]
    derived: dict[str, pd.Series] = {}
    distinct: dict[str, Distinct] = {}

    def of(column: str) -> Distinct:
        if column not in distinct:
            distinct[column] = Distinct(frame[column].astype(str) if column == "_file" else frame[column])
        return distinct[column]

    if "year" in frame:
        files = of("_file")
        derived["file_period"] = files.map(
            lambda names: pd.to_numeric(names.str.extract(r"(\d{4,6})\.\w+$")[0], errors="coerce")
        )
        if src.period == "month":
            derived["row_period"] = frame["year"].astype("float64") * 100 + frame["month"].astype("float64")
            rows = files.counts()
            derived["file_rows"] = (
                rows if rows is not None else frame.groupby("_file", observed=True)["_line"].transform("size")
            )
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
        if column in derived:
            continue
        if column not in matched and isinstance(frame[column].dtype, pd.StringDtype):
            derived[column] = of(column).categorical()
        elif _nanosecond_dates_fit(frame[column]):
            # GX compares dates to their bounds column-wise only at nanosecond precision; at the extract's
            # microseconds it calls Python per row (seconds for a month of events). Dates outside the nanosecond
            # range (about 1677–2262) keep the row-wise comparison, which shows them as written.
            derived[column] = frame[column].astype("datetime64[ns]")
        elif (numpy_dtype := _exact_numpy_integers(frame[column])) is not None:
            # Likewise GX compares numbers to their bounds column-wise only in NumPy's own dtypes: a nullable
            # integer column (a score, a response time) went row by row through Python.
            derived[column] = frame[column].astype(numpy_dtype)
    if source == "result_budget":
        derived["unit_lines"] = frame.groupby(["area", "service"], dropna=False)["line"].transform("nunique")
    return frame.assign(**derived)


# Integers a float64 holds exactly: a nullable integer column with gaps becomes float64 (the gaps NaN) only below it.
_EXACT_IN_FLOAT = 2**53


def _exact_numpy_integers(values: pd.Series) -> str | None:
    """The NumPy dtype that holds a nullable integer column's values exactly: int64 without gaps, float64 (gaps
    as NaN, which GX counts as missing as it did pd.NA) when every value is below 2**53; None otherwise."""
    if not isinstance(values.dtype, pd.Int64Dtype):
        return None
    if not values.hasnans:
        return "int64"
    return "float64" if values.isna().all() or values.abs().max() < _EXACT_IN_FLOAT else None


def _nanosecond_dates_fit(values: pd.Series) -> bool:
    """A date column of coarser than nanosecond precision whose every date fits nanoseconds."""
    if not pd.api.types.is_datetime64_dtype(values) or values.dtype == "datetime64[ns]":
        return False
    return bool(values.isna().all() or (values.min() >= pd.Timestamp.min and values.max() <= pd.Timestamp.max))


def reference_parameters() -> dict:
    """The suites' parameters that come from the reference tables (everything but the latest allowed date)."""
    refs = reference_values()
    params = {f"ref_{name}": values for name, values in refs.items()}
    params["ref_services_or_empty"] = ["", *refs["services"]]
    return params


def suite_parameters(today: dt.date) -> dict:
    """Run-time values of the suites' parameters: the reference tables and the latest allowed date."""
    # A full timestamp: GX compares date-times, and an event of this very day is allowed.
    return {**reference_parameters(), "latest_date": f"{today.isoformat()}T23:59:59"}


def row_bands(
    files: pd.DataFrame, history: pd.DataFrame, margin: float, min_periods: int = 3, window: int = 12
) -> pd.DataFrame:
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
    out = pd.DataFrame(
        {
            "lo": (agg["min"] * (1 - margin)).where(enough),
            "hi": (agg["max"] * (1 + margin)).where(enough),
        }
    ).reindex(files["file"])
    return out.rename_axis("file").reset_index()


def pii_scan(source: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Personal identity codes in the source's text columns (positions and masked forms only)."""
    text = [c.field for c in sources()[source].columns if c.type == "str"]
    return hetu_findings(frame, text)


def _forget_batches(engine) -> None:
    """Let go of what GX's pandas engine keeps after a run: the last batch of every asset (a part's validation
    frame: hundreds of MB) and every metric computed (whole columns of conditions), kept for the context's life."""
    engine.batch_manager.reset_batch_cache()
    engine.batch_manager.batch_data_cache.clear()
    cache = getattr(engine, "_metric_cache", None)  # private in GX 1.x; its absence only costs memory
    if isinstance(cache, dict):
        cache.clear()


# One import at a time: `run_suites` waits for an import begun ahead (`import_great_expectations_ahead`) rather
# than starting a second one beside it.
_GX_IMPORT = threading.Lock()


def great_expectations() -> ModuleType:
    """Great Expectations, imported and set up for katsaus (seconds the first time, nothing after)."""
    with _GX_IMPORT:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        # Heavy: Great Expectations takes seconds to import, and only this stage needs it.
        import great_expectations as gx
        from great_expectations.execution_engine import pandas_execution_engine  # heavy: GX

        # GX fingerprints every batch under 1 GB by hashing all its cells (a batch marker that
        # nothing here reads; the manifest has each input file's SHA-256): seconds on a ledger.
        pandas_execution_engine.HASH_THRESHOLD = 0

        import tasks.ingest.custom_expectations  # noqa: F401  (heavy: GX; registers the custom expectations)

        # GX sets this module's logger to INFO when imported, and it then announces a temporary folder on every run
        # (on the console of `katsaus run`, among the controller's lines).
        logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
        return gx


def import_great_expectations_ahead() -> threading.Thread:
    """Import Great Expectations on a thread of its own, so that its seconds pass beside the reading and hashing of
    the period's files (on the other core, while they let go of the interpreter); `run_suites` then finds it
    imported. A failed import is left for `run_suites` to meet and report in its place."""

    def quietly() -> None:
        with contextlib.suppress(Exception):
            great_expectations()

    thread = threading.Thread(target=quietly, name="import-great-expectations")
    thread.start()
    return thread


def run_suites(
    frames: dict[str, Rows | pd.DataFrame],
    quality_dir: Path,
    parameters: dict,
    bands: pd.DataFrame | None = None,
    on_source: Callable[[SourceQuality, int], None] | None = None,
    judged: Callable[[SourceQuality], SourceQuality] | None = None,
) -> dict[str, SourceQuality]:
    """Validate each source's rows with its committed suite, a part at a time; write results and Data Docs to
    `quality_dir`. The parts' results are merged into one (`partwise`), as if every row had been checked at once.

    `judged` gives a source's whole verdict from its suite's (what files checked earlier add to it); `on_source`
    is told of that verdict and the rows as soon as the source's suite has run (the run's progress).

    A source with a personal identity code is validated with a result format
    that keeps no values at all, so Data Docs and result files can carry none.
    """
    gx = great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig  # GX: imported just above

    quality_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, SourceQuality] = {}
    with tempfile.TemporaryDirectory(prefix="katsaus-gx-") as tmp:
        # An in-memory context (a file context writes its whole configuration to disk at every suite, validation
        # definition and checkpoint added: seconds a run) with one Data Docs site on disk.
        ctx = gx.get_context(mode="ephemeral")
        ctx.add_data_docs_site(
            DOCS_SITE,
            {
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": tmp},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        datasource = ctx.data_sources.add_pandas("katsaus")
        for source, given in frames.items():
            rows = given if isinstance(given, Rows) else Rows.of(given)
            suite_doc = suite_document(source)
            suite = ctx.suites.add(gx.ExpectationSuite(**suite_doc))
            batch_def = datasource.add_dataframe_asset(source).add_batch_definition_whole_dataframe("period")
            vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=source, data=batch_def, suite=suite))
            # A part at a time (see `rows`): each part's rows are held only while its suite runs.
            # Each part's suite result and identity codes, its files in order and those outside their row bands.
            runs, findings, files, outside = [], [], [], set()
            keys = KeysAcrossParts(uniqueness_keys(source))
            for part in rows.parts():
                checked = validation_frame(source, part, bands)
                pii = pii_scan(source, checked)
                # The validation definition run directly: a checkpoint would only add its own bookkeeping (it has
                # no actions here; Data Docs are built once for all sources at the end).
                result = vd.run(
                    batch_parameters={"dataframe": checked},
                    expectation_parameters=parameters,
                    result_format={
                        "result_format": "SUMMARY",
                        "unexpected_index_column_names": ["_file", "_line"],
                        "partial_unexpected_count": LISTED_ROWS,
                        # Not the query listing every failing row (a whole month's rows when a
                        # row band fails): messages name the first rows from the partial list.
                        "return_unexpected_index_query": False,
                        "exclude_unexpected_values": not pii.empty,
                    },
                )
                runs.append(result.to_json_dict())
                _forget_batches(datasource.get_execution_engine())
                findings.append(pii)
                out_of_band, named = outside_band(checked)
                outside |= out_of_band
                files += named
                keys.add(part)
                del checked, part
            order = {name: n for n, name in enumerate(files)}
            vr = merged_validation(runs, LISTED_ROWS, order, keys.repeated(rows))
            pii = pd.concat(findings, ignore_index=True)
            (quality_dir / f"{source}.json").write_text(
                json.dumps(vr, indent=1, ensure_ascii=False, default=str), encoding="utf-8"
            )
            q = SourceQuality(source, SOURCE_OK, checks=len(vr["results"]), personal_data=not pii.empty)
            for r in vr["results"]:
                config = r["expectation_config"]
                if r["success"]:
                    q.passed += 1
                elif config["type"] == PII_EXPECTATION:
                    q.flag(flagged_files(r, outside))
                    col = config["kwargs"]["column"]
                    hits = pii[pii["column"] == col]
                    where = ", ".join(f"{f} rivi {ln}" for f, ln in zip(hits["file"].head(5), hits["line"].head(5)))
                    q.failures.append(
                        f"sarakkeessa {input_column_names(source).get(col, col)} on henkilötunnus "
                        f"({fmt.count(len(hits), 'rivi', 'riviä')}: {where}; muoto "
                        f"{hits['masked'].iloc[0] if len(hits) else '******-****'})"
                    )
                elif config.get("severity", "critical") == "critical":
                    q.flag(flagged_files(r, outside))
                    q.failures.append(describe_failure(r, source))
                else:
                    res = r.get("result") or {}
                    eid = suite_id(source, config)
                    q.warned[eid or config["id"]] = (res.get("unexpected_count") or 0, unexpected_rows(res))
                    if eid is None or kept_rows(r) is None:
                        q.flag(flagged_files(r, outside))
                    else:
                        q.kept.add(eid)
                    q.warn(eid or config["id"], describe_failure(r, source))
            q = in_suite_order(q, dict(zip(q.warning_ids, q.warnings)))
            if q.failures:
                q.status = SOURCE_FAILED
            out[source] = q = judged(q) if judged is not None else q
            if on_source is not None:
                on_source(q, len(rows))
        ctx.build_data_docs(site_names=[DOCS_SITE])
        site = Path(tmp)
        if (site / "index.html").exists():
            shutil.rmtree(quality_dir / "data_docs", ignore_errors=True)
            shutil.copytree(site, quality_dir / "data_docs")
    return out
