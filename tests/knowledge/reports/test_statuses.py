"""Statuses: residents' words for each, which are open, and Open311's values mapped onto ours."""

from __future__ import annotations

import pytest

from knowledge.reports import statuses


def test_every_status_has_plain_words_for_residents() -> None:
    for status in statuses.STATUSES:
        words = statuses.resident_words(status)
        assert words.endswith(".") and len(words) < 100, status
    assert statuses.resident_words("action_scheduled") == "We've inspected it and the repair is booked."


def test_open_statuses_are_the_ones_still_being_dealt_with() -> None:
    assert [s for s in statuses.STATUSES if statuses.is_open(s)] == [
        "open",
        "investigating",
        "action_scheduled",
        "in_progress",
    ]


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [
        ("open", "open"),
        ("closed", "closed"),
        ("INVESTIGATING", "investigating"),
        ("in_progress", "in_progress"),
        ("Action_Scheduled", "action_scheduled"),
        ("FIXED", "fixed"),
        ("NO_FURTHER_ACTION", "no_further_action"),
        ("NOT_COUNCILS_RESPONSIBILITY", "not_councils_responsibility"),
        ("DUPLICATE", "duplicate"),
        ("CLOSED", "closed"),
        ("OPEN", "open"),
    ],
)
def test_open311_values_map_case_insensitively(theirs: str, ours: str) -> None:
    assert statuses.from_open311(theirs) == ours


def test_unknown_open311_values_keep_the_report_as_it_is() -> None:
    assert statuses.from_open311("SOMETHING_NEW") is None
    assert statuses.from_open311("") is None
