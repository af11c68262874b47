"""When the contact centre is open, and the SLA arithmetic residents and staff see as "reply by 3:30pm today".

Everything takes and returns naive UTC; the office works in Europe/London, so summer times are an hour
earlier in UTC. Dates used: 2026 (Friday 20 November, Friday 10 July; clocks change on Sunday 29 March and
Sunday 25 October; Christmas Day is a Friday, the Boxing Day substitute Monday 28 December).
"""

from __future__ import annotations

import datetime as dt

import pytest

from knowledge.casework.business_hours import BusinessHours, HoursError, idle_limit, sla_hours

D = dt.datetime
HOURS = BusinessHours.parse()
CHRISTMAS = BusinessHours.parse(holidays="2026-12-25, 2026-12-28")


# --- parse --------------------------------------------------------------------------------------------------


def test_default_is_weekdays_nine_to_five_in_london() -> None:
    assert HOURS.days == frozenset({0, 1, 2, 3, 4})
    assert (HOURS.opens, HOURS.closes) == (dt.time(9), dt.time(17))
    assert HOURS.tz.key == "Europe/London"
    assert HOURS.holidays == frozenset()


def test_from_env_uses_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUSINESS_HOURS", "Mon-Sat 08:30-18:00")
    monkeypatch.setenv("BUSINESS_TIMEZONE", "Europe/Dublin")
    monkeypatch.setenv("BANK_HOLIDAYS", "2026-12-25")
    h = BusinessHours.from_env()
    assert h.days == frozenset(range(6))
    assert (h.opens, h.closes) == (dt.time(8, 30), dt.time(18))
    assert h.tz.key == "Europe/Dublin"
    assert h.holidays == frozenset({dt.date(2026, 12, 25)})


def test_from_env_without_settings_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BUSINESS_HOURS", "BUSINESS_TIMEZONE", "BANK_HOLIDAYS"):
        monkeypatch.delenv(name, raising=False)
    assert BusinessHours.from_env() == HOURS


def test_monday_to_saturday_with_half_hours() -> None:
    h = BusinessHours.parse("Mon-Sat 08:30-18:00")
    assert h.days == frozenset({0, 1, 2, 3, 4, 5})
    assert (h.opens, h.closes) == (dt.time(8, 30), dt.time(18, 0))
    saturday = D(2026, 11, 21, 8, 30)  # GMT: local == UTC
    assert h.is_open(saturday) and not h.is_open(saturday - dt.timedelta(minutes=1))
    assert not h.is_open(D(2026, 11, 22, 12, 0))  # Sunday


def test_days_wrap_round_the_weekend() -> None:
    h = BusinessHours.parse("Sat-Mon 10:00-14:00")
    assert h.days == frozenset({5, 6, 0})
    assert h.is_open(D(2026, 11, 22, 11, 0))  # Sunday
    assert h.is_open(D(2026, 11, 23, 11, 0))  # Monday
    assert not h.is_open(D(2026, 11, 24, 11, 0))  # Tuesday


def test_single_day_and_case_and_spacing_are_forgiven() -> None:
    h = BusinessHours.parse("  wed 9:00 - 12:30 ")
    assert h.days == frozenset({2})
    assert (h.opens, h.closes) == (dt.time(9), dt.time(12, 30))


@pytest.mark.parametrize(
    "spec",
    [
        "Mon-Fri 9-17",
        "Mun-Fri 09:00-17:00",
        "Mon-Fry 09:00-17:00",
        "weekdays",
        "",
        "Mon-Fri 09:00",
        "Monday-Friday 09:00-17:00",
    ],
)
def test_unreadable_hours_name_the_setting(spec: str) -> None:
    with pytest.raises(HoursError, match="BUSINESS_HOURS") as err:
        BusinessHours.parse(spec)
    assert "Mon-Fri 09:00-17:00" in str(err.value)  # says how it should look


@pytest.mark.parametrize("spec", ["Mon-Fri 17:00-09:00", "Mon-Fri 09:00-09:00"])
def test_closing_before_opening_is_refused(spec: str) -> None:
    with pytest.raises(HoursError, match="BUSINESS_HOURS.*opening time must be before closing time"):
        BusinessHours.parse(spec)


