"""Personal-data guard: find Finnish personal identity codes (henkilötunnus) in text.

A code is `DDMMYYCNNNT`: birth date, century sign, individual number and check
character. Century signs: `+` (1800s), `-` and, since 2023, `Y X W V U`
(1900s), `A` and, since 2023, `B C D E F` (2000s). The check character is
`0123456789ABCDEFHJKLMNPRSTUVWXY`[DDMMYYNNN mod 31].

People write codes carelessly, and a careless code is still personal data: the
guard finds lower-case letters, an en dash, a minus sign or another dash as the
century sign, a space between the parts, letters glued to either end, and a
wrong check character. A code with a valid date and the right check character
is *certain*; one whose check character is wrong is *probable*; both stop the
source. Digit runs without a valid date or a century sign (account numbers,
dates, amounts) are not codes.

Nothing here returns or logs a code: callers get row positions and a masked
form that keeps only the century sign.
"""

from __future__ import annotations

import re
import weakref

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tasks.ingest.distinct import Distinct

CENTURY_SIGNS = "+-YXWVUABCDEF"
CHECK_CHARS = np.array(list("0123456789ABCDEFHJKLMNPRSTUVWXY"))
# Dashes people and programs put for the century sign `-`: hyphen, non-breaking hyphen, figure dash, en dash,
# em dash, minus sign.
DASHES = "\u2010\u2011\u2012\u2013\u2014\u2212"
_GAP = r"[ \u00a0\u202f]?"  # one space, no-break space or narrow no-break space between the parts
PATTERN = (
    rf"(?<!\d)(\d{{2}}){_GAP}(\d{{2}}){_GAP}(\d{{2}}){_GAP}"  # day, month, year (a letter may be glued before)
    rf"([{CENTURY_SIGNS.replace('-', '')}\-{DASHES}]){_GAP}"  # century sign
    rf"(\d{{3}}){_GAP}([0-9A-Y])"  # individual number, check character
    r"(?!\d)"  # a letter may be glued after
)
_FLAGS = re.IGNORECASE
# PATTERN in RE2, pyarrow's engine, which has no look-arounds: the digit or the text's end that may not touch a code
# is matched instead of looked at. It runs over all the texts at C++ speed; PATTERN (Python's engine) then runs only
# over the texts it lets through.
_RE2_GAP = r"[ \x{a0}\x{202f}]?"
CANDIDATE = (
    rf"(?:^|\P{{Nd}})(?:\p{{Nd}}{{2}}{_RE2_GAP}){{3}}[+\-{CENTURY_SIGNS.replace('-', '')}{DASHES}]{_RE2_GAP}"
    rf"\p{{Nd}}{{3}}{_RE2_GAP}[0-9A-Y](?:\P{{Nd}}|$)"
)
# A run of 12 or more hexadecimal characters (a hash, a UUID's part, a system's record id) holds code-shaped
# stretches by chance (`…048194e3761…`); it is not a code, nor a code glued to letters.
HEX_RUN = r"(?<![0-9A-Za-z])[0-9A-Fa-f]{12,}(?![0-9A-Za-z])"


def _normal_sign(sign: pd.Series) -> pd.Series:
    return sign.str.upper().str.replace(f"[{DASHES}]", "-", regex=True)


def _codes_of_distinct(text: pd.Series) -> pd.DataFrame:
    """Every code-shaped match with a valid date in a few distinct texts: its value's index, century sign and
    whether the check character is right (certain) or wrong (probable)."""
    candidate = pc.match_substring_regex(
        pa.array(text, type=pa.large_string(), from_pandas=True), CANDIDATE, ignore_case=True
    )
    text = text[candidate.fill_null(False).to_numpy(zero_copy_only=False)]
    found = text.str.replace(HEX_RUN, " ", regex=True).str.extractall(PATTERN, flags=_FLAGS)
    if found.empty:
        return pd.DataFrame({"sign": pd.Series(dtype="string"), "certain": pd.Series(dtype=bool)})
    day, month = found[0].astype(int), found[1].astype(int)
    number = (found[0] + found[1] + found[2] + found[4]).astype("int64")
    dated = day.between(1, 31) & month.between(1, 12)
    certain = found[5].str.upper().to_numpy() == CHECK_CHARS[(number % 31).to_numpy()]
    out = pd.DataFrame({"sign": _normal_sign(found[3]).astype("string"), "certain": certain}, index=found.index)
    return out[dated.to_numpy()]


