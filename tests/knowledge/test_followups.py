"""Follow-ups: what a message asks about a service, whether it leans on the last turn, and the answer
worded from the service's own cost, eligibility and timing fields."""

from __future__ import annotations

import pytest

from knowledge import answers
from knowledge.db import session_scope
from knowledge.understanding.followups import Aspect, aspect_of, other_bin, refers_back


@pytest.mark.parametrize(
    "text,aspect",
    [
        ("what does that cost", Aspect.COST),
        ("is it free?", Aspect.COST),
        ("how much a year for the brown bin", Aspect.COST),
        ("am I eligible", Aspect.ELIGIBILITY),
        ("can my mum get one as well", Aspect.ELIGIBILITY),
        ("do I qualify if I rent", Aspect.ELIGIBILITY),
        ("when's it open on sunday", Aspect.TIMING),
        ("how long does it take", Aspect.TIMING),
        ("what time does the tip shut", Aspect.TIMING),
        ("report a pothole on Mill Lane", None),
        ("my bin wasn't emptied", None),
    ],
)
def test_aspect_of_a_message(text: str, aspect: object) -> None:
    assert aspect_of(text) == aspect


def test_follow_up_intents_name_their_aspect_whatever_the_words() -> None:
    assert aspect_of("and that one?", "ask_cost") is Aspect.COST
    assert aspect_of("ok", "ask_timing") is Aspect.TIMING


@pytest.mark.parametrize(
    "text,leans",
    [
        ("same for the leisure centre?", True),
        ("and the green one?", True),
        ("what about the other bin", True),
        ("is the library open then too", True),
        ("I need to report a missed collection on Elm Road from Tuesday", False),
        ("pothole", False),
    ],
)
def test_refers_back(text: str, leans: bool) -> None:
    assert refers_back(text) is leans


def test_the_other_bin() -> None:
    assert other_bin("general") == "recycling"
    assert other_bin("recycling") == "general"
    assert other_bin(None) == "recycling"


def test_an_aspect_answer_comes_from_the_service_field(kb_url: str) -> None:
    with session_scope(kb_url) as session:
        council = answers.council(session)
        svc = answers.service(session, "bins.garden")
        assert svc.cost, "the shipped garden waste service says what it costs"
        reply = answers.service_answer(council, svc, aspect=Aspect.COST).text
        assert svc.cost.strip() in reply and svc.url in reply
        svc.timing = None
        honest = answers.service_answer(council, svc, aspect=Aspect.TIMING).text
        assert "don't have the times" in honest and svc.url in honest


def test_every_shipped_service_answers_cost_eligibility_and_timing(kb_url: str) -> None:
    from knowledge.models import Service

    with session_scope(kb_url) as session:
        missing = [(s.key, a.value) for s in session.query(Service) for a in Aspect if not getattr(s, a.value)]
    assert missing == []
