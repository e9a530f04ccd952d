"""The source contracts (`sources.yaml`), typed: file names, columns, types, keys, checks and warehouse tables."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from tasks.contracts.declarations import declared

NUMERIC_TYPES = ("int", "money", "decimal", "pct")
# Reference tables of the structure's names, and the table of names each draws from.
NAMED_REFS = {"areas": "areas", "staffed_areas": "areas", "sheet_areas": "areas", "services": "services"}


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
    # The structure's names (`areas`, `services`) the column holds, written in any case or as a
    # source spells them; the extract stage writes them the structure's way. A `ref:` to a table
    # of the structure's names implies it.
    names: str | None = None
    pattern: str | None = None
    # How the warehouse keeps the value when not as its type: `cents` (money as whole cents),
    # `flag` (a yes/no text as a boolean).
    store: str | None = None

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC_TYPES


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    file: str
    # Where the extract comes from (the sources appendix names it).
    system: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    period: str | None = None
    expect: str = "all"
    history_years: int = 0
    date: str | None = None
    table: str | None = None
    # The warehouse keeps each row's line in its input file (not the ledger's millions).
    keep_line: bool = True
    # Warehouse columns the extract stage derives (field: type), beyond the contract's own.
    derived: tuple[tuple[str, str], ...] = ()
    parts: tuple[tuple[str, str], ...] = ()
    # Euros per unit of the source's money columns (budgets are kept in 1 000 €).
    unit_eur: int = 1
    lines: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()
    # A file read together with each file of another source (the ledger's control files).
    companion_of: str | None = None
    # The report shows the rows in a table by unit (read as they are, not aggregated).
    by_unit: bool = False
    # The warehouse keeps each batch's rows as one columnar block, not as table rows (tasks.warehouse.columns).
    columnar: bool = False
    # A sheet of a workbook (the controller's commentary), not a file of its own.
    workbook: str | None = None
    sheet: str | None = None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, field_name: str) -> Column:
        return next(c for c in self.columns if c.field == field_name)

    @property
    def key_fields(self) -> list[str]:
        return [next(c.field for c in self.columns if c.name == k) for k in self.key]

    @property
    def renames(self) -> dict[str, str]:
        return {c.name: c.field for c in self.columns}

    @property
    def warehouse_fields(self) -> list[tuple[str, str]]:
        """(field, type) of every column the source's warehouse table holds besides its lineage."""
        out = [
            (c.field, "flag" if c.store == "flag" else ("cents" if c.store == "cents" else c.type))
            for c in self.columns
            if c.store != "none"
        ]
        if self.date:
            out += [("year", "int"), ("month", "int")]
        return out + list(self.derived)

    def file_name(self, year: int, month: int = 12, kind: str = "") -> str:
        return self.file.format(year=year, month=month, kind=kind)

    def to_euros(self, amount: float) -> float:
        """An amount of this source's money columns in euros."""
        return amount * self.unit_eur

    def from_euros(self, euros: float) -> float:
        """Euros in the unit of this source's money columns (as its own figures are stated)."""
        return euros / self.unit_eur


def _column(c: dict) -> Column:
    return Column(
        c["name"],
        c["field"],
        c["type"],
        bool(c["required"]),
        min=c.get("min"),
        max=c.get("max"),
        plausible_max=c.get("plausible_max"),
        values=tuple(c.get("values", ())),
        ref=c.get("ref"),
        names=c.get("names") or NAMED_REFS.get(c.get("ref")),
        pattern=c.get("pattern"),
        store=c.get("store"),
    )


@cache
def sources() -> dict[str, Source]:
    return {
        sid: Source(
            id=sid,
            title=s["title"],
            file=s["file"],
            system=s["system"],
            period=s.get("period"),
            expect=s.get("expect", "all"),
            history_years=int(s.get("history_years", 0)),
            date=s.get("date"),
            table=s.get("table"),
            keep_line=bool(s.get("keep_line", True)),
            derived=tuple((k, v) for k, v in (s.get("derived") or {}).items()),
            parts=tuple(tuple(p) for p in s.get("parts", ())),
            unit_eur=int(s.get("unit_eur", 1)),
            lines=tuple(s.get("lines", ())),
            alternatives=tuple(s.get("alternatives", ())),
            companion_of=s.get("companion_of"),
            by_unit=bool(s.get("by_unit", False)),
            columnar=bool(s.get("columnar", False)),
            workbook=s.get("workbook"),
            sheet=s.get("sheet"),
            key=tuple(s.get("key", ())),
            columns=tuple(_column(c) for c in s["columns"]),
        )
        for sid, s in declared("sources.yaml").items()
    }


def source_title(source: str) -> str:
    """A source as the report names it (its title, `Talouden toteuma`), or its id when the contracts do not know it."""
    known = sources().get(source)
    return known.title if known else source


def reported_sources() -> list[str]:
    """Every extract a report reads, in the contract's order (control files go with their ledger month; the
    commentary workbook is the controller's, read on its own)."""
    return [sid for sid, s in sources().items() if s.companion_of is None and s.workbook is None]


def workbook_sheets(workbook: str) -> dict[str, Source]:
    """The sheets of a workbook by their sheet name, in the contract's order."""
    return {s.sheet: s for s in sources().values() if s.workbook == workbook}