def _signs_of_distinct(text: pd.Series) -> pd.Series:
    """Century sign of the first code (certain or probable) in each of a few distinct texts."""
    codes = _codes_of_distinct(text)
    signs = pd.Series("", index=text.index, dtype="string")
    if codes.empty:
        return signs
    first = codes["sign"].groupby(level=0).first()
    signs.loc[first.index] = first.to_numpy()
    return signs


# The signs of a categorical's categories (and "" for a missing value, last), kept while the categories live:
# validation scans its frame's text columns for the report's findings, and the suite's expectation scans the same
# columns again (GX hands it a view of the column, which keeps the categories object); a free-text column's
# categories are millions of texts.
_CATEGORY_SIGNS: dict[int, tuple[weakref.ref, pd.api.extensions.ExtensionArray]] = {}


def _signs_of_categories(categories: pd.Index) -> pd.api.extensions.ExtensionArray:
    """The century sign of the first code in each category, then "" for a missing value: scanned once per
    categories object (an Index is immutable: while it lives, its identity stands for its values)."""
    key = id(categories)
    kept = _CATEGORY_SIGNS.get(key)
    if kept is not None and kept[0]() is categories:
        return kept[1]
    signs = _signs_of_distinct(pd.Series(categories).astype("string"))
    out = pd.concat([signs, pd.Series([""], dtype="string")], ignore_index=True).array
    _CATEGORY_SIGNS[key] = (weakref.ref(categories, lambda _, key=key: _CATEGORY_SIGNS.pop(key, None)), out)
    return out


def hetu_signs(values: pd.Series) -> pd.Series:
    """The century sign of the first valid code in each value, empty where there is none (vectorised).

    Text columns of extracts repeat a few values millions of times (areas,
    services, account names), so the pattern runs over the distinct values only
    and no row becomes a Python object; a categorical's categories are scanned
    once however many times its column (or a view of it) is asked.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        return Distinct(values).spread(_signs_of_categories(values.cat.categories))
    return Distinct(values).map(lambda distinct: _signs_of_distinct(distinct.astype("string"))).astype("string")


def hetu_rows(values: pd.Series) -> pd.Series:
    """True for each value that contains a valid personal identity code."""
    return hetu_signs(values).ne("").fillna(False).astype(bool)


def mask(sign: str = "-") -> str:
    """The masked form shown to people: only the century sign remains."""
    return f"******{sign}****"


_CODE = re.compile(PATTERN, _FLAGS)
_HEX = re.compile(HEX_RUN)


def mask_codes(text: str) -> str:
    """`text` with everything shaped like a personal identity code masked, valid checksum or not.

    For messages built from file content (e.g. a header row that is really a
    data row): a mistyped code is still personal data.
    """
    hex_runs = [m.span() for m in _HEX.finditer(text)]

    def masked(m: re.Match) -> str:
        if any(a <= m.start() and m.end() <= b for a, b in hex_runs):
            return m.group(0)
        return mask(_normal_sign(pd.Series([m[4]])).iloc[0])

    return _CODE.sub(masked, text)


def contains_code(text: str | None) -> bool:
    """True if a human-entered text (an approval comment, a controller's explanation) holds a code, certain or
    probable."""
    return bool(text) and bool(hetu_rows(pd.Series([text], dtype="string")).iloc[0])


def certain_codes(values: pd.Series) -> pd.Series:
    """True where a value holds a code whose check character is right (the rest of the hits are probable)."""
    return (
        Distinct(values)
        .map(
            lambda d: (
                _codes_of_distinct(d.astype("string"))["certain"].groupby(level=0).any().reindex(d.index).fillna(False)
            )
        )
        .astype(bool)
    )


def hetu_findings(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Where codes are: one row per (column, input line), with the masked form."""
    out = []
    for col in columns:
        if col not in df:
            continue
        signs = hetu_signs(df[col])
        hits = signs.ne("").fillna(False).to_numpy(dtype=bool)
        if hits.any():
            lines = df.loc[hits, "_line"] if "_line" in df else pd.Series(df.index[hits] + 1)
            files = df.loc[hits, "_file"] if "_file" in df else pd.Series("", index=lines.index)
            masked = [mask(sign) for sign in signs[hits]]
            out.append(
                pd.DataFrame({"column": col, "file": files.to_numpy(), "line": lines.to_numpy(), "masked": masked})
            )
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["column", "file", "line", "masked"])
