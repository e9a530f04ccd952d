"""Thresholds and conventions (`settings.yaml`), typed."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from tasks.contracts.declarations import declared


@dataclass(frozen=True)
class Settings:
    timezone: str
    rounding_half_unit: float
    pct_decimals: int
    small_count_threshold: int
    council_version: str
    forecast_months: tuple[int, ...]
    row_band_margin: float
    max_file_mb: float
    # Who may approve a report for the board (their names), and where each is told that a draft waits.
    approvers: tuple[str, ...]
    max_workbook_unpacked_mb: float
    # The cover's contact person: name, title, phone, email.
    contact: dict[str, str]
    explanation_threshold_eur: float
    explanation_threshold_pct: float
    explanation_drivers: int
    # The THL Sotkanet block, typed by its client (tasks.goals.sotkanet).
    sotkanet: dict[str, Any]
    approver_emails: tuple[str, ...] = ()

    def council_version_of(self, year: int) -> str:
        """The council budget's version the year's figures are judged against (`TA 2024`)."""
        return self.council_version.format(year=year)


@cache
def settings() -> Settings:
    raw = declared("settings.yaml")
    unknown = set(raw) - {f.name for f in fields(Settings)}
    if unknown:
        raise ValueError(f"settings.yaml: unknown keys {', '.join(sorted(unknown))}")
    # An approver is a name, or a name with the address a waiting draft is announced to.
    approvers = [a if isinstance(a, dict) else {"name": a} for a in raw.get("approvers") or ()]
    return Settings(
        **{
            **raw,
            "forecast_months": tuple(raw["forecast_months"]),
            "approvers": tuple(str(a["name"]) for a in approvers),
            "approver_emails": tuple(str(a["email"]) for a in approvers if a.get("email")),
        }
    )


def local_zone() -> ZoneInfo:
    """The sector's local time zone (Helsinki)."""
    return ZoneInfo(settings().timezone)
