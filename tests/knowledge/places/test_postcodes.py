"""UK postcodes: every valid shape is read and written one way; junk is told apart from a postcode."""

from __future__ import annotations

import pytest

from knowledge.places import postcodes


@pytest.mark.parametrize(
    "typed,normalised",
    [
        ("M1 1AE", "M1 1AE"),  # A9 9AA
        ("B33 8TH", "B33 8TH"),  # A99 9AA
        ("CR2 6XH", "CR2 6XH"),  # AA9 9AA
        ("DN55 1PT", "DN55 1PT"),  # AA99 9AA
        ("W1A 0AX", "W1A 0AX"),  # A9A 9AA
        ("EC1A 1BB", "EC1A 1BB"),  # AA9A 9AA
        ("ns13na", "NS1 3NA"),
        ("NS1  3NA", "NS1 3NA"),
        (" ns1-3na ", "NS1 3NA"),
        ("Ns1 3nA", "NS1 3NA"),
    ],
)
def test_every_valid_shape_is_read_and_written_one_way(typed: str, normalised: str) -> None:
    assert postcodes.normalise(typed) == normalised


@pytest.mark.parametrize("junk", ["NS1", "12345", "NS1 3N", "NS13NAA", "3NA NS1", "hello", "", "N 3NA", "NS1 NA3"])
def test_junk_is_not_a_postcode(junk: str) -> None:
    assert postcodes.normalise(junk) is None


def test_a_postcode_is_found_inside_a_sentence() -> None:
    found = postcodes.find("when is my bin day ns1 3na? thanks")
    assert found is not None and found.postcode == "NS1 3NA"
    assert postcodes.find("it's ns13na") is not None
    assert postcodes.find("my bin day please") is None


def test_a_go_at_a_postcode_that_isnt_one_is_noticed() -> None:
    ours = {"NS1", "NS2"}
    assert postcodes.attempt("12345", ours) == "12345"
    assert postcodes.attempt("NS1", ours) == "NS1"
    assert postcodes.attempt("bin day for NS1 please", ours) == "NS1"
    assert postcodes.attempt("NS1 3N", ours) == "NS1 3N"
    # a road inside a sentence is not a postcode attempt; a house number isn't either
    assert postcodes.attempt("is the A52 gritted", ours) is None
    assert postcodes.attempt("14a", ours) is None


def test_a_mistyped_postcode_has_lookalikes() -> None:
    assert "NS1 3NA" in postcodes.lookalikes("N51 3NA")


def test_district_and_area() -> None:
    assert postcodes.district("ns1 3na") == "NS1"
    assert postcodes.district("EC1A 1BB") == "EC1A"
    assert postcodes.area("EC1A 1BB") == "EC"
