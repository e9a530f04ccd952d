"""Typed access to the indicator catalog (`reports/indicators.yaml`).

The catalog is the single home of every goal and indicator: names, units,
baselines, targets, sources and formulas. Loading checks it, so a mistake in
the catalog is a clear message at start-up, not a wrong report.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tasks.contracts.declarations import declared
from tasks.contracts.schemas import sources

# The catalog lives with the report it shapes: `reports/indicators.yaml`.
CATALOG_PACKAGE, CATALOG_FILE = "reports", "indicators.yaml"

OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
FREQUENCIES = ("monthly", "semiannual", "annual")
# The keys each part may have: a misspelt key (or a comma splitting a text in a
# YAML flow mapping) is an error, not a silently ignored field.
KEYS = {
    "goal": {"id", "binding", "name", "theme", "actions", "indicators"},
    "indicator": {
        "id",
        "count",
        "name",
        "unit",
        "decimals",
        "direction",
        "baseline",
        "target",
        "risk_band",
        "source",
        "formula",
        "params",
        "frequency",
    },
    "baseline": {"value", "period", "text", "from_data"},
    "target": {"value", "op", "deadline", "text"},
}


@dataclass(frozen=True)
class Baseline:
    value: float | None
    period: str
    text: str | None = None
    from_data: int | None = None  # the indicator's own actual of this year is the baseline


@dataclass(frozen=True)
class Target:
    value: float | None
    op: str
    deadline: str  # YYYY-MM
    text: str

    def met_by(self, value: float) -> bool:
        return bool(OPS[self.op](value, self.value))

    @property
    def deadline_year(self) -> int:
        return int(self.deadline[:4])

    @property
    def deadline_month(self) -> int:
        return int(self.deadline[5:7])


@dataclass(frozen=True)
class Indicator:
    id: str
    name: str
    unit: str
    decimals: int
    direction: str  # higher / lower is better
    baseline: Baseline
    target: Target
    risk_band: float
    source: str
    formula: str
    frequency: str
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    goal: str = ""
    # A count of people or things: its forecast is a whole number, rounded before it is judged.
    count: bool = False

    @property
    def better(self) -> int:
        """+1 when a larger value is better, -1 when smaller is."""
        return 1 if self.direction == "higher" else -1


@dataclass(frozen=True)
class Goal:
    id: str
    binding: bool
    name: str
    theme: str
    actions: tuple[str, ...]
    indicators: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    year: int
    goals: tuple[Goal, ...]
    indicators: tuple[Indicator, ...]

    def indicator(self, indicator_id: str) -> Indicator:
        return next(i for i in self.indicators if i.id == indicator_id)


class CatalogError(ValueError):
    """The catalog contradicts itself or the source contracts."""


def _indicator(raw: dict, goal: str) -> Indicator:
    b, t = raw["baseline"], raw["target"]
    return Indicator(
        id=raw["id"],
        name=raw["name"],
        unit=raw["unit"],
        decimals=int(raw.get("decimals", 0)),
        direction=raw["direction"],
        baseline=Baseline(b.get("value"), str(b["period"]), b.get("text"), b.get("from_data")),
        target=Target(t.get("value"), t["op"], str(t["deadline"]), t["text"]),
        risk_band=float(raw["risk_band"]),
        source=raw["source"],
        formula=raw["formula"],
        frequency=raw["frequency"],
        params=dict(raw.get("params") or {}),
        goal=goal,
        count=bool(raw.get("count", False)),
    )


def _unknown_keys(raw: dict) -> list[str]:
    out = []
    for g in raw["goals"]:
        out += [f"goal {g.get('id')}: unknown key {k}" for k in set(g) - KEYS["goal"]]
    for i in raw["indicators"]:
        out += [f"{i.get('id')}: unknown key {k}" for k in set(i) - KEYS["indicator"]]
        for part in ("baseline", "target"):
            out += [f"{i.get('id')}: unknown {part} key {k}" for k in set(i.get(part) or {}) - KEYS[part]]
    return out


def parse_catalog(raw: dict) -> Catalog:
    """Build and check a catalog from its YAML document."""
    problems = _unknown_keys(raw)
    if problems:
        raise CatalogError("indicator catalog: " + "; ".join(problems))
    goal_of = {i: g["id"] for g in raw["goals"] for i in g["indicators"]}
    indicators = tuple(_indicator(i, goal_of.get(i["id"], "")) for i in raw["indicators"])
    goals = tuple(
        Goal(g["id"], bool(g["binding"]), g["name"], g["theme"], tuple(g["actions"]), tuple(g["indicators"]))
        for g in raw["goals"]
    )
    ids = [i.id for i in indicators]
    if len(set(ids)) != len(ids):
        problems.append("indicator ids repeat")
    for i in indicators:
        if i.source not in sources():
            problems.append(f"{i.id}: unknown source {i.source}")
        if i.direction not in ("higher", "lower"):
            problems.append(f"{i.id}: direction must be higher or lower")
        if i.target.op not in OPS:
            problems.append(f"{i.id}: target op must be one of {', '.join(OPS)}")
        if i.frequency not in FREQUENCIES:
            problems.append(f"{i.id}: frequency must be one of {', '.join(FREQUENCIES)}")
        if not i.goal:
            problems.append(f"{i.id}: belongs to no goal")
    for g in goals:
        for i in g.indicators:
            if i not in ids:
                problems.append(f"goal {g.id}: unknown indicator {i}")
    if problems:
        raise CatalogError("indicator catalog: " + "; ".join(problems))
    return Catalog(int(raw["year"]), goals, indicators)


@cache
def catalog() -> Catalog:
    return parse_catalog(declared(CATALOG_FILE, CATALOG_PACKAGE))
