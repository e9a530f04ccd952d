"""Typed access to the declarations in this folder (structure, accounts, sources, settings).

Everything that knows a service name, an account range, a column or a threshold
reads it from here; the YAML files are the single home of those facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

HERE = Path(__file__).parent


def _yaml(name: str) -> Any:
    return yaml.safe_load((HERE / name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    area: str


@dataclass(frozen=True)
class Area:
    code: str
    name: str
    budget_item: str
    services: tuple[Service, ...]
    budget_from_council: bool = False
    has_staff: bool = True


@dataclass(frozen=True)
class Structure:
    sector: str
    board: str
    budget_items: tuple[str, ...]
    areas: tuple[Area, ...]

    def area(self, name: str) -> Area:
        for a in self.areas:
            if a.name == name:
                return a
        raise KeyError(name)

    def canonical_area(self, name: str) -> str | None:
        """The structure's spelling of an area name written in any letter case."""
        folded = name.strip().casefold()
        for a in self.areas:
            if a.name.casefold() == folded:
                return a.name
        return None

    @property
    def services(self) -> tuple[Service, ...]:
        return tuple(s for a in self.areas for s in a.services)

    @property
    def sheet_areas(self) -> tuple[Area, ...]:
        """Areas whose budget is kept in the result budget sheet."""
        return tuple(a for a in self.areas if not a.budget_from_council)

    @property
    def staffed_areas(self) -> list[str]:
        """Names of the areas with personnel of their own (the personnel sources' rows)."""
        return [a.name for a in self.areas if a.has_staff]

    def has_own_services(self, area: Area) -> bool:
        """False for an area that is its own single service."""
        return not (len(area.services) == 1 and area.services[0].name == area.name)


@dataclass(frozen=True)
class Column:
    name: str
    field: str
    type: str
    required: bool
    min: float | None = None
    max: float | None = None
    plausible_max: float | None = None
    values: tuple[str, ...] = ()
    ref: str | None = None
    pattern: str | None = None

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC_TYPES


NUMERIC_TYPES = ("int", "money", "decimal", "pct")


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    file: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    period: str | None = None
    expect: str = "all"
    history_years: int = 0
    date: str | None = None
    table: str | None = None
    parts: tuple[tuple[str, str], ...] = ()
    unit_eur: int = 1
    lines: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def operational(self) -> bool:
        """A source of the indicators (its own warehouse table), not of the finances."""
        return self.table is not None

    def column(self, field_name: str) -> Column:
        return next(c for c in self.columns if c.field == field_name)

    @property
    def key_fields(self) -> list[str]:
        return [next(c.field for c in self.columns if c.name == k) for k in self.key]

    @property
    def renames(self) -> dict[str, str]:
        return {c.name: c.field for c in self.columns}

    def file_name(self, year: int, month: int = 12) -> str:
        return self.file.format(year=year, month=month)


@dataclass(frozen=True)
class AccountGroup:
    prefix: str
    line: str
    name: str


@dataclass(frozen=True)
class Accounts:
    ranges: dict[str, tuple[int, int]]
    groups: tuple[AccountGroup, ...]
    accounts: tuple[tuple[str, str], ...] = field(default=())

    def line_of(self, account: str) -> str | None:
        for g in self.groups:
            if account.startswith(g.prefix):
                return g.line
        return None


@cache
def structure() -> Structure:
    raw = _yaml("structure.yaml")
    areas = tuple(
        Area(
            code=str(a["code"]),
            name=a["name"],
            budget_item=a["budget_item"],
            budget_from_council=bool(a.get("budget_from_council", False)),
            has_staff=bool(a.get("has_staff", True)),
            services=tuple(Service(str(s["code"]), s["name"], a["name"]) for s in a["services"]),
        )
        for a in raw["areas"]
    )
    return Structure(
        sector=raw["sector"],
        board=raw["board"],
        budget_items=tuple(i["name"] for i in raw["budget_items"]),
        areas=areas,
    )


@cache
def accounts() -> Accounts:
    raw = _yaml("accounts.yaml")
    return Accounts(
        ranges={k: (int(v["first"]), int(v["last"])) for k, v in raw["lines"].items()},
        groups=tuple(AccountGroup(str(k), v["line"], v["name"]) for k, v in raw["groups"].items()),
        accounts=tuple((str(a["account"]), a["name"]) for a in raw["accounts"]),
    )


@cache
def sources() -> dict[str, Source]:
    raw = _yaml("sources.yaml")
    out = {}
    for sid, s in raw.items():
        out[sid] = Source(
            id=sid,
            title=s["title"],
            file=s["file"],
            period=s.get("period"),
            expect=s.get("expect", "all"),
            history_years=int(s.get("history_years", 0)),
            date=s.get("date"),
            table=s.get("table"),
            parts=tuple(tuple(p) for p in s.get("parts", ())),
            unit_eur=int(s.get("unit_eur", 1)),
            lines=tuple(s.get("lines", ())),
            alternatives=tuple(s.get("alternatives", ())),
            key=tuple(s.get("key", ())),
            columns=tuple(
                Column(
                    c["name"], c["field"], c["type"], bool(c["required"]),
                    min=c.get("min"), max=c.get("max"), plausible_max=c.get("plausible_max"),
                    values=tuple(c.get("values", ())), ref=c.get("ref"), pattern=c.get("pattern"),
                )
                for c in s["columns"]
            ),
        )
    return out


@dataclass(frozen=True)
class AssessmentUnit:
    name: str
    service: str


@cache
def health_stations() -> tuple[str, ...]:
    return tuple(_yaml("structure.yaml")["health_stations"]["names"])


@cache
def assessment_units() -> tuple[AssessmentUnit, ...]:
    return tuple(AssessmentUnit(u["name"], u["service"]) for u in _yaml("structure.yaml")["assessment_units"])


def reference_values() -> dict[str, list[str]]:
    """The reference tables a source column may point to with `ref:`, by name.

    The suites receive these at run time (as suite parameters `ref_<name>`), so
    the structure is declared once, here, and never copied into a suite.
    """
    from tasks.contracts.catalog import catalog

    st = structure()
    return {
        "areas": [a.name for a in st.areas],
        "staffed_areas": st.staffed_areas,
        "sheet_areas": [a.name for a in st.sheet_areas],
        "services": [s.name for s in st.services],
        "budget_items": [st.sector, *st.budget_items],
        "health_stations": list(health_stations()),
        "assessment_units": [u.name for u in assessment_units()],
        "manual_indicators": [i.id for i in catalog().indicators if i.source == "manual"],
    }


@cache
def settings() -> dict[str, Any]:
    return _yaml("settings.yaml")


def local_zone() -> ZoneInfo:
    """The sector's local time zone (Helsinki)."""
    return ZoneInfo(settings()["timezone"])
