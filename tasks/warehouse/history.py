"""What earlier runs saw: row counts of every loaded period, and each source's validation outcomes."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine

from tasks.ingest.quality import SourceStatus
from tasks.warehouse.models import LoadBatch, ValidationResult


def row_count_history(engine: Engine) -> pd.DataFrame:
    """Rows of every loaded period per source (`source`, `period`, `rows`): what earlier runs saw."""
    lb = LoadBatch
    with engine.connect() as conn:
        res = conn.execute(select(lb.source, lb.period, lb.rows))
        return pd.DataFrame(res.all(), columns=["source", "period", "rows"])


def record_validation(engine: Engine, run_id: str, period: str, kind: str, statuses: list[SourceStatus]) -> None:
    """Keep each source's validation outcome of this run: the quality history per source and period."""
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "run_id": run_id,
            "period": period,
            "kind": kind,
            "source": s.source,
            "status": s.status,
            "checks": s.checks,
            "passed": s.passed,
            "warnings": len(s.warnings),
            "failures": len(s.errors),
            "messages": json.dumps({"errors": s.errors, "warnings": s.warnings}, ensure_ascii=False),
            "validated_at": now,
        }
        for s in statuses
    ]
    with engine.begin() as conn:
        conn.execute(ValidationResult.__table__.insert(), rows)


def validation_history(engine: Engine, source: str | None = None, limit: int | None = None) -> pd.DataFrame:
    """Every stored validation outcome, newest first (optionally of one source, at most `limit`)."""
    t = ValidationResult
    stmt = select(
        t.run_id, t.period, t.kind, t.source, t.status, t.checks, t.passed, t.warnings, t.failures, t.validated_at
    ).order_by(t.id.desc())
    if source:
        stmt = stmt.where(t.source == source)
    if limit is not None:
        stmt = stmt.limit(limit)
    with engine.connect() as conn:
        return pd.DataFrame(
            conn.execute(stmt).all(),
            columns=[
                "run_id",
                "period",
                "kind",
                "source",
                "status",
                "checks",
                "passed",
                "warnings",
                "failures",
                "validated_at",
            ],
        )
