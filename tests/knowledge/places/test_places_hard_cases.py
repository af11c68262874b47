"""Hostile or broken places: a pin that isn't a point on Earth is never taken for a street in the council's
area (and never sent to the back office as it is), and a very long message is still read."""

from __future__ import annotations

import math

import pytest

from knowledge.places.gazetteer import COLUMNS, GazetteerError, parse
from knowledge.places.where import Outcome, from_pin, resolve

SWALLOW_STREET = (52.94445, -1.14407)  # a point in the demo council's gazetteer


def test_a_real_pin_is_found() -> None:
    assert from_pin(*SWALLOW_STREET).outcome == Outcome.FOUND


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (SWALLOW_STREET[0] + 360, SWALLOW_STREET[1]),  # wraps round to Mill Lane
        (SWALLOW_STREET[0], SWALLOW_STREET[1] + 720),
        (math.inf, SWALLOW_STREET[1]),
        (SWALLOW_STREET[0], -math.inf),
        (math.nan, SWALLOW_STREET[1]),
        (math.nan, math.nan),
    ],
)
def test_a_pin_that_is_not_a_point_on_earth_is_asked_again(lat: float, lon: float) -> None:
    where = from_pin(lat, lon)
    assert where.outcome == Outcome.PIN_TOO_FAR
    assert where.place is None


def test_a_very_long_message_is_read_without_error() -> None:
    # Channels cut messages at 10,000 characters; the resolver copes with ten times that.
    assert not resolve("Mill " * 20_000).found


def test_a_damaged_gazetteer_line_is_named_in_the_error() -> None:
    header = ",".join(COLUMNS) + "\n"
    good = "Swallow Street,NS1 3NA,Castle,1-40,52.94445,-1.14407,Wednesday,B,secondary\n"
    huge = "X" * 200_000 + good[len("Swallow Street") :]  # a street name of 200 KB (a damaged export)
    with pytest.raises(GazetteerError, match=r"line 3"):
        parse([header, good, huge])