@pytest.mark.parametrize("spec", ["Mon-Fri 09:00-25:00", "Mon-Fri 09:60-17:00"])
def test_impossible_times_name_the_setting(spec: str) -> None:
    with pytest.raises(HoursError, match="BUSINESS_HOURS"):
        BusinessHours.parse(spec)


def test_unknown_timezone_names_the_setting() -> None:
    with pytest.raises(HoursError, match="BUSINESS_TIMEZONE"):
        BusinessHours.parse(tz="Europe/Northshire")


@pytest.mark.parametrize("holidays", ["2026-13-01", "25/12/2026", "2026-12-25,Christmas", "2026-02-30"])
def test_bad_holiday_dates_name_the_setting(holidays: str) -> None:
    with pytest.raises(HoursError, match="BANK_HOLIDAYS") as err:
        BusinessHours.parse(holidays=holidays)
    assert "2026-12-25" in str(err.value)


def test_holiday_list_tolerates_spaces_and_trailing_commas() -> None:
    assert CHRISTMAS.holidays == frozenset({dt.date(2026, 12, 25), dt.date(2026, 12, 28)})
    assert BusinessHours.parse(holidays=" 2026-12-25 ,, ").holidays == frozenset({dt.date(2026, 12, 25)})


# --- is_open / next_open -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "at, is_open",
    [
        (D(2026, 11, 20, 8, 59, 59), False),  # Friday, GMT: just before nine
        (D(2026, 11, 20, 9, 0), True),  # nine o'clock sharp
        (D(2026, 11, 20, 16, 59, 59), True),
        (D(2026, 11, 20, 17, 0), False),  # five o'clock is closed
        (D(2026, 11, 21, 12, 0), False),  # Saturday
        (D(2026, 11, 22, 12, 0), False),  # Sunday
        (D(2026, 7, 10, 8, 0), True),  # July: 08:00 UTC is 9am BST
        (D(2026, 7, 10, 7, 59), False),
        (D(2026, 7, 10, 16, 0), False),  # 5pm BST
        (D(2026, 7, 10, 15, 59), True),
    ],
)
def test_is_open_at_the_boundaries(at: dt.datetime, is_open: bool) -> None:
    assert HOURS.is_open(at) is is_open


def test_bank_holidays_are_closed() -> None:
    assert HOURS.is_open(D(2026, 12, 25, 12, 0))
    assert not CHRISTMAS.is_open(D(2026, 12, 25, 12, 0))
    assert not CHRISTMAS.is_open(D(2026, 12, 28, 12, 0))
    assert CHRISTMAS.is_open(D(2026, 12, 29, 12, 0))


@pytest.mark.parametrize(
    "at, opens",
    [
        (D(2026, 11, 20, 10, 15), D(2026, 11, 20, 10, 15)),  # open now: now
        (D(2026, 11, 20, 7, 0), D(2026, 11, 20, 9, 0)),  # early: today at nine
        (D(2026, 11, 20, 17, 0), D(2026, 11, 23, 9, 0)),  # Friday after five: Monday
        (D(2026, 11, 21, 12, 0), D(2026, 11, 23, 9, 0)),  # Saturday: Monday
        (D(2026, 7, 10, 17, 0), D(2026, 7, 13, 8, 0)),  # summer: 9am BST is 08:00 UTC
        (D(2026, 7, 10, 23, 30), D(2026, 7, 13, 8, 0)),  # 00:30 BST Saturday
    ],
)
def test_next_open(at: dt.datetime, opens: dt.datetime) -> None:
    assert HOURS.next_open(at) == opens


def test_next_open_skips_bank_holidays() -> None:
    assert CHRISTMAS.next_open(D(2026, 12, 24, 17, 0)) == D(2026, 12, 29, 9, 0)


def test_no_opening_hours_at_all_is_an_error_not_a_hang() -> None:
    every_monday = ",".join(str(dt.date(2026, 11, 23) + dt.timedelta(weeks=w)) for w in range(60))
    h = BusinessHours.parse("Mon 09:00-17:00", holidays=every_monday)
    with pytest.raises(HoursError, match="BUSINESS_HOURS and BANK_HOLIDAYS"):
        h.next_open(D(2026, 11, 20, 12, 0))


