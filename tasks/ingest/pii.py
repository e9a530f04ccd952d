"""Personal-data guard: find Finnish personal identity codes (henkilötunnus) in text.

A code is `DDMMYYCNNNT`: birth date, century sign, individual number and check
character. Century signs: `+` (1800s), `-` and, since 2023, `Y X W V U`
(1900s), `A` and, since 2023, `B C D E F` (2000s). The check character is
`0123456789ABCDEFHJKLMNPRSTUVWXY`[DDMMYYNNN mod 31]. Only codes whose date and
check character are valid count, so account numbers and other digit runs do
not trip the guard.

Nothing here returns or logs a code: callers get row positions and a masked
form that keeps only the century sign.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from tasks.ingest.distinct import Distinct

CENTURY_SIGNS = "+-YXWVUABCDEF"
CHECK_CHARS = np.array(list("0123456789ABCDEFHJKLMNPRSTUVWXY"))
PATTERN = (
    rf"(?<![0-9A-Za-z])(\d{{2}})(\d{{2}})(\d{{2}})"  # day, month, year
    rf"([{CENTURY_SIGNS.replace('-', '')}\-])(\d{{3}})([0-9A-Y])"  # century sign, individual number, check character
    r"(?![0-9A-Za-z])"
)


def _signs_of_distinct(text: pd.Series) -> pd.Series:
    """Century sign of the first valid code in each of a few distinct texts."""
    found = text.str.extractall(PATTERN)
    signs = pd.Series("", index=text.index, dtype="string")
    if found.empty:
        return signs
    day, month = found[0].astype(int), found[1].astype(int)
    number = (found[0] + found[1] + found[2] + found[4]).astype("int64")
    valid = day.between(1, 31) & month.between(1, 12) & (found[5].to_numpy() == CHECK_CHARS[(number % 31).to_numpy()])
    first = found.loc[valid, 3].groupby(level=0).first()
    signs.loc[first.index] = first.to_numpy()
    return signs


def hetu_signs(values: pd.Series) -> pd.Series:
    """The century sign of the first valid code in each value, empty where there is none (vectorised).

    Text columns of extracts repeat a few values millions of times (areas,
    services, account names), so the pattern runs over the distinct values only
    and no row becomes a Python object.
    """
    return Distinct(values).map(lambda distinct: _signs_of_distinct(distinct.astype("string"))).astype("string")


def hetu_rows(values: pd.Series) -> pd.Series:
    """True for each value that contains a valid personal identity code."""
    return hetu_signs(values).ne("").fillna(False).astype(bool)


def mask(sign: str = "-") -> str:
    """The masked form shown to people: only the century sign remains."""
    return f"******{sign}****"


_CODE = re.compile(PATTERN)


def mask_codes(text: str) -> str:
    """`text` with everything shaped like a personal identity code masked, valid checksum or not.

    For messages built from file content (e.g. a header row that is really a
    data row): a mistyped code is still personal data.
    """
    return _CODE.sub(lambda m: mask(m[4]), text)


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
