"""Create the Great Expectations suites once, from the source contracts, as JSON files.

GX 1.x refers to suites by name and id: they are created here, reviewed and
committed as `expectations/<source>.json`, and the flow loads those files; it
never rebuilds a suite at run time. Run again only to change a suite:

    .venv/bin/python -m expectations.create_suites

Severity: `critical` stops (quarantines) the source for the period; `warning`
is carried into the report. `meta.fi` is the plain-Finnish description a
controller reads when the expectation fails. Some expectations look at columns
the validate stage derives (`tasks.ingest.validate.validation_frame`). Reference
tables (`ref_<name>`, from `tasks.contracts.reference_values`) and the latest
allowed date (`latest_date`) are suite parameters given at run time
(`tasks.ingest.validate.suite_parameters`), so no suite copies the structure.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import great_expectations as gx
import great_expectations.expectations as gxe

from reports.fmt import number
from tasks.contracts import accounts, reported_sources, sources, workbook_sheets
from tasks.ingest.custom_expectations import ExpectColumnValuesToNotContainHetu

HERE = Path(__file__).parent


def _id(source: str, n: int) -> str:
    # Stable ids keep the committed files reviewable: same suite, same ids.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"katsaus/{source}/{n}"))


def _fields(source: str, required_only: bool = False) -> list[str]:
    """The typed frame's columns: the contract's fields."""
    return [c.field for c in sources()[source].columns if c.required or not required_only]


def _limit(value: float) -> str:
    """A limit as a message shows it: whole numbers without decimals."""
    return number(value, 0 if float(value).is_integer() else 2)


def _common(source: str) -> list:
    """Every source: its columns, required values present, and no personal identity codes in text."""
    text = [c.field for c in sources()[source].columns if c.type == "str"]
    return [
        gxe.ExpectTableColumnsToMatchSet(column_set=_fields(source) + ["_line", "_file"], exact_match=False),
        *[
            ExpectColumnValuesToNotContainHetu(column=f, meta={"fi": "sarakkeessa {column} on henkilötunnus"})
            for f in text
        ],
        *[gxe.ExpectColumnValuesToNotBeNull(column=f) for f in _fields(source, required_only=True)],
    ]


def _columns(source: str) -> list:
    """Checks of meaning declared on the contract's columns: ranges, codes, references, formats."""
    out = []
    for c in sources()[source].columns:
        if c.min is not None or c.max is not None:
            out.append(gxe.ExpectColumnValuesToBeBetween(column=c.field, min_value=c.min, max_value=c.max))
        if c.plausible_max is not None:
            out.append(
                gxe.ExpectColumnValuesToBeBetween(
                    column=c.field,
                    max_value=c.plausible_max,
                    severity="warning",
                    meta={"fi": f"sarakkeen {{column}} arvo on epätavallisen suuri (yli {_limit(c.plausible_max)})"},
                )
            )
        if c.values:
            out.append(gxe.ExpectColumnValuesToBeInSet(column=c.field, value_set=list(c.values)))
        if c.ref:
            # The reference table is given at run time: the structure lives in one place.
            out.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column=c.field,
                    value_set={"$PARAMETER": f"ref_{c.ref}"},
                    meta={"fi": "sarakkeessa {column} on tuntematon arvo (ei rakenteessa)"},
                )
            )
        if c.pattern:
            out.append(gxe.ExpectColumnValuesToMatchRegex(column=c.field, regex=c.pattern))
    return out