# --- add: SLA due times --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start, hours, due",
    [
        (D(2026, 11, 17, 10, 0), 1, D(2026, 11, 17, 11, 0)),  # Tuesday morning: same day
        (D(2026, 11, 17, 16, 30), 1, D(2026, 11, 18, 9, 30)),  # over the evening
        (D(2026, 11, 20, 16, 30), 1, D(2026, 11, 23, 9, 30)),  # Friday over the weekend
        (D(2026, 11, 21, 3, 0), 1, D(2026, 11, 23, 10, 0)),  # asked on Saturday: clock starts Monday
        (D(2026, 11, 17, 10, 0), 16, D(2026, 11, 19, 10, 0)),  # two working days
        (D(2026, 11, 17, 10, 0), 7, D(2026, 11, 17, 17, 0)),  # exactly to closing
        (D(2026, 11, 17, 10, 0), 0.25, D(2026, 11, 17, 10, 15)),
        (D(2026, 7, 10, 15, 30), 1, D(2026, 7, 13, 8, 30)),  # summer Friday 4:30pm BST -> 9:30am BST Monday
        (D(2026, 7, 14, 8, 0), 2, D(2026, 7, 14, 10, 0)),  # 9am BST + 2h = 11am BST
    ],
)
def test_add_counts_only_open_hours(start: dt.datetime, hours: float, due: dt.datetime) -> None:
    assert HOURS.add(start, hours) == due


def test_add_across_the_clocks_going_back() -> None:
    # Friday 23 October 4:30pm BST (15:30 UTC); clocks go back on Sunday; Monday 9:30am GMT is 09:30 UTC.
    assert HOURS.add(D(2026, 10, 23, 15, 30), 1) == D(2026, 10, 26, 9, 30)


def test_add_across_the_clocks_going_forward() -> None:
    # Friday 27 March 4:30pm GMT (16:30 UTC); clocks go forward on Sunday; Monday 9:30am BST is 08:30 UTC.
    assert HOURS.add(D(2026, 3, 27, 16, 30), 1) == D(2026, 3, 30, 8, 30)


def test_add_skips_bank_holidays() -> None:
    # Christmas Eve 4:30pm: half an hour that day, then Friday 25 and Monday 28 are holidays.
    assert CHRISTMAS.add(D(2026, 12, 24, 16, 30), 1) == D(2026, 12, 29, 9, 30)
    assert HOURS.add(D(2026, 12, 24, 16, 30), 1) == D(2026, 12, 25, 9, 30)


def test_add_and_between_agree_on_a_clock_change_day() -> None:
    always = BusinessHours.parse("Mon-Sun 00:00-23:59")
    start = D(2026, 3, 29, 0, 0)  # midnight GMT; at 1am GMT the clocks go forward to 2am BST
    due = always.add(start, 12)
    assert due == D(2026, 3, 29, 12, 0)  # twelve real hours later
    assert always.business_hours_between(start, due) == pytest.approx(12)


# --- business_hours_between ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start, end, hours",
    [
        (D(2026, 11, 17, 10, 0), D(2026, 11, 17, 11, 30), 1.5),
        (D(2026, 11, 20, 16, 0), D(2026, 11, 23, 10, 0), 2.0),  # Friday 4pm to Monday 10am: 1h + 1h
        (D(2026, 11, 21, 10, 0), D(2026, 11, 22, 10, 0), 0.0),  # all weekend
        (D(2026, 11, 17, 18, 0), D(2026, 11, 18, 8, 0), 0.0),  # overnight
        (D(2026, 11, 17, 8, 0), D(2026, 11, 17, 18, 0), 8.0),  # a whole day, counted from nine to five
        (D(2026, 11, 17, 12, 0), D(2026, 11, 17, 11, 0), 0.0),  # end before start
        (D(2026, 7, 14, 8, 0), D(2026, 7, 14, 9, 0), 1.0),  # summer: open at 08:00 UTC
    ],
)
def test_business_hours_between(start: dt.datetime, end: dt.datetime, hours: float) -> None:
    assert HOURS.business_hours_between(start, end) == pytest.approx(hours)


def test_business_hours_between_skips_bank_holidays() -> None:
    assert CHRISTMAS.business_hours_between(D(2026, 12, 24, 16, 0), D(2026, 12, 29, 10, 0)) == pytest.approx(2)


