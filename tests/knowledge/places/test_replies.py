"""The bin-day answer as residents read it, including a street whose parts have different days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from knowledge.places.bin_days import moved, next_collections
from knowledge.places.gazetteer import load
from knowledge.places.replies import bin_day_answer
from knowledge.places.where import resolve

HEADER = "street,postcode,ward,house_numbers,lat,lon,bin_day,recycling_week,gritting_route\n"


def test_a_street_whose_parts_differ_asks_for_the_number(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text(
        HEADER + "Long Road,NS1 1AA,Castle,1-50,52.9,-1.1,Monday,A,none\n"
        "Long Road,NS1 1AB,Castle,51-99,52.9,-1.1,Thursday,B,none\n"
    )
    gaz = load(path)
    where = resolve("bin day long road", gaz)
    assert where.found and where.needs_number and where.place is not None
    today = dt.date(2026, 12, 2)
    general, recycling = next_collections(where.place.row, today)
    text = bin_day_answer(where.place, general, recycling, today, needs_number=where.needs_number)
    assert text.startswith("Bin collections for Long Road (NS1 1AA):")
    assert "send your house number to check yours" in text
    numbered = resolve("60 long road", gaz)
    assert numbered.found and not numbered.needs_number and numbered.place is not None
    assert numbered.place.postcode == "NS1 1AB"


def test_only_the_moved_collection_says_so() -> None:
    place = resolve("14 swallow street").place
    assert place is not None
    today = dt.date(2026, 12, 28)
    general, recycling = next_collections(place.row, today)
    text = bin_day_answer(
        place,
        general,
        recycling,
        today,
        url="https://www.northshire.gov.uk/bins/collection-day",
        general_moved=moved(place.row, general),
        recycling_moved=moved(place.row, recycling),
    )
    assert text == (
        "Bin collections for 14 Swallow Street, NS1 3NA:\n"
        "General waste: Thursday 31 December (a day later than usual because of the bank holiday).\n"
        "Recycling and garden waste: Wednesday 13 January 2027.\n"
        "Your collection calendar: https://www.northshire.gov.uk/bins/collection-day"
    )
