"""Create the Great Expectations suites once, from the source contracts, as JSON files.

GX 1.x refers to suites by name and id: they are created here, reviewed and
committed as `expectations/<source>.json`, and the flow loads those files; it
never rebuilds a suite at run time. Run again only to change a suite:

    .venv/bin/python expectations/create_suites.py
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe

from tasks.contracts import accounts, sources, structure
from tasks.extract import LEDGER_RENAMES

HERE = Path(__file__).parent


def _id(source: str, n: int) -> str:
    # Stable ids keep the committed files reviewable: same suite, same ids.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"katsaus/{source}/{n}"))


def _fields(source: str, required_only: bool = False) -> list[str]:
    """The typed frame's columns: contract fields as the extract stage names them."""
    renames = LEDGER_RENAMES if source == "ledger" else {}
    return [renames.get(c.field, c.field) for c in sources()[source].columns if c.required or not required_only]


def _not_null(source: str) -> list:
    return [gxe.ExpectColumnValuesToNotBeNull(column=f) for f in _fields(source, required_only=True)]


def ledger_suite() -> list:
    lo = min(r[0] for r in accounts().ranges.values())
    hi = max(r[1] for r in accounts().ranges.values())
    return [
        gxe.ExpectTableColumnsToMatchSet(column_set=_fields("ledger") + ["_line"], exact_match=False),
        *_not_null("ledger"),
        gxe.ExpectColumnValuesToBeOfType(column="amount_cents", type_="int64"),
        gxe.ExpectColumnValuesToBeBetween(column="month", min_value=1, max_value=12),
        gxe.ExpectColumnValuesToMatchRegex(column="account", regex=r"^\d{4}$"),
        gxe.ExpectColumnValuesToBeBetween(column="account_number", min_value=lo, max_value=hi),
        gxe.ExpectColumnValuesToBeInSet(column="area", value_set=[a.name for a in structure().areas]),
        gxe.ExpectColumnValuesToBeInSet(column="service", value_set=[s.name for s in structure().services]),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["year", "month", "cost_centre", "account"]),
    ]


def result_budget_suite() -> list:
    src = sources()["result_budget"]
    return [
        gxe.ExpectTableColumnsToMatchSet(column_set=_fields("result_budget") + ["_line"], exact_match=False),
        *_not_null("result_budget"),
        gxe.ExpectColumnValuesToBeInSet(column="line", value_set=list(src.lines)),
        gxe.ExpectColumnValuesToBeInSet(column="area", value_set=[a.name for a in structure().sheet_areas]),
        gxe.ExpectColumnValuesToBeInSet(column="service", value_set=["", *(s.name for s in structure().services)]),
        gxe.ExpectColumnValuesToBeOfType(column="tb", type_="float64"),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["area", "service", "line"]),
    ]


def council_budget_suite() -> list:
    src = sources()["council_budget"]
    return [
        gxe.ExpectTableColumnsToMatchSet(column_set=_fields("council_budget") + ["_line"], exact_match=False),
        *_not_null("council_budget"),
        gxe.ExpectColumnValuesToBeInSet(column="line", value_set=list(src.lines)),
        gxe.ExpectColumnValuesToBeInSet(column="item", value_set=[structure().sector, *structure().budget_items]),
        gxe.ExpectColumnValuesToBeOfType(column="amount", type_="float64"),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["item", "version", "line"]),
    ]


SUITES = {"ledger": ledger_suite, "result_budget": result_budget_suite, "council_budget": council_budget_suite}


def main() -> None:
    for name, build in SUITES.items():
        expectations = build()
        doc = gx.ExpectationSuite(name=name, expectations=expectations, meta={"source": name}).to_json_dict()
        doc["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"katsaus/{name}"))
        for n, e in enumerate(doc["expectations"]):
            e["id"] = _id(name, n)
        doc["meta"].pop("great_expectations_version", None)
        (HERE / f"{name}.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote expectations/{name}.json ({len(expectations)} expectations)")


if __name__ == "__main__":
    main()
