"""Bin days from the gazetteer: general waste every week, recycling in its week A (odd ISO week) or B
(even), bank holidays moving a collection a day later, and today counting as today."""

from __future__ import annotations

import datetime as dt

import pytest

from knowledge.places.bin_days import bank_holidays, next_collections
from knowledge.places.gazetteer import Row, gazetteer
from knowledge.places.replies import date_words

D = dt.date


def _row(postcode: str) -> Row:
    return gazetteer().by_postcode(postcode)[0]


SWALLOW = "NS1 3NA"  # Swallow Street: Wednesday, recycling week B
LINDEN = "NS1 3WF"  # Linden Street: Wednesday, recycling week A
HOLLY = "NS1 5TX"  # Holly Close: Friday, week B
MEADOW = "NS1 4GD"  # Meadow Walk: Monday, week A
LARK = "NS1 7UZ"  # Lark Walk: Thursday, week A
SWALLOW_CRES = "NS3 9JL"  # Swallow Crescent: Friday, week A


@pytest.mark.parametrize(
    "postcode,today,general,recycling",
    [
        # An ordinary week: today is the collection day, so today counts. Week 49 is odd (A): Swallow
        # Street's recycling is next week.
        (SWALLOW, D(2026, 12, 2), D(2026, 12, 2), D(2026, 12, 9)),
        (LINDEN, D(2026, 12, 2), D(2026, 12, 2), D(2026, 12, 2)),
        (SWALLOW, D(2026, 12, 3), D(2026, 12, 9), D(2026, 12, 9)),
        # Christmas 2026: Friday 25th moves Friday's collection to Saturday; Wednesday's is before it.
        (HOLLY, D(2026, 12, 21), D(2026, 12, 26), D(2026, 12, 26)),
        (SWALLOW, D(2026, 12, 21), D(2026, 12, 23), D(2026, 12, 23)),
        # Week 53: Monday 28th (Boxing Day's substitute) moves the whole week a day later; Friday 1 January
        # is a bank holiday too, and Friday's collection still moves one day, to Saturday.
        (SWALLOW, D(2026, 12, 28), D(2026, 12, 31), D(2027, 1, 13)),
        (LINDEN, D(2026, 12, 28), D(2026, 12, 31), D(2026, 12, 31)),
        (HOLLY, D(2026, 12, 28), D(2027, 1, 2), D(2027, 1, 15)),
        (MEADOW, D(2026, 12, 28), D(2026, 12, 29), D(2026, 12, 29)),
        # Easter 2027: Good Friday 26 March (week 12, B), Easter Monday 29 March (week 13, A).
        (SWALLOW_CRES, D(2027, 3, 22), D(2027, 3, 27), D(2027, 4, 3)),  # Easter Monday's week too
        (MEADOW, D(2027, 3, 29), D(2027, 3, 30), D(2027, 3, 30)),
        (MEADOW, D(2027, 3, 30), D(2027, 3, 30), D(2027, 3, 30)),
        # Early May 2026: Monday 4 May (week 19, A) moves Thursday to Friday.
        (LARK, D(2026, 5, 4), D(2026, 5, 8), D(2026, 5, 8)),
        # The Saturday a Friday collection moved to is still today's.
        (HOLLY, D(2026, 12, 26), D(2026, 12, 26), D(2026, 12, 26)),
        # Christmas 2027: Monday 27 and Tuesday 28 are both bank holidays; Monday's collection moves past both.
        # Recycling is in week 1 of 2028, whose Monday is New Year's substitute day.
        (MEADOW, D(2027, 12, 27), D(2027, 12, 29), D(2028, 1, 4)),
    ],
)
def test_next_collections(postcode: str, today: dt.date, general: dt.date, recycling: dt.date) -> None:
    assert next_collections(_row(postcode), today) == (general, recycling)


def test_week_a_gets_recycling_two_weeks_running_across_iso_week_53() -> None:
    # 2026 has 53 ISO weeks: week 53 and 2027's week 1 are both odd, so both are week A.
    assert D(2026, 12, 31).isocalendar()[1] == 53 and D(2027, 1, 6).isocalendar()[1] == 1
    linden = _row(LINDEN)
    assert next_collections(linden, D(2027, 1, 1)).recycling == D(2027, 1, 6)
    # ...and week B waits three weeks: 23 December (week 52), then 13 January (week 2).
    assert next_collections(_row(SWALLOW), D(2026, 12, 24)).recycling == D(2027, 1, 13)


def test_no_bank_holidays_no_moves() -> None:
    assert next_collections(_row(HOLLY), D(2026, 12, 21), holidays=set()) == (D(2026, 12, 25), D(2026, 12, 25))


def test_the_shipped_bank_holidays_cover_2025_to_2028() -> None:
    days = bank_holidays()
    assert {d.year for d in days} == {2025, 2026, 2027, 2028}
    assert all(sum(1 for d in days if d.year == y) == 8 for y in (2025, 2026, 2027, 2028))
    assert D(2026, 12, 28) in days and D(2028, 1, 3) in days  # substitute days


@pytest.mark.parametrize(
    "day,words",
    [
        (D(2026, 12, 2), "today"),
        (D(2026, 12, 3), "tomorrow"),
        (D(2026, 12, 9), "Wednesday 9 December"),
        (D(2027, 1, 2), "Saturday 2 January 2027"),
    ],
)
def test_dates_read_as_residents_say_them(day: dt.date, words: str) -> None:
    assert date_words(day, D(2026, 12, 2)) == words
