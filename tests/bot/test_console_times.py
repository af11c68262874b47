"""Staff read times on the council's clock: British Summer Time in summer, GMT in winter."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.console.templating import uk_time


def test_summer_times_are_an_hour_ahead_of_utc() -> None:
    assert uk_time(dt.datetime(2026, 7, 1, 8, 30)) == "01 Jul 2026 09:30"


def test_winter_times_are_utc() -> None:
    assert uk_time(dt.datetime(2026, 12, 1, 8, 30), "%d %b %H:%M") == "01 Dec 08:30"


def test_another_council_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUSINESS_TIMEZONE", "Europe/Dublin")
    assert uk_time(dt.datetime(2026, 7, 1, 8, 30), "%H:%M") == "09:30"
    assert uk_time(None) == ""
