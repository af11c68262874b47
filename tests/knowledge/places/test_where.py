"""Reading where a resident means: postcodes, streets with and without numbers, typos and abbreviations,
numbers not on the street, other councils' postcodes, and map pins on a street or in the sea."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.places.gazetteer import gazetteer, load
from knowledge.places.replies import where_problem
from knowledge.places.where import Outcome, from_pin, resolve

PHONE = "0300 123 4567"


@pytest.mark.parametrize(
    "text,address",
    [
        ("when is my bin day NS1 3NA", "Swallow Street, NS1 3NA"),
        ("ns13na", "Swallow Street, NS1 3NA"),
        ("14 Swallow St", "14 Swallow Street, NS1 3NA"),
        ("outside no 14 swallow street", "14 Swallow Street, NS1 3NA"),
        ("swallow st", "Swallow Street, NS1 3NA"),
        ("swallw street", "Swallow Street, NS1 3NA"),
        ("is swallow street gritted tonight", "Swallow Street, NS1 3NA"),
        ("60 Swallow Street", "60 Swallow Street, NS1 4EJ"),  # the number picks the postcode
        ("14a swallow st", "14a Swallow Street, NS1 3NA"),
        ("14 lark ln", "14 Lark Lane, NS1 8HA"),
        ("12 Hollins Ave", "12 Hollins Avenue, NS2 6ZW"),
        ("4 Elm Rd", None),  # no Elm Road: see the unknown-street test
        ("14, NS1 3NA", "14 Swallow Street, NS1 3NA"),
        ("What day do you collect the bins on Elm Walk NS4 1DQ? Number 14", "14 Elm Walk, NS4 1DQ"),
        ("14 Swallow Street, NS1 3NA", "14 Swallow Street, NS1 3NA"),
        ("church", "Church Avenue, NS2 8PZ"),
        # the number a few words away, or after a comma
        ("I live at number 45 on Lark Lane", "45 Lark Lane, NS1 3JB"),
        ("its on swallw street by number 52", "52 Swallow Street, NS1 4EJ"),
        ("Albert Drive, 17. I've told you before", "17 Albert Drive, NS2 9YA"),
        ("alder wy 70", "70 Alder Way, NS6 5EA"),
        # a misspelt type, and the street a resident says it is not
        ("cedar lne", "Cedar Lane, NS5 4EA"),
        ("we're at 77 Swallow Rise, not Swallow Street", "77 Swallow Rise, NS5 3JF"),
    ],
)
def test_a_place_is_found(text: str, address: str | None) -> None:
    where = resolve(text)
    if address is None:
        assert not where.found
        return
    assert where.outcome is Outcome.FOUND, where
    assert where.place is not None and where.place.address == address


def test_every_address_the_bot_remembers_reads_back_as_itself() -> None:
    for row in gazetteer().rows:
        for number in (None, str(row.first_number)):
            typed = f"{number} {row.street}, {row.postcode}" if number else f"{row.street}, {row.postcode}"
            where = resolve(typed)
            assert where.found and where.place is not None, typed
            assert where.place.address == typed and where.place.row == row


def test_a_number_later_in_a_sentence_is_not_a_house_number() -> None:
    where = resolve("bins on swallow street missed 2 weeks running")
    assert where.found and where.place is not None and where.place.house_number is None
    assert resolve("NS1 3NA 14").place.house_number == "14"  # type: ignore[union-attr]


def test_saint_is_not_street(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text(
        "street,postcode,ward,house_numbers,lat,lon,bin_day,recycling_week,gritting_route\n"
        "St Mary's Road,NS9 1AA,Abbey,1-20,52.9,-1.1,Monday,A,none\n"
    )
    where = resolve("12 St Mary's Rd", load(path))
    assert where.found and where.place is not None and where.place.address == "12 St Mary's Road, NS9 1AA"


def test_a_street_with_several_postcodes_and_no_number_is_still_found() -> None:
    where = resolve("bridge rise")
    assert where.found and where.place is not None and where.place.postcode == "NS1 6DU"
    assert where.needs_number is False  # both parts have the same bin days
    assert resolve("13 bridge rise").place.postcode == "NS1 6DU"  # type: ignore[union-attr]
    assert resolve("43 bridge rise").place.postcode == "NS1 6WF"  # type: ignore[union-attr]


def test_a_name_shared_by_streets_offers_the_choice() -> None:
    where = resolve("swallow")
    assert where.outcome is Outcome.SEVERAL
    assert [p.street for p in where.choices] == ["Swallow Street", "Swallow Crescent", "Swallow Rise"]
    assert "Swallow Street, Swallow Crescent or Swallow Rise" in where_problem(where, PHONE)


def test_a_number_not_on_the_street_says_which_numbers_are() -> None:
    where = resolve("90 swallow street")
    assert where.outcome is Outcome.NUMBER_NOT_ON_STREET and where.numbers == "1 to 80"
    assert where_problem(where, PHONE) == (
        "There's no number 90 on Swallow Street: it has numbers 1 to 80. Check the number, or send your postcode."
    )
    by_postcode = resolve("NS1 3NA number 60")
    assert by_postcode.outcome is Outcome.NUMBER_NOT_ON_STREET and by_postcode.numbers == "1 to 40"
    assert "no number 60 in NS1 3NA" in where_problem(by_postcode, PHONE)


@pytest.mark.parametrize("text", ["NS1", "12345", "NS1 3N", "bin day for NS1 please", "Postcode: NS"])
def test_not_a_postcode(text: str) -> None:
    where = resolve(text)
    assert where.outcome is Outcome.NOT_A_POSTCODE
    assert "isn't a postcode I recognise" in where_problem(where, PHONE)
    assert "NS1 3NA" in where_problem(where, PHONE)  # what one looks like


def test_a_lookalike_of_one_of_ours_is_suggested() -> None:
    where = resolve("N51 3NA")
    assert where.outcome is Outcome.NOT_A_POSTCODE and where.suggestion == "NS1 3NA"
    assert where_problem(where, PHONE) == "N51 3NA isn't a postcode I recognise. Did you mean NS1 3NA?"


def test_another_councils_postcode_says_so_and_links_govuk() -> None:
    where = resolve("my bin day? SW1A 1AA")
    assert where.outcome is Outcome.OUTSIDE_AREA and where.postcode == "SW1A 1AA"
    text = where_problem(where, PHONE, "Northshire Council")
    assert "SW1A 1AA isn't in Northshire Council's area" in text
    assert "https://www.gov.uk/find-local-council" in text


def test_an_unknown_postcode_in_our_districts() -> None:
    where = resolve("NS1 9ZZ")
    assert where.outcome is Outcome.UNKNOWN_POSTCODE
    assert PHONE in where_problem(where, PHONE)


def test_an_unknown_street_is_named_with_any_near_names() -> None:
    mill = resolve("there's a pothole outside 14 Mill Lane")
    assert mill.outcome is Outcome.UNKNOWN_STREET and mill.street == "Mill Lane"
    assert where_problem(mill, PHONE) == "I can't find Mill Lane in our area. Did you mean Mill Close?"
    assert resolve("its on pudding lane").street == "Pudding Lane"  # any case, after "on"
    ashdown = resolve("which day is recycling collected on Ashdown Close")
    assert ashdown.outcome is Outcome.UNKNOWN_STREET and ashdown.choices == []
    assert where_problem(ashdown, PHONE).startswith("I can't find Ashdown Close in our area.")


@pytest.mark.parametrize("text", ["when is my bin day", "is my road gritted tonight", "hello", "", "and the gritting?"])
def test_nothing_place_like(text: str) -> None:
    assert resolve(text).outcome is Outcome.NOTHING


def test_a_pin_on_a_street_finds_it() -> None:
    # About 30 metres north-east of the Swallow Street (NS1 3NA) point.
    where = from_pin(52.94470, -1.14390)
    assert where.found and where.place is not None
    assert (where.place.street, where.place.postcode, where.place.ward) == ("Swallow Street", "NS1 3NA", "Castle")
    assert (where.place.lat, where.place.lon) == (52.94470, -1.14390)  # the resident's own point
    assert where.distance_m is not None and 20 < where.distance_m < 40


def test_a_pin_in_the_sea_is_refused() -> None:
    where = from_pin(53.30, 0.60)  # the North Sea off Lincolnshire
    assert where.outcome is Outcome.PIN_TOO_FAR
    assert "isn't near any street" in where_problem(where, PHONE)


def test_the_pin_distance_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLACE_PIN_MAX_METRES", "10")
    assert from_pin(52.94470, -1.14390).outcome is Outcome.PIN_TOO_FAR


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("swallow street 50 thanks", "50"),  # a number straight after the street, then chatter
        ("swallow st 12 asap please", "12"),
        ("swallow street 3 times this month", None),  # an amount, not a house number
        ("swallow street 2 weeks running now", None),
    ],
)
def test_a_number_after_the_street_is_its_house_number_unless_it_counts_something(
    text: str, number: str | None
) -> None:
    where = resolve(text)
    assert where.place is not None and where.place.street == "Swallow Street"
    assert where.place.house_number == number
    if number == "50":
        assert where.place.postcode == "NS1 4EJ"  # 41-80 is the second postcode
