"""Finnish typography for the report: Babel's fi_FI plus the conventions of published tables.

Thousands are grouped with a no-break space, decimals use a comma, the minus is
U+2212, percentages read `4,6 %` and dates `31.8.2024`.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from babel.dates import format_date
from babel.numbers import format_decimal

LOCALE = "fi_FI"
MINUS = "\u2212"
NBSP = "\u00a0"
MISSING = "–"


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: float | None, decimals: int = 0) -> str:
    """`−2 691 055` / `1 234,5`; a value that rounds to zero has no sign."""
    if _missing(value):
        return MISSING
    value = round(float(value), decimals)
    if value == 0:
        value = 0.0
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, pattern, locale=LOCALE).replace("-", MINUS)


def thousands(eur: float | None, decimals: int = 0) -> str:
    """Euros shown in 1 000 €."""
    return MISSING if _missing(eur) else number(eur / 1000, decimals)


def pct(value: float | None, decimals: int = 1) -> str:
    """`4,6 %` (value already in percent)."""
    return MISSING if _missing(value) else f"{number(value, decimals)}{NBSP}%"


def millions(eur: float | None, decimals: int = 1) -> str:
    """`2 691,1 milj. euroa`."""
    return MISSING if _missing(eur) else f"{number(eur / 1e6, decimals)}{NBSP}milj.{NBSP}euroa"


def date(d: dt.date) -> str:
    return format_date(d, "d.M.yyyy", locale=LOCALE)


def month_name(month: int) -> str:
    return format_date(dt.date(2000, month, 1), "LLLL", locale=LOCALE)


def period(year: int, month: int) -> str:
    """`tammi–elokuu 2024` for a year to date, `tammikuu 2024` for January alone."""
    last = month_name(month)
    if month == 1:
        return f"{last} {year}"
    first = month_name(1).removesuffix("kuu")
    return f"{first}–{last} {year}"


def month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


# Units whose numbers read without a unit after them.
BARE_UNITS = ("NPS",)
# Milestones are 0 (not yet) or 1 (done).
MILESTONE_UNIT = "valmis"


def measure(value: float | None, unit: str, decimals: int = 0) -> str:
    """An indicator's value in its unit: `97,8 %`, `0,15 vrk`, `−5`, `724 henkilöä`, `valmis`."""
    if _missing(value):
        return MISSING
    if unit == "%":
        return pct(value, decimals)
    if unit == MILESTONE_UNIT:
        return "valmis" if value >= 1 else "kesken"
    text = number(value, decimals)
    return text if unit in BARE_UNITS else f"{text}{NBSP}{unit}"


SOFT_HYPHEN = "\u00ad"
VOWELS = "aeiouyäöå"
# A consonant followed by a vowel starts a Finnish syllable (ta-lo, kah-vi, vars-ta).
_SYLLABLE_START = re.compile(rf"(?=[^{VOWELS}\W\d_][{VOWELS}])", re.IGNORECASE)
_LONG_WORD = re.compile(r"\b[^\W\d_]{12,}\b")


def hyphenable(text: str | None) -> str:
    """Soft hyphens at the syllable breaks of long words, so narrow table columns break
    `perus-terveyden-hoitoon` as Finnish does: Pyphen has no Finnish dictionary, and
    without breaks a long compound runs into the next column. Only the consonant rule
    is used, so every break it offers is a correct one (compound seams it cannot see
    are simply not offered); at least three letters stay on either side."""
    if not text:
        return text or ""

    def syllables(word: re.Match) -> str:
        w = word.group(0)
        if any(c.isupper() for c in w[1:]):  # an acronym such as HYVÄ, not a word
            return w
        first_vowel = next(i for i, c in enumerate(w.lower()) if c in VOWELS) if any(c in VOWELS for c in w.lower()) else len(w)
        # After the first vowel only: a word's opening consonants stay together (stra-te-gi-a).
        cuts = [m.start() for m in _SYLLABLE_START.finditer(w) if max(3, first_vowel + 1) <= m.start() <= len(w) - 3]
        parts = [w[i:j] for i, j in zip([0, *cuts], [*cuts, len(w)])]
        return SOFT_HYPHEN.join(parts)

    return _LONG_WORD.sub(syllables, text)
