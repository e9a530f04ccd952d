"""Finnish working days: the public holidays and when an approval wait ends."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from dateutil.easter import easter as reference_easter

from tasks.contracts.calendar import after_working_days, easter, is_working_day, public_holidays

HELSINKI = ZoneInfo("Europe/Helsinki")


def test_easter_agrees_with_a_reference_for_two_centuries():
    assert all(easter(year) == reference_easter(year) for year in range(1950, 2150))


def test_the_holidays_of_2024_are_finlands():
    d = dt.date
    weekday_holidays = sorted(h for h in public_holidays(2024) if h.weekday() < 5)
    assert weekday_holidays == [
        d(2024, 1, 1),  # uudenvuodenpäivä
        d(2024, 3, 29),  # pitkäperjantai
        d(2024, 4, 1),  # 2. pääsiäispäivä
        d(2024, 5, 1),  # vappu
        d(2024, 5, 9),  # helatorstai
        d(2024, 6, 21),  # juhannusaatto
        d(2024, 12, 6),  # itsenäisyyspäivä
        d(2024, 12, 24),  # jouluaatto
        d(2024, 12, 25),  # joulupäivä
        d(2024, 12, 26),  # tapaninpäivä
    ]  # loppiainen 6.1.2024 was a Saturday
    assert d(2024, 11, 2) in public_holidays(2024) and d(2025, 11, 1) in public_holidays(2025)  # pyhäinpäivä
    assert d(2025, 6, 20) in public_holidays(2025) and d(2025, 6, 21) in public_holidays(2025)  # juhannus


@pytest.mark.parametrize(
    ("start", "days", "ends"),
    [
        (dt.datetime(2024, 9, 20, 7, 30), 3, dt.datetime(2024, 9, 25, 7, 30)),  # Friday: over the weekend
        (dt.datetime(2024, 12, 20, 9, 0), 3, dt.datetime(2024, 12, 30, 9, 0)),  # Christmas not counted
        (dt.datetime(2024, 3, 27, 9, 0), 3, dt.datetime(2024, 4, 3, 9, 0)),  # nor Easter
        (dt.datetime(2024, 7, 12, 7, 0), 10, dt.datetime(2024, 7, 26, 7, 0)),  # the July forecast: two weeks
    ],
)
def test_a_wait_ends_its_working_days_later_at_the_same_time_of_day(start, days, ends):
    assert after_working_days(start.replace(tzinfo=HELSINKI), days) == ends.replace(tzinfo=HELSINKI)


def test_across_the_change_to_winter_time_the_wait_ends_at_the_local_hour():
    start = dt.datetime(2024, 10, 25, 9, 0, tzinfo=HELSINKI)  # summer time (UTC+3); Sunday 27.10. turns back
    ends = after_working_days(start, 1)
    assert (ends.date(), ends.hour, ends.utcoffset()) == (dt.date(2024, 10, 28), 9, dt.timedelta(hours=2))
    assert not is_working_day(dt.date(2024, 10, 26)) and is_working_day(dt.date(2024, 10, 28))
