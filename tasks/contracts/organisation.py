"""The sector's service structure (`structure.yaml`), typed: areas, services, budget items, reporting units."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from tasks.contracts.declarations import declared


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
class AssessmentUnit:
    name: str
    service: str


@dataclass(frozen=True)
class Structure:
    sector: str
    board: str
    budget_items: tuple[str, ...]
    areas: tuple[Area, ...]
    # Reporting units of the operational sources.
    health_stations: tuple[str, ...] = ()
    assessment_units: tuple[AssessmentUnit, ...] = ()

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


@cache
def structure() -> Structure:
    raw = declared("structure.yaml")
    return Structure(
        sector=raw["sector"],
        board=raw["board"],
        budget_items=tuple(i["name"] for i in raw["budget_items"]),
        areas=tuple(
            Area(
                code=str(a["code"]),
                name=a["name"],
                budget_item=a["budget_item"],
                budget_from_council=bool(a.get("budget_from_council", False)),
                has_staff=bool(a.get("has_staff", True)),
                services=tuple(Service(str(s["code"]), s["name"], a["name"]) for s in a["services"]),
            )
            for a in raw["areas"]
        ),
        health_stations=tuple(raw["health_stations"]["names"]),
        assessment_units=tuple(AssessmentUnit(u["name"], u["service"]) for u in raw["assessment_units"]),
    )
