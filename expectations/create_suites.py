"""Create the Great Expectations suites once, from the source contracts, as JSON files.

GX 1.x refers to suites by name and id: they are created here, reviewed and
committed as `expectations/<source>.json`, and the flow loads those files; it
never rebuilds a suite at run time. Run again only to change a suite:

    .venv/bin/python expectations/create_suites.py

Severity: `critical` stops (quarantines) the source for the period; `warning`
is carried into the report. `meta.fi` is the plain-Finnish description a
controller reads when the expectation fails. Some expectations look at columns
the validate stage derives (`tasks.validate.validation_frame`).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe

from tasks.contracts import accounts, sources, structure
from tasks.extract import LEDGER_RENAMES
from tasks.gx_custom import ExpectColumnValuesToNotContainHetu

HERE = Path(__file__).parent
ROW_BAND = {"min_value": {"$PARAMETER": "file_rows_min"}, "max_value": {"$PARAMETER": "file_rows_max"}}


def _id(source: str, n: int) -> str:
    # Stable ids keep the committed files reviewable: same suite, same ids.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"katsaus/{source}/{n}"))


def _fields(source: str, required_only: bool = False) -> list[str]:
    """The typed frame's columns: contract fields as the extract stage names them."""
    renames = LEDGER_RENAMES if source == "ledger" else {}
    return [renames.get(c.field, c.field) for c in sources()[source].columns if c.required or not required_only]


def _common(source: str) -> list:
    """Every source: its columns, required values present, and no personal identity codes in text."""
    text = [c.field for c in sources()[source].columns if c.type == "str"]
    return [
        gxe.ExpectTableColumnsToMatchSet(column_set=_fields(source) + ["_line", "_file"], exact_match=False),
        *[ExpectColumnValuesToNotContainHetu(column=f, meta={"fi": f"sarakkeessa {{column}} on henkilötunnus"}) for f in text],
        *[gxe.ExpectColumnValuesToNotBeNull(column=f) for f in _fields(source, required_only=True)],
    ]


def ledger_suite() -> list:
    lo = min(r[0] for r in accounts().ranges.values())
    hi = max(r[1] for r in accounts().ranges.values())
    return [
        *_common("ledger"),
        gxe.ExpectColumnValuesToBeOfType(column="amount_cents", type_="int64"),
        gxe.ExpectColumnValuesToBeBetween(column="month", min_value=1, max_value=12),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="row_period", column_B="file_period", meta={"fi": "rivi ei kuulu tiedoston nimen kauteen"}),
        gxe.ExpectColumnValuesToMatchRegex(column="account", regex=r"^\d{4}$"),
        gxe.ExpectColumnValuesToBeBetween(column="account_number", min_value=lo, max_value=hi, meta={"fi": "tili ei ole toimintatulo- tai toimintamenotili"}),
        gxe.ExpectColumnValuesToBeInSet(column="area", value_set=[a.name for a in structure().areas]),
        gxe.ExpectColumnValuesToBeInSet(column="service", value_set=[s.name for s in structure().services]),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="area", column_B="area_of_service", ignore_row_if="either_value_is_missing", meta={"fi": "palvelu ei kuulu ilmoitettuun palvelukokonaisuuteen"}),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="cost_centre_service", column_B="service_code", ignore_row_if="either_value_is_missing", meta={"fi": "kustannuspaikka ei kuulu ilmoitettuun palveluun"}),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["year", "month", "cost_centre", "account"]),
        gxe.ExpectColumnValuesToNotBeNull(column="account_name", severity="warning", meta={"fi": "tilin nimi puuttuu"}),
        gxe.ExpectColumnValuesToBeBetween(column="file_rows", **ROW_BAND, severity="warning", meta={"fi": "kuukauden rivimäärä poikkeaa aiempien kausien vaihteluvälistä"}),
    ]


def result_budget_suite() -> list:
    src = sources()["result_budget"]
    return [
        *_common("result_budget"),
        gxe.ExpectColumnValuesToBeInSet(column="line", value_set=list(src.lines)),
        gxe.ExpectColumnValuesToBeInSet(column="area", value_set=[a.name for a in structure().sheet_areas], meta={"fi": "tuntematon palvelukokonaisuus"}),
        gxe.ExpectColumnValuesToBeInSet(column="service", value_set=["", *(s.name for s in structure().services)], meta={"fi": "tuntematon palvelu"}),
        gxe.ExpectColumnValuesToBeOfType(column="tb", type_="float64"),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["area", "service", "line"]),
        gxe.ExpectColumnValuesToBeBetween(column="unit_lines", min_value=len(src.lines), max_value=len(src.lines), meta={"fi": f"yksiköltä puuttuu jokin riveistä {', '.join(src.lines)}"}),
    ]


def council_budget_suite() -> list:
    src = sources()["council_budget"]
    return [
        *_common("council_budget"),
        gxe.ExpectColumnValuesToBeInSet(column="line", value_set=list(src.lines)),
        gxe.ExpectColumnValuesToBeInSet(column="item", value_set=[structure().sector, *structure().budget_items], meta={"fi": "tuntematon talousarviokohta"}),
        gxe.ExpectColumnValuesToBeOfType(column="amount", type_="float64"),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["item", "version", "line"]),
    ]


SUITES = {"ledger": ledger_suite, "result_budget": result_budget_suite, "council_budget": council_budget_suite}


def main() -> None:
    for name, build in SUITES.items():
        expectations = build()
        doc = gx.ExpectationSuite(name=name, expectations=expectations, meta={"source": name}).to_json_dict()
        doc["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"katsaus/{name}"))
        doc["meta"].pop("great_expectations_version", None)
        for n, e in enumerate(doc["expectations"]):
            e["id"] = _id(name, n)
        (HERE / f"{name}.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote expectations/{name}.json ({len(expectations)} expectations)")


if __name__ == "__main__":
    main()
