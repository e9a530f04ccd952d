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


def _where(res: dict, n: int) -> str:
    """Where the failing rows are: `file rivi N`, in either of GX's index formats."""
    where = []
    for item in res.get("partial_unexpected_index_list") or []:
        if isinstance(item, dict):
            files, lines = item.get("_file"), item.get("_line")
            if isinstance(lines, list):  # exclude_unexpected_values: lists of index values
                where += [f"{f} rivi {ln}" for f, ln in zip(files or [""] * len(lines), lines)]
            else:
                where.append(f"{files} rivi {lines}")
    return ", ".join(where[:5]) + (" …" if n > 5 else "")


def describe_failure(result: dict, source: str) -> str:
    """One line in Finnish: what failed, on how many rows and on which input lines; never a value."""
    cfg = result["expectation_config"]
    kwargs = cfg["kwargs"]
    names = input_column_names(source)
    template = (cfg.get("meta") or {}).get("fi") or MESSAGES_FI.get(cfg["type"], cfg["type"])
    text = template.format(
        column=names.get(kwargs.get("column", ""), kwargs.get("column", "")),
        columns=", ".join(names.get(c, c) for c in kwargs.get("column_list", [])),
        column_A=names.get(kwargs.get("column_A", ""), kwargs.get("column_A", "")),
        column_B=names.get(kwargs.get("column_B", ""), kwargs.get("column_B", "")),
    )
    res = result.get("result") or {}
    n = res.get("unexpected_count")
    if n:
        text += f" ({fmt.count(n, 'rivi', 'riviä')}"
        where = _where(res, n)
        text += f": {where})" if where else ")"
    return text


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
