"""Notices: shown with their services exactly while in force (start inclusive, end exclusive), by area,
validated with messages naming the field; and the bot's answer carries them."""

from __future__ import annotations

import datetime as dt

import pytest

from actions.services import ActionAnswerService
from knowledge.catalogue import notices
from knowledge.db import session_scope
from knowledge.service_reply import district
from tests.actions.helpers import run, tracker

START = dt.datetime(2026, 12, 1, 18, 0)
END = dt.datetime(2026, 12, 2, 8, 0)
GRITTING = {
    "title": "Gritting tonight",
    "body": "Gritters are out from 6pm on priority routes.",
    "service_keys": ["roads.gritting"],
    "starts_at": START,
    "ends_at": END,
}


def _add(kb_url: str, **overrides: object) -> int:
    with session_scope(kb_url) as s:
        return notices.create(s, "eddie", {**GRITTING, **overrides}).id


@pytest.mark.parametrize(
    "at,shown",
    [
        (START - dt.timedelta(seconds=1), False),
        (START, True),
        (END - dt.timedelta(seconds=1), True),
        (END, False),
    ],
)
def test_a_notice_is_in_force_from_its_start_until_its_end(kb_url: str, at: dt.datetime, shown: bool) -> None:
    _add(kb_url)
    with session_scope(kb_url) as s:
        assert bool(notices.active(s, "roads.gritting", now=at)) is shown
        assert notices.active(s, "roads.pothole", now=START) == []  # only its own services


def test_area_notices_reach_that_area_only_when_the_area_is_known(kb_url: str) -> None:
    _add(kb_url, title="Road closed", area="nb1", service_keys=["roads.roadworks"])
    with session_scope(kb_url) as s:
        assert [n.area for n in notices.active(s, "roads.roadworks", START, area="NB1")] == ["NB1"]
        assert notices.active(s, "roads.roadworks", START, area="NB7") == []
        unknown = notices.active(s, "roads.roadworks", START)
        assert notices.lines(unknown) == ["Notice for NB1: Road closed. Gritters are out from 6pm on priority routes."]


def test_ending_a_notice_early_stops_it(kb_url: str) -> None:
    notice_id = _add(kb_url)
    with session_scope(kb_url) as s:
        notices.end(s, notice_id, now=START + dt.timedelta(hours=2))
    with session_scope(kb_url) as s:
        assert notices.active(s, "roads.gritting", START + dt.timedelta(hours=1))
        assert not notices.active(s, "roads.gritting", START + dt.timedelta(hours=2))


@pytest.mark.parametrize(
    "change,field",
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 121}, "title"),
        ({"body": "y" * 501}, "body"),
        ({"service_keys": []}, "service_keys"),
        ({"service_keys": ["roads.nope"]}, "service_keys"),
        ({"ends_at": START}, "ends_at"),
        ({"ends_at": START + dt.timedelta(days=100)}, "ends_at"),
        ({"starts_at": None}, "starts_at"),
        ({"area": "<script>"}, "area"),
    ],
)
def test_bad_notices_are_refused_naming_the_field(kb_url: str, change: dict, field: str) -> None:
    with pytest.raises(notices.NoticeError) as err:
        _add(kb_url, **change)
    assert field in err.value.fields
    with session_scope(kb_url) as s:
        assert notices.listing(s, START)["current"] == []


def test_the_answer_carries_the_notice_while_it_is_in_force(kb_url: str) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    _add(
        kb_url,
        title="St Mary's Primary is closed today",
        body="The school is closed because of snow.",
        service_keys=["schools.closures"],
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(hours=8),
    )
    [msg] = run(ActionAnswerService(), tracker("is school open tomorrow?", "svc_schools_closures"))
    assert msg["text"].startswith("Notice: St Mary's Primary is closed today. The school is closed because of snow.")
    assert "https://www.northshire.gov.uk" in msg["text"]
    with session_scope(kb_url) as s:
        for n in notices.listing(s)["current"]:
            notices.end(s, n.id)
    [after] = run(ActionAnswerService(), tracker("is school open tomorrow?", "svc_schools_closures"))
    assert "Notice" not in after["text"]


def test_postcode_district() -> None:
    assert district("nb1 2ab") == "NB1" and district("NB12AB") == "NB1" and district("SW1A 1AA") == "SW1A"
    assert district(None) is None and district("NB") is None