def _rows(source: str) -> list:
    """Checks across columns and rows: parts within wholes, the file's period, unique keys, the row band."""
    src = sources()[source]
    out = [
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=whole,
            column_B=part,
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            meta={"fi": f"{src.column(part).name} on suurempi kuin {src.column(whole).name}"},
        )
        for part, whole in src.parts
    ]
    # The period check comes before the key check: a row of another month in a file also
    # duplicates that month's keys, and the first failure is the reason the report shows.
    if src.period == "month":
        out.append(
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="row_period", column_B="file_period", meta={"fi": "rivi ei kuulu tiedoston nimen kauteen"}
            )
        )
    elif "year" in _fields(source):
        out.append(
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="year", column_B="file_period", meta={"fi": "rivin vuosi ei ole tiedoston nimen vuosi"}
            )
        )
    keys = src.key_fields
    if len(keys) == 1:
        out.append(gxe.ExpectColumnValuesToBeUnique(column=keys[0], meta={"fi": "tunniste {column} toistuu"}))
    elif keys:
        out.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=keys))
    if src.period == "month":
        out.append(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="file_rows",
                column_B="row_band_min",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                severity="warning",
                meta={"fi": "kuukauden rivimäärä on pienempi kuin aiempien kausien perusteella odotettu"},
            )
        )
        out.append(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="row_band_max",
                column_B="file_rows",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                severity="warning",
                meta={"fi": "kuukauden rivimäärä on suurempi kuin aiempien kausien perusteella odotettu"},
            )
        )
    if src.date:
        # Dates after the run's day cannot be real events; the bound is a suite parameter.
        out.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=src.date,
                max_value={"$PARAMETER": "latest_date"},
                meta={"fi": "sarakkeen {column} päivämäärä on tulevaisuudessa"},
            )
        )
    return out


def generic_suite(source: str) -> list:
    return [*_common(source), *_columns(source), *_rows(source)]


def ledger_suite() -> list:
    lo = min(r[0] for r in accounts().ranges.values())
    hi = max(r[1] for r in accounts().ranges.values())
    return [
        *generic_suite("ledger"),
        gxe.ExpectColumnValuesToBeOfType(column="amount_cents", type_="int64"),
        gxe.ExpectColumnValuesToMatchRegex(column="account", regex=r"^\d{4}$"),
        gxe.ExpectColumnValuesToBeBetween(
            column="account_number",
            min_value=lo,
            max_value=hi,
            meta={"fi": "tili ei ole toimintatulo- tai toimintamenotili"},
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="area",
            column_B="area_of_service",
            ignore_row_if="either_value_is_missing",
            meta={"fi": "palvelu ei kuulu ilmoitettuun palvelukokonaisuuteen"},
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="cost_centre_service",
            column_B="service_code",
            ignore_row_if="either_value_is_missing",
            meta={"fi": "kustannuspaikka ei kuulu ilmoitettuun palveluun"},
        ),
        # An empty cell is "" (not null) from the loaders: the check looks for the empty value.
        gxe.ExpectColumnValuesToNotBeInSet(
            column="account_name", value_set=[""], severity="warning", meta={"fi": "tilin nimi puuttuu"}
        ),
    ]


def result_budget_suite() -> list:
    src = sources()["result_budget"]
    return [
        *generic_suite("result_budget"),
        gxe.ExpectColumnValuesToBeInSet(column="line", value_set=list(src.lines)),
        gxe.ExpectColumnValuesToBeInSet(
            column="area", value_set={"$PARAMETER": "ref_sheet_areas"}, meta={"fi": "tuntematon palvelukokonaisuus"}
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="service", value_set={"$PARAMETER": "ref_services_or_empty"}, meta={"fi": "tuntematon palvelu"}
        ),
        gxe.ExpectColumnValuesToBeOfType(column="tb", type_="float64"),
        gxe.ExpectColumnValuesToBeBetween(
            column="unit_lines",
            min_value=len(src.lines),
            max_value=len(src.lines),
            meta={"fi": f"yksiköltä puuttuu jokin riveistä {', '.join(src.lines)}"},
        ),
    ]


def council_budget_suite() -> list:
    src = sources()["council_budget"]
    return [
        *generic_suite("council_budget"),
        gxe.ExpectColumnValuesToBeInSet(column="line", value_set=list(src.lines)),
        gxe.ExpectColumnValuesToBeOfType(column="amount", type_="float64"),
    ]


SPECIFIC = {"ledger": ledger_suite, "result_budget": result_budget_suite, "council_budget": council_budget_suite}


def suite_builders() -> dict:
    """One suite per source the reports read, and one per sheet of the controller's commentary workbook."""
    ids = [*reported_sources(), *(s.id for s in workbook_sheets("commentary").values())]
    return {sid: SPECIFIC.get(sid, lambda sid=sid: generic_suite(sid)) for sid in ids}


SUITES = suite_builders()


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
