"""When the contact centre is open, and the arithmetic of service-level targets in open hours.

Settings (environment): `BUSINESS_HOURS` like "Mon-Fri 09:00-17:00" (default), `BUSINESS_TIMEZONE`
(default Europe/London), `BANK_HOLIDAYS` as comma-separated dates (2026-12-25,2026-12-28). The database
keeps naive UTC; everything here takes and returns naive UTC and works in local time inside.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Optional
from zoneinfo import ZoneInfo

from knowledge.settings import settings

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SPEC = re.compile(r"^\s*(\w{3})(?:\s*-\s*(\w{3}))?\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$", re.I)


class HoursError(ValueError):
    """A business-hours setting can't be read; the message says which and how it should look."""


@dataclass(frozen=True)
class BusinessHours:
    """Open on `days` (0 = Monday) from `opens` to `closes` local time, except `holidays`."""

    days: frozenset[int]
    opens: dt.time
    closes: dt.time
    tz: ZoneInfo
    holidays: frozenset[dt.date] = frozenset()

    @classmethod
    def parse(cls, spec: str = "Mon-Fri 09:00-17:00", tz: str = "Europe/London", holidays: str = "") -> BusinessHours:
        m = _SPEC.match(spec)
        if not m or m.group(1).lower() not in DAYS or (m.group(2) and m.group(2).lower() not in DAYS):
            raise HoursError(f"BUSINESS_HOURS {spec!r} should look like 'Mon-Fri 09:00-17:00'")
        first = DAYS.index(m.group(1).lower())
        last = DAYS.index(m.group(2).lower()) if m.group(2) else first
        days = (
            frozenset(range(first, last + 1)) if first <= last else frozenset([*range(first, 7), *range(0, last + 1)])
        )
        try:
            opens, closes = dt.time(int(m.group(3)), int(m.group(4))), dt.time(int(m.group(5)), int(m.group(6)))
        except ValueError:
            raise HoursError(f"BUSINESS_HOURS {spec!r}: times must be between 00:00 and 23:59") from None
        if opens >= closes:
            raise HoursError(f"BUSINESS_HOURS {spec!r}: opening time must be before closing time")
        try:
            days_off = frozenset(dt.date.fromisoformat(d.strip()) for d in holidays.split(",") if d.strip())
        except ValueError:
            raise HoursError(f"BANK_HOLIDAYS {holidays!r} should be dates like 2026-12-25, comma-separated") from None
        try:
            zone = ZoneInfo(tz)
        except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
            raise HoursError(f"BUSINESS_TIMEZONE {tz!r} is not a time zone name like Europe/London") from None
        return cls(days, opens, closes, zone, days_off)

    @classmethod
    def from_env(cls) -> BusinessHours:
        s = settings()
        return cls.parse(s.business_hours, s.business_timezone, s.bank_holidays)

    # --- conversions -----------------------------------------------------------------------------------------
    def local(self, utc: dt.datetime) -> dt.datetime:
        return utc.replace(tzinfo=dt.UTC).astimezone(self.tz)

    @staticmethod
    def utc(local: dt.datetime) -> dt.datetime:
        return local.astimezone(dt.UTC).replace(tzinfo=None)

    def _is_working_day(self, day: dt.date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def _window(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        return (
            dt.datetime.combine(day, self.opens, tzinfo=self.tz),
            dt.datetime.combine(day, self.closes, tzinfo=self.tz),
        )

    # --- questions -------------------------------------------------------------------------------------------
    def is_open(self, at: dt.datetime) -> bool:
        local = self.local(at)
        start, end = self._window(local.date())
        return self._is_working_day(local.date()) and start <= local < end

    def next_open(self, at: dt.datetime) -> dt.datetime:
        """`at` if open now, else the next opening time (naive UTC)."""
        local = self.local(at)
        day = local.date()
        for _ in range(400):  # a year of holidays can't make this loop forever
            start, end = self._window(day)
            if self._is_working_day(day) and local < end:
                return self.utc(max(start, local))
            day += dt.timedelta(days=1)
            local = dt.datetime.combine(day, dt.time(0), tzinfo=self.tz)
        raise HoursError("no opening hours in the next 400 days: check BUSINESS_HOURS and BANK_HOLIDAYS")

    def add(self, start: dt.datetime, hours: float) -> dt.datetime:
        """The moment `hours` of open time after `start` (naive UTC): an SLA due time."""
        # Elapsed time, in UTC: aware local datetimes subtract by wall clock, an hour out on clock-change days.
        remaining = dt.timedelta(hours=hours)
        at = self.next_open(start)
        while True:
            end = self.utc(self._window(self.local(at).date())[1])
            if remaining <= end - at:
                return at + remaining
            remaining -= end - at
            at = self.next_open(end)

    def business_hours_between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Open hours between two moments (for 'time to first response in working hours')."""
        total = dt.timedelta()
        at = self.next_open(start)
        while at < end:
            local = self.local(at)
            _, close = self._window(local.date())
            total += min(self.utc(close), end) - at
            at = self.next_open(self.utc(close))
        return total.total_seconds() / 3600

    def describe(self, at: dt.datetime, due: dt.datetime) -> str:
        """When the resident will hear back, in plain words: 'by 3:30pm today', 'after 9am on Monday 23 November'."""
        due_local, now_local = self.local(due), self.local(at)
        when = _clock(due_local)
        if due_local.date() == now_local.date():
            day = "today"
        elif due_local.date() == now_local.date() + dt.timedelta(days=1):
            day = "tomorrow"
        else:
            day = f"on {due_local:%A} {due_local.day} {due_local:%B}"
        if self.is_open(at):
            return f"Our team is working now and aims to reply by {when} {day}."
        opens = self.local(self.next_open(at))
        opens_day = (
            "today"
            if opens.date() == now_local.date()
            else "tomorrow"
            if opens.date() == now_local.date() + dt.timedelta(days=1)
            else f"on {opens:%A} {opens.day} {opens:%B}"
        )
        return (
            f"Our team is not working right now. They're back at {_clock(opens)} {opens_day} "
            f"and aim to reply by {when} {day}."
        )


def _clock(t: dt.datetime) -> str:
    """9am, 3:30pm: how GOV.UK style writes times."""
    hour = t.hour % 12 or 12
    suffix = "am" if t.hour < 12 else "pm"
    return f"{hour}{suffix}" if t.minute == 0 else f"{hour}:{t.minute:02d}{suffix}"


def sla_hours(priority: str) -> float:
    """Open hours allowed before a first response (SLA_URGENT_HOURS default 1, SLA_NORMAL_HOURS default 16,
    i.e. two working days)."""
    s = settings()
    return s.sla_urgent_hours if priority == "urgent" else s.sla_normal_hours


def idle_limit() -> Optional[dt.timedelta]:
    """After this long with no activity on an open case, the bot answers the conversation again
    (CASE_IDLE_HOURS, default 72; 0 turns it off)."""
    hours = settings().case_idle_hours
    return dt.timedelta(hours=hours) if hours > 0 else None
