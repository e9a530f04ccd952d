"""Finnish typography for the report: Babel's fi_FI plus the conventions of published tables.

Thousands are grouped with a no-break space, decimals use a comma, the minus is
U+2212, percentages read `4,6 %` and dates `31.8.2024`.
"""

from __future__ import annotations

import datetime as dt
import math

from babel.dates import format_date
from babel.numbers import format_decimal

LOCALE = "fi_FI"
MINUS = "\u2212"
NBSP = "\u00a0"
MISSING = "–"


def is_missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def number(value: float | None, decimals: int = 0, signed: bool = False) -> str:
    """`−2 691 055` / `1 234,5`; a value that rounds to zero has no sign; `signed` writes `+` before a positive one."""
    if is_missing(value):
        return MISSING
    value = round(float(value), decimals)
    if value == 0:
        value = 0.0
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    text = format_decimal(value, pattern, locale=LOCALE).replace("-", MINUS)
    return f"+{text}" if signed and value > 0 else text


def short(value: float) -> str:
    """A setting's number in running text: `0,2`, `72`, `1,5`: no grouping, no trailing zeros."""
    return f"{value:g}".replace(".", ",")


def lower_first(text: str) -> str:
    """A name in the middle of a sentence: `Hoitoon pääsy` → `hoitoon pääsy`, but `HUS-yhtymä` stays."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def count(n: int, one: str, many: str) -> str:
    """A count with its noun: `1 poikkeama` but `0 poikkeamaa`, `3 poikkeamaa` (Finnish takes
    the partitive after every numeral but one)."""
    return f"{number(n)} {one if n == 1 else many}"


# Numbers below ten are written in words in running text, in the case the sentence needs.
_NUMERALS = {
    "nominative": ("nolla", "yksi", "kaksi", "kolme", "neljä", "viisi", "kuusi", "seitsemän", "kahdeksan", "yhdeksän"),
    "genitive": (
        "nollan",
        "yhden",
        "kahden",
        "kolmen",
        "neljän",
        "viiden",
        "kuuden",
        "seitsemän",
        "kahdeksan",
        "yhdeksän",
    ),
    "partitive": (
        "nollaa",
        "yhtä",
        "kahta",
        "kolmea",
        "neljää",
        "viittä",
        "kuutta",
        "seitsemää",
        "kahdeksaa",
        "yhdeksää",
    ),
    "elative": (
        "nollasta",
        "yhdestä",
        "kahdesta",
        "kolmesta",
        "neljästä",
        "viidestä",
        "kuudesta",
        "seitsemästä",
        "kahdeksasta",
        "yhdeksästä",
    ),
    "inessive": (
        "nollassa",
        "yhdessä",
        "kahdessa",
        "kolmessa",
        "neljässä",
        "viidessä",
        "kuudessa",
        "seitsemässä",
        "kahdeksassa",
        "yhdeksässä",
    ),
}


def numeral(n: int, case: str = "nominative") -> str:
    """A count in running text: below ten in words in the given case (`kolmen`, `neljästä`), otherwise digits."""
    if isinstance(n, int | float) and float(n).is_integer() and 0 <= n < 10:
        return _NUMERALS[case][int(n)]
    return number(n)


def count_words(n: int, one: str, many: str) -> str:
    """A count with its noun in running text: below ten in words (`kolme selitystä`, `yksi selitys`)."""
    return f"{numeral(n)} {one if n == 1 else many}"


def thousands(eur: float | None, decimals: int = 0, signed: bool = False) -> str:
    """Euros shown in 1 000 €."""
    return MISSING if is_missing(eur) else number(eur / 1000, decimals, signed)


def pct(value: float | None, decimals: int = 1) -> str:
    """`4,6 %` (value already in percent)."""
    return MISSING if is_missing(value) else f"{number(value, decimals)}{NBSP}%"


def millions(eur: float | None, decimals: int = 1) -> str:
    """`2 691,1 milj. euroa`."""
    return MISSING if is_missing(eur) else f"{number(eur / 1e6, decimals)}{NBSP}milj.{NBSP}euroa"


def date(d: dt.date) -> str:
    return format_date(d, "d.M.yyyy", locale=LOCALE)


def month_name(month: int) -> str:
    return format_date(dt.date(2000, month, 1), "LLLL", locale=LOCALE)


def month_abbr(month: int) -> str:
    """A month's short form as Finnish writes it: `tammi`, `maalis`, `marras` (not an ambiguous `mar`)."""
    return month_name(month).removesuffix("kuu")


def period(year: int, month: int, case: str = "nominative", with_year: bool = True) -> str:
    """`tammi–elokuu 2024` for a year to date, `tammikuu 2024` for January alone; in running text the
    inessive, `tammi–elokuussa 2024` (`case="inessive"`)."""
    last = month_name(month) + ("ssa" if case == "inessive" else "")
    year_text = f" {year}" if with_year else ""
    if month == 1:
        return f"{last}{year_text}"
    first = month_name(1).removesuffix("kuu")
    return f"{first}–{last}{year_text}"


def euros(eur: float, case: str = "partitive") -> str:
    """An amount in running text, rounded as a reader takes it: `3,1 milj. euroa`, `450 000 euroa`
    (`case="adessive"`: `3,1 milj. eurolla`, as after *ylittää*). Always the magnitude: the sentence says
    the direction."""
    word = {"partitive": "euroa", "adessive": "eurolla"}[case]
    size = abs(float(eur))
    if size >= 100_000:
        return f"{number(size / 1e6, 1)}{NBSP}milj.{NBSP}{word}"
    if size >= 1_000:
        return f"{number(round(size, -3))}{NBSP}{word}"
    return f"alle 1{NBSP}000{NBSP}{word}"


# Comparatives agree with their subject's number (palvelujen ostot ovat suuremmat, tulo on suurempi).
_COMPARATIVES = {"suurempi": "suuremmat", "pienempi": "pienemmät", "parempi": "paremmat", "heikompi": "heikommat"}


def comparative(word: str, plural: bool) -> str:
    """`suurempi` or, for a plural subject, `suuremmat`."""
    return _COMPARATIVES[word] if plural else word


# Units whose numbers read without a unit after them.
BARE_UNITS = ("NPS",)
# Milestones are 0 (not yet) or 1 (done).
MILESTONE_UNIT = "valmis"


def measure(value: float | None, unit: str, decimals: int = 0) -> str:
    """An indicator's value in its unit: `97,8 %`, `0,15 vrk`, `−5`, `724 henkilöä`, `valmis`."""
    if is_missing(value):
        return MISSING
    if unit == "%":
        return pct(value, decimals)
    if unit == MILESTONE_UNIT:
        return "valmis" if value >= 1 else "kesken"
    text = number(value, decimals)
    return text if unit in BARE_UNITS else f"{text}{NBSP}{unit}"
