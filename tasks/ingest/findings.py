"""Failed expectations in plain Finnish: what failed, on how many rows, on which input lines; never a value."""

from __future__ import annotations

from reports import fmt
from tasks.contracts import sources

# Plain-Finnish description of a failed expectation, by type; a suite's `meta.fi` overrides it.
MESSAGES_FI = {
    "expect_table_columns_to_match_set": "sarakkeet eivät vastaa tietosopimusta",
    "expect_column_values_to_not_be_null": "sarakkeessa {column} on tyhjiä arvoja",
    "expect_column_values_to_be_of_type": "sarakkeen {column} tietotyyppi on väärä",
    "expect_column_values_to_be_between": "sarakkeen {column} arvo on sallitun välin ulkopuolella",
    "expect_column_values_to_match_regex": "sarakkeen {column} arvon muoto on virheellinen",
    "expect_column_values_to_be_in_set": "sarakkeessa {column} on tuntematon arvo",
    "expect_compound_columns_to_be_unique": "avain ({columns}) toistuu",
    "expect_column_pair_values_to_be_equal": "sarakkeiden {column_A} ja {column_B} arvot eivät täsmää",
    "expect_column_values_to_not_contain_hetu": "sarakkeessa {column} on henkilötunnus",
}


def unexpected_rows(res: dict) -> list[tuple[str, int]]:
    """The failing rows GX listed, as (file, line), in either of its index formats."""
    rows: list[tuple[str, int]] = []
    for item in res.get("partial_unexpected_index_list") or []:
        if isinstance(item, dict):
            files, lines = item.get("_file"), item.get("_line")
            if isinstance(lines, list):  # exclude_unexpected_values: lists of index values
                rows += list(zip(files or [""] * len(lines), lines))
            else:
                rows.append((files, lines))
    return rows


def describe(config: dict, source: str, count: int | None, rows: list[tuple[str, int]]) -> str:
    """One line in Finnish: what failed (the expectation's configuration), on how many rows and on which input
    lines (the first five of `rows`); never a value."""
    kwargs = config["kwargs"]
    names = input_column_names(source)
    template = (config.get("meta") or {}).get("fi") or MESSAGES_FI.get(config["type"], config["type"])
    text = template.format(
        column=names.get(kwargs.get("column", ""), kwargs.get("column", "")),
        columns=", ".join(names.get(c, c) for c in kwargs.get("column_list", [])),
        column_A=names.get(kwargs.get("column_A", ""), kwargs.get("column_A", "")),
        column_B=names.get(kwargs.get("column_B", ""), kwargs.get("column_B", "")),
    )
    if count:
        text += f" ({fmt.count(count, 'rivi', 'riviä')}"
        where = ", ".join(f"{f} rivi {ln}" for f, ln in rows[:5]) + (" …" if count > 5 else "")
        text += f": {where})" if where else ")"
    return text


def describe_failure(result: dict, source: str) -> str:
    """One line in Finnish: what failed, on how many rows and on which input lines; never a value."""
    res = result.get("result") or {}
    return describe(result["expectation_config"], source, res.get("unexpected_count"), unexpected_rows(res))


def input_column_names(source: str) -> dict[str, str]:
    """Field name to the column name a controller sees in the source's input file (and the derived columns')."""
    names = {c.field: c.name for c in sources()[source].columns}
    names.update(
        {
            "account_number": names.get("account", "Tili"),
            "row_period": "Vuosi ja Kuukausi",
            "file_period": "tiedoston nimen kausi",
            "cost_centre_service": names.get("cost_centre", "Kustannuspaikka"),
            "service_code": names.get("service", "Palvelu"),
            "area_of_service": "palvelun palvelukokonaisuus",
            "file_rows": "rivimäärä",
            "row_band_min": "odotettu vähimmäisrivimäärä",
            "row_band_max": "odotettu enimmäisrivimäärä",
            "unit_lines": "Rivi",
        }
    )
    return names
