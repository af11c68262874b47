"""Quiet hours: residents aren't sent report updates at night (REPORT_QUIET_HOURS, like "21:00-08:00", in
the council's time zone BUSINESS_TIMEZONE). An update that comes at night waits for the morning."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional
from zoneinfo import ZoneInfo

from knowledge.settings import SettingError, settings


@dataclass(frozen=True)
class QuietHours:
    """From `start` to `end` local time in `tz` (start later than end: the quiet spans midnight)."""

    start: dt.time
    end: dt.time
    tz: ZoneInfo

    @classmethod
    def parse(cls, spec: str, tz: str = "Europe/London") -> Optional[QuietHours]:
        """QuietHours from "HH:MM-HH:MM", or None for an empty spec (no quiet hours). Raises SettingError."""
        if not spec.strip():
            return None
        try:
            start, end = (dt.time.fromisoformat(part.strip()) for part in spec.split("-"))
        except ValueError as error:
            raise SettingError(f"REPORT_QUIET_HOURS must look like 21:00-08:00, not {spec!r}") from error
        if start == end:
            return None
        return cls(start, end, ZoneInfo(tz))

    @classmethod
    def from_env(cls) -> Optional[QuietHours]:
        """The quiet hours in force (None: none)."""
        s = settings()
        return cls.parse(s.report_quiet_hours, s.business_timezone)

    def _quiet(self, local: dt.time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, now: dt.datetime) -> dt.datetime:
        """`now` (naive UTC) if it isn't quiet, else when the quiet ends (naive UTC)."""
        local = now.replace(tzinfo=dt.UTC).astimezone(self.tz)
        if not self._quiet(local.time()):
            return now
        day = local.date() if local.time() < self.end else local.date() + dt.timedelta(days=1)
        end = dt.datetime.combine(day, self.end, tzinfo=self.tz)
        return end.astimezone(dt.UTC).replace(tzinfo=None)


def next_allowed(now: dt.datetime) -> dt.datetime:
    """When an update may reach a resident: now, or the end of tonight's quiet hours (naive UTC)."""
    quiet = QuietHours.from_env()
    return now if quiet is None else quiet.next_allowed(now)
