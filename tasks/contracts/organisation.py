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
    # How the city's systems spell the name where it differs from the structure's (a typo kept in the ledger).
    source_names: tuple[str, ...] = ()

    @property
    def source_spelling(self) -> str:
        """The name as the extracts write it."""
        return self.source_names[0] if self.source_names else self.name


@dataclass(frozen=True)
class Area:
    code: str
    name: str
    budget_item: str
    services: tuple[Service, ...]
    budget_from_council: bool = False
    has_staff: bool = True
    source_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class AssessmentUnit:
    name: str
    service: str


@dataclass(frozen=True)
class Structure:
    city: str
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

    def spellings(self, ref: str) -> dict[str, str]:
        """How the extracts may write the names of a reference table (`areas`, `services`): every spelling, case
        folded, to the structure's name. A name in another letter case or a source's own spelling is the same name."""
        named = self.services if ref == "services" else self.areas
        return {spelling.casefold(): item.name for item in named for spelling in (item.name, *item.source_names)}

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
        city=raw["city"],
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
                source_names=tuple(a.get("source_names", ())),
                services=tuple(
                    Service(str(s["code"]), s["name"], a["name"], tuple(s.get("source_names", ())))
                    for s in a["services"]
                ),
            )
            for a in raw["areas"]
        ),
        health_stations=tuple(raw["health_stations"]["names"]),
        assessment_units=tuple(AssessmentUnit(u["name"], u["service"]) for u in raw["assessment_units"]),
    )
