"""When a household's bins are next collected, from its gazetteer row and the bank holidays.

General waste goes every week on the row's weekday. Recycling (and garden waste) goes on the same weekday
in alternate weeks: week A is an ISO week with an odd number, week B an even one. So at a year with 53 ISO
weeks (2026), week 53 and the next year's week 1 are both A: A streets get recycling two weeks running.

A bank holiday on or before the collection day in its week (Monday up to that day) moves the collection one
day later ("for the rest of that week", as the council's README says). Where that next day is itself a bank
holiday (Christmas 2027: Monday and Tuesday), it moves on to the first day that isn't, so a collection never
falls on a bank holiday. The bank holidays are England and Wales's, listed in
knowledge/content/places/bank_holidays.yml.

Today is always passed in (`today`): the caller owns the clock, so tests can stand on any day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple, Optional

import yaml

from knowledge.places.gazetteer import Row
from knowledge.settings import CONTENT_DIR

BANK_HOLIDAYS_FILE = CONTENT_DIR / "places" / "bank_holidays.yml"


class Collections(NamedTuple):
    """The next collection dates, today included: `general` waste and `recycling` (with garden waste)."""

    general: dt.date
    recycling: dt.date


@lru_cache(maxsize=4)
def _read_holidays(path: Path, mtime_ns: int) -> frozenset[dt.date]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    days = data.get("bank_holidays") or []
    out = set()
    for day in days:
        if isinstance(day, dt.datetime):
            day = day.date()
        if not isinstance(day, dt.date):
            day = dt.date.fromisoformat(str(day))  # raises ValueError naming the bad date
        out.add(day)
    return frozenset(out)


def bank_holidays(path: Optional[Path] = None) -> frozenset[dt.date]:
    """The bank holidays in the file (default: the shipped England and Wales list), read once while the
    file is unchanged."""
    path = Path(path or BANK_HOLIDAYS_FILE).resolve()
    return _read_holidays(path, path.stat().st_mtime_ns)


def collection_in_week(monday: dt.date, weekday: int, holidays: Collection[dt.date]) -> dt.date:
    """The day a collection due on `weekday` (Monday=0) of the week starting `monday` actually happens:
    one day later if a bank holiday falls from that Monday up to the day, and never on a bank holiday."""
    day = monday + dt.timedelta(days=weekday)
    if any(monday <= h <= day for h in holidays):
        day += dt.timedelta(days=1)
        while day in holidays:  # Christmas 2027: Monday moves past Tuesday's bank holiday too
            day += dt.timedelta(days=1)
    return day


def is_recycling_week(monday: dt.date, recycling_week: str) -> bool:
    """Is the week starting `monday` the row's recycling week? A: odd ISO week number; B: even."""
    odd = monday.isocalendar()[1] % 2 == 1
    return odd if recycling_week == "A" else not odd


def next_collections(row: Row, today: dt.date, holidays: Optional[Collection[dt.date]] = None) -> Collections:
    """The next general-waste and recycling days for the household on `row`, on or after `today` (a
    collection today is today's). `holidays`: the bank holidays (default: the shipped list)."""
    holidays = bank_holidays() if holidays is None else holidays
    this_monday = today - dt.timedelta(days=today.weekday())
    general: Optional[dt.date] = None
    recycling: Optional[dt.date] = None
    # From last week: a Sunday collection moved by a bank holiday can fall on this week's Monday.
    for weeks in range(-1, 4):
        monday = this_monday + dt.timedelta(weeks=weeks)
        day = collection_in_week(monday, row.bin_weekday, holidays)
        if day < today:
            continue
        general = general or day
        if recycling is None and is_recycling_week(monday, row.recycling_week):
            recycling = day
        if general and recycling:
            break
    assert general is not None and recycling is not None  # one of any two weeks in a row is the recycling week
    return Collections(general, recycling)


def moved(row: Row, day: dt.date) -> bool:
    """Was the collection on `day` moved from the row's usual weekday by a bank holiday?"""
    return day.weekday() != row.bin_weekday
