"""Assessing an indicator against its target, and a goal by its indicators (docs/indicators.md)."""

from __future__ import annotations

from dataclasses import dataclass

from reports import fmt
from tasks.contracts import settings
from tasks.contracts.catalog import Indicator
from tasks.contracts.vocab import MET, MISSED, RISK, SOURCE_OK, SOURCE_STATUS_FI, UNKNOWN
from tasks.goals.measure import Measured


@dataclass(frozen=True)
class Assessment:
    status: str
    reason: str = ""


def assess(ind: Indicator, m: Measured, source_status: str = SOURCE_OK, threshold: int | None = None) -> Assessment:
    """The assessment of one indicator, by the rules of docs/indicators.md.

    1. A source that is missing or failed its checks: *ei arvioitavissa*.
    2. No target value: *ei arvioitavissa*.
    3. No actual for the period, or fewer observations than the small-count
       threshold: *ei arvioitavissa*.
    4. When the actual covers the target's deadline, the actual is judged:
       meets the target *toteutuu*, otherwise *ei toteudu*.
    5. Before that the year-end forecast is judged: meets the target
       *toteutuu*; short of it by at most the indicator's risk band *riski*;
       further *ei toteudu*.
    """
    threshold = settings().small_count_threshold if threshold is None else threshold
    if source_status != SOURCE_OK:
        return Assessment(UNKNOWN, f"lähde: {SOURCE_STATUS_FI.get(source_status, source_status)}")
    if ind.target.value is None:
        return Assessment(UNKNOWN, "tavoitearvoa ei ole asetettu")
    if fmt.is_missing(m.actual):
        return Assessment(UNKNOWN, "kaudelta ei ole mittaustulosta")
    if m.n is not None and m.n < threshold:
        return Assessment(UNKNOWN, f"alle {threshold} havaintoa")
    if m.final:
        return Assessment(MET if ind.target.met_by(m.actual) else MISSED, "toteuma")
    if fmt.is_missing(m.forecast):
        return Assessment(UNKNOWN, "ennustetta ei voida laskea")
    if ind.target.met_by(m.forecast):
        return Assessment(MET, "ennuste")
    shortfall = (ind.target.value - m.forecast) * ind.better
    return Assessment(RISK if shortfall <= ind.risk_band + 1e-9 else MISSED, "ennuste")


def goal_status(statuses: list[str]) -> str:
    """A goal is met only if every one of its indicators is; one missed makes it missed."""
    if not statuses:
        return UNKNOWN
    for s in (MISSED, RISK, UNKNOWN):
        if s in statuses:
            return s
    return MET
