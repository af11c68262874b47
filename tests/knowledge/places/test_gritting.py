"""Gritting by street: the route in words, and the gritting notices in force for the street's ward, its
postcode district or the whole council."""

from __future__ import annotations

import datetime as dt

from knowledge.catalogue import notices
from knowledge.db import session_scope
from knowledge.places.gazetteer import gazetteer
from knowledge.places.gritting import gritting_notices
from knowledge.places.replies import gritting_answer
from knowledge.places.where import resolve

TONIGHT = dt.datetime(2026, 12, 1, 19, 0)  # naive UTC, as notices store times
URL = "https://www.northshire.gov.uk/roads/gritting"


def _notice(kb_url: str, title: str, body: str, area: str | None = None) -> None:
    with session_scope(kb_url) as s:
        notices.create(
            s,
            "eddie",
            {
                "title": title,
                "body": body,
                "service_keys": ["roads.gritting"],
                "area": area,
                "starts_at": dt.datetime(2026, 12, 1, 16, 0),
                "ends_at": dt.datetime(2026, 12, 2, 8, 0),
            },
        )


def _place(text: str):  # noqa: ANN202 - a Place
    where = resolve(text)
    assert where.place is not None
    return where.place


def test_no_notice_says_no_gritting_is_planned(kb_url: str) -> None:
    lark = _place("Lark Walk")  # a primary route
    with session_scope(kb_url) as s:
        found = gritting_notices(s, lark.row, TONIGHT)
    assert found == []
    assert gritting_answer(lark, found, URL) == (
        "Lark Walk is on a main gritting route. We treat it every time we grit.\n"
        "We have no gritting planned tonight.\n"
        f"Routes and grit bins: {URL}"
    )


def test_the_route_in_words() -> None:
    assert "second-priority gritting route" in gritting_answer(_place("swallow street"), [])
    assert "is not on a gritting route" in gritting_answer(_place("meadow walk"), [])


def test_notices_for_everywhere_the_ward_and_the_district_reach_the_street(kb_url: str) -> None:
    _notice(kb_url, "Gritting tonight", "Gritters are out tonight from 6pm on main routes.")
    _notice(kb_url, "Castle ward", "Gritters are out in Castle ward from 8pm.", area="Castle")
    _notice(kb_url, "NS1", "Salt bins refilled in NS1.", area="ns1")
    _notice(kb_url, "Riverside", "Gritters are out in Riverside.", area="Riverside")
    swallow = gazetteer().by_postcode("NS1 3NA")[0]
    with session_scope(kb_url) as s:
        found = gritting_notices(s, swallow, TONIGHT)
        later = gritting_notices(s, swallow, dt.datetime(2026, 12, 2, 9, 0))
    assert [n.title for n in found] == ["Gritting tonight", "Castle ward", "NS1"]
    assert later == []  # the notices have ended
    text = gritting_answer(_place("swallow street"), found, URL)
    assert "Gritters are out tonight from 6pm on main routes." in text
    assert "Riverside" not in text and "no gritting planned" not in text
