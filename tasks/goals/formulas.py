"""Indicator formulas: set-based SQL over the run's batches of an indicator's source.

Every indicator of the catalog names a formula registered here with
`@formula`. A formula builds SQL that returns monthly aggregates (`num`/`den`,
raw values, yearly levels or manual values, by the formula's kind); `measure`
turns them into the actual, the forecast and the series. Adding an indicator
is a catalog entry plus, at most, one formula function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Select, case, func, select
from sqlalchemy.engine import Engine

from tasks.contracts.catalog import Catalog, Indicator
from tasks.warehouse.columns import rows_by_batch
from tasks.warehouse.load import Loaded
from tasks.warehouse.models import FACTS
from tasks.warehouse.read import Snapshot, sum_store
from tasks.warehouse.summaries import grouped_sums


@dataclass(frozen=True)
class Formula:
    """How an indicator's data is aggregated in SQL, and what kind of aggregate it gives.

    kinds: `ratio` (monthly num and den: value = Σnum / Σden × scale), `values`
    (raw values per month: medians), `total` (monthly sums), `annual` (one level
    per year), `manual` (values reported by hand), `budget` (from the finances).
    """

    kind: str
    build: Callable[[object, dict], Select] | None
    # The formula's own unit factor (NPS is on a −100…100 scale); the catalog's `scale` wins.
    scale: float = 1.0


FORMULAS: dict[str, Formula] = {}


def formula(kind: str, scale: float = 1.0) -> Callable:
    """Register a formula function under its own name."""

    def register(fn: Callable[[object, dict], Select] | None) -> Callable:
        FORMULAS[fn.__name__] = Formula(kind, fn, scale)
        return fn

    return register


def _where(t, params: dict) -> list:
    """Equality filters of a formula's `where:` parameters."""
    return [t.c[col] == value for col, value in (params.get("where") or {}).items()]


def _monthly(t, num, den, params: dict) -> Select:
    return (
        select(t.c.year, t.c.month, num.label("num"), den.label("den"))
        .where(*_where(t, params))
        .group_by(t.c.year, t.c.month)
    )


@formula("ratio")
def ratio(t, p: dict) -> Select:
    """Σ numerator / Σ denominator (e.g. assessments on time / completed)."""
    return _monthly(t, func.sum(t.c[p["numerator"]]), func.sum(t.c[p["denominator"]]), p)


@formula("ratio")
def share_within(t, p: dict) -> Select:
    """Share of events whose value is at most `limit` (e.g. response within 360 s)."""
    within = func.sum(case((t.c[p["value"]] <= p["limit"], 1), else_=0))
    return _monthly(t, within, func.count(), p)


@formula("ratio")
def mean(t, p: dict) -> Select:
    """Mean of a value over events (e.g. transfer delay in days)."""
    return _monthly(t, func.sum(t.c[p["value"]]), func.count(), p)


@formula("ratio", scale=100)
def nps(t, p: dict) -> Select:
    """Net promoter score: % promoters (9–10) − % detractors (0–6) of the answers."""
    score = t.c[p["score"]]
    net = func.sum(case((score >= 9, 1), (score <= 6, -1), else_=0))
    return _monthly(t, net, func.count(), p)


@formula("ratio")
def weighted_mean(t, p: dict) -> Select:
    """A percentage reported per unit, weighted by the unit's size (e.g. clients)."""
    value, weight = t.c[p["value"]], t.c[p["weight"]]
    return _monthly(t, func.sum(value * weight), func.sum(weight), p)


@formula("values")
def median(t, p: dict) -> Select:
    """Median of the reported values (e.g. T3 of the health stations)."""
    return select(t.c.year, t.c.month, t.c[p["value"]].label("value")).where(*_where(t, p))


@formula("total")
def total(t, p: dict) -> Select:
    """Sum over the year (e.g. tonnes of plastic sorted)."""
    return _monthly(t, func.sum(t.c[p["value"]]), func.count(), p)


@formula("annual")
def year_level(t, p: dict) -> Select:
    """One level per year (e.g. homeless people at the year-end count)."""
    return select(t.c.year, func.sum(t.c[p["value"]]).label("value")).where(*_where(t, p)).group_by(t.c.year)


@formula("manual")
def latest(t, p: dict) -> Select:
    """Values reported by hand: the latest month's value and the controller's forecast."""
    return select(t.c.year, t.c.month, t.c.value, t.c.forecast).where(t.c.indicator == p["indicator"])


FORMULAS["budget_result"] = Formula("budget", None)


def scale_of(ind: Indicator) -> float:
    """The factor from num/den to the indicator's unit: the catalog's `scale` (100 for
    percentages), else the formula's own (100 for NPS)."""
    return float(ind.params.get("scale", FORMULAS[ind.formula].scale))


# The kinds whose SQL is a grouped sum, added up batch by batch (`tasks.warehouse.summaries`); the others return
# rows (values reported by unit or by hand: small tables).
SUMMED = {"ratio": ["year", "month"], "total": ["year", "month"], "annual": ["year"]}


def indicator_data(db: Engine | Snapshot, ind: Indicator, batch_ids: list[int]) -> pd.DataFrame:
    """Run the indicator's formula in SQL over the given batches of its source."""
    f = FORMULAS[ind.formula]
    table = FACTS[ind.source].__table__
    params = {**ind.params, "indicator": ind.id}
    stmt = f.build(table, params)
    with db.connect() as conn:
        if f.kind in SUMMED:
            df = grouped_sums(conn, stmt, table.c.batch_id, batch_ids, SUMMED[f.kind], sum_store(db))
        else:
            by_batch = rows_by_batch(conn, stmt, table, batch_ids)
            df = pd.DataFrame(
                [r for b in batch_ids for r in by_batch[b]], columns=[c.name for c in stmt.selected_columns]
            )
    for col in df.columns:
        df[col] = pd.to_numeric(df[col], errors="coerce")
    if f.kind == "ratio" and "den" in df:
        df["den"] = df["den"] * float(ind.params.get("denominator_scale", 1))
    return df


def indicator_inputs(engine: Engine | Snapshot, cat: Catalog, loaded: Loaded) -> dict[str, pd.DataFrame]:
    """Every catalog indicator's aggregates over the run's batches of its source (those computed in SQL)."""
    return {
        ind.id: indicator_data(engine, ind, loaded.ids(ind.source))
        for ind in cat.indicators
        if FORMULAS[ind.formula].build is not None and loaded.ids(ind.source)
    }