def test_between_undoes_add() -> None:
    for start in (D(2026, 11, 20, 16, 30), D(2026, 7, 10, 15, 30), D(2026, 10, 23, 15, 30), D(2026, 11, 21, 3)):
        for hours in (0.5, 1, 7, 16, 40):
            assert HOURS.business_hours_between(start, HOURS.add(start, hours)) == pytest.approx(hours)


# --- describe: what the resident reads ------------------------------------------------------------------------


def test_describe_while_open_today() -> None:
    at = D(2026, 11, 17, 14, 30)  # Tuesday 2:30pm GMT
    assert HOURS.describe(at, HOURS.add(at, 1)) == "Our team is working now and aims to reply by 3:30pm today."


def test_describe_uses_local_time_in_summer() -> None:
    at = D(2026, 7, 14, 13, 30)  # 2:30pm BST
    assert HOURS.describe(at, HOURS.add(at, 1)) == "Our team is working now and aims to reply by 3:30pm today."


def test_describe_whole_hours_and_noon() -> None:
    at = D(2026, 11, 17, 10, 0)
    assert HOURS.describe(at, D(2026, 11, 17, 11, 0)).endswith("reply by 11am today.")
    assert HOURS.describe(at, D(2026, 11, 17, 12, 0)).endswith("reply by 12pm today.")


def test_describe_while_open_due_tomorrow() -> None:
    at = D(2026, 11, 17, 16, 30)
    assert HOURS.describe(at, HOURS.add(at, 1)) == "Our team is working now and aims to reply by 9:30am tomorrow."


def test_describe_while_open_due_after_the_weekend_names_the_day() -> None:
    at = D(2026, 11, 20, 16, 30)
    assert (
        HOURS.describe(at, HOURS.add(at, 1))
        == "Our team is working now and aims to reply by 9:30am on Monday 23 November."
    )


def test_describe_when_closed_says_when_they_are_back() -> None:
    friday_evening = D(2026, 11, 20, 18, 0)
    assert HOURS.describe(friday_evening, HOURS.add(friday_evening, 1)) == (
        "Our team is not working right now. They're back at 9am on Monday 23 November "
        "and aim to reply by 10am on Monday 23 November."
    )
    thursday_evening = D(2026, 11, 19, 20, 0)
    assert HOURS.describe(thursday_evening, HOURS.add(thursday_evening, 16)) == (
        "Our team is not working right now. They're back at 9am tomorrow and aim to reply by 5pm on Monday 23 November."
    )
    early = D(2026, 11, 17, 7, 0)
    assert HOURS.describe(early, HOURS.add(early, 1)) == (
        "Our team is not working right now. They're back at 9am today and aim to reply by 10am today."
    )


def test_describe_closed_with_half_hour_opening() -> None:
    h = BusinessHours.parse("Mon-Sat 08:30-18:00")
    at = D(2026, 7, 14, 6, 0)  # 7am BST
    assert h.describe(at, h.add(at, 1)) == (
        "Our team is not working right now. They're back at 8:30am today and aim to reply by 9:30am today."
    )


def test_describe_late_evening_in_summer_is_tomorrow_local() -> None:
    # 23:30 UTC on Monday is 00:30 BST on Tuesday: "today" is Tuesday for the resident.
    at = D(2026, 7, 13, 23, 30)
    assert HOURS.describe(at, HOURS.add(at, 1)) == (
        "Our team is not working right now. They're back at 9am today and aim to reply by 10am today."
    )


# --- settings -------------------------------------------------------------------------------------------------


def test_sla_hours_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLA_URGENT_HOURS", raising=False)
    monkeypatch.delenv("SLA_NORMAL_HOURS", raising=False)
    assert sla_hours("urgent") == 1
    assert sla_hours("normal") == 16


def test_sla_hours_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_URGENT_HOURS", "0.5")
    monkeypatch.setenv("SLA_NORMAL_HOURS", "8")
    assert sla_hours("urgent") == 0.5
    assert sla_hours("normal") == 8
    assert sla_hours("anything else") == 8


def test_idle_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CASE_IDLE_HOURS", raising=False)
    assert idle_limit() == dt.timedelta(hours=72)
    monkeypatch.setenv("CASE_IDLE_HOURS", "1.5")
    assert idle_limit() == dt.timedelta(hours=1, minutes=30)
    monkeypatch.setenv("CASE_IDLE_HOURS", "0")
    assert idle_limit() is None
