"""The vocabulary's periods and dates: what a controller types, read the way they meant it."""

from __future__ import annotations

import datetime as dt

import pytest

from tasks.contracts.vocab import Period, parse_date


def test_a_period_knows_its_last_day_across_leap_years_and_year_ends():
    assert Period.parse("2024-02").end == dt.date(2024, 2, 29)
    assert Period.parse("2023-02").end == dt.date(2023, 2, 28)
    assert Period.parse("2024-12").end == dt.date(2024, 12, 31)


@pytest.mark.parametrize("text", ["24.9.2024", "24.09.2024", " 24.9.2024 ", "2024-09-24"])
def test_dates_are_read_the_finnish_and_the_iso_way(text):
    assert parse_date(text) == dt.date(2024, 9, 24)


@pytest.mark.parametrize("text", ["31.9.2024", "9/24/2024", "24.9.", "huomenna"])
def test_a_date_that_is_not_one_is_refused_in_finnish(text):
    with pytest.raises(ValueError, match=r"Virheellinen päivämäärä .*24\.9\.2024 tai 2024-09-24"):
        parse_date(text)
