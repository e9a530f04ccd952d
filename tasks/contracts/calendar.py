"""Finnish working days: the public holidays (pyhäpäivät) and the weekend, for the day an approval wait ends.

Holidays that fall on a weekday in Finland: New Year's Day, Epiphany, Good
Friday, Easter Monday, May Day, Ascension Day, Midsummer Eve (by custom a day
off), Independence Day, Christmas Eve, Christmas Day and St Stephen's Day.
Easter Sunday, Whit Sunday, Midsummer Day and All Saints' Day always fall on a
weekend and are listed for completeness.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

FIXED = ((1, 1), (1, 6), (5, 1), (12, 6), (12, 24), (12, 25), (12, 26))


def easter(year: int) -> dt.date:
    """Easter Sunday of the Gregorian calendar (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 (the algorithm's own letter)
    m = (a + 11 * h + 19 * l) // 433
    month = (h + l - 7 * m + 90) // 25
    return dt.date(year, month, (h + l - 7 * m + 33 * month + 19) % 32)


def _weekday_between(year: int, month: int, first: int, last: int, weekday: int) -> dt.date:
    return next(
        dt.date(year, month, 1) + dt.timedelta(days=day - 1)
        for day in range(first, last + 1)
        if (dt.date(year, month, 1) + dt.timedelta(days=day - 1)).weekday() == weekday
    )


@cache
def public_holidays(year: int) -> frozenset[dt.date]:
    """Finland's public holidays of `year`, with Midsummer Eve and Christmas Eve."""
    sunday = easter(year)
    moving = [sunday + dt.timedelta(days=n) for n in (-2, 0, 1, 39, 49)]  # Good Friday … Whit Sunday
    midsummer_eve = _weekday_between(year, 6, 19, 25, 4)  # the Friday between 19 and 25 June
    all_saints = next(  # the Saturday between 31 October and 6 November
        d for d in (dt.date(year, 10, 31) + dt.timedelta(days=n) for n in range(7)) if d.weekday() == 5
    )
    return frozenset(
        [dt.date(year, m, d) for m, d in FIXED]
        + moving
        + [midsummer_eve, midsummer_eve + dt.timedelta(days=1), all_saints]
    )


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in public_holidays(day.year)


def after_working_days(start: dt.datetime, days: int) -> dt.datetime:
    """The same time of day, `days` working days after `start` (a Friday's wait of three days ends on Wednesday;
    one begun before Christmas ends after St Stephen's Day)."""
    day = start.date()
    left = days
    while left > 0:  # a few days, counted one by one
        day += dt.timedelta(days=1)
        left -= is_working_day(day)
    return dt.datetime.combine(day, start.timetz())
