"""The fallback action notes what it couldn't answer for the editors' list, and a note that can't be stored
never costs the resident their reply."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, text

from actions.common import note_unanswered
from actions.fallback import ActionKnowledgeFallback
from knowledge.db import session_scope
from knowledge.models import UnansweredQuestion
from knowledge.personal_data.privacy import pseudonym
from tests.actions.helpers import run, tracker

RANKING = [
    {"name": "nlu_fallback", "confidence": 0.45},
    {"name": "svc_env_fly_tipping", "confidence": 0.3},
    {"name": "svc_bins_bulky", "confidence": 0.25},
]


def rows(kb_url: str) -> list[UnansweredQuestion]:
    with session_scope(kb_url) as session:
        return session.execute(select(UnansweredQuestion).order_by(UnansweredQuestion.id)).scalars().all()


def test_a_fallback_is_recorded_with_the_models_best_guess(kb_url: str) -> None:
    [msg] = run(
        ActionKnowledgeFallback(),
        tracker("old sofa dumped", "nlu_fallback", 0.45, RANKING, sender="whatsapp:447700900123"),
    )
    assert "0300 123 4567" in msg["text"]
    [row] = rows(kb_url)
    assert (row.text, row.kind, row.intent, row.confidence, row.channel) == (
        "old sofa dumped",
        "fallback",
        "svc_env_fly_tipping",
        0.3,
        "rest",
    )
    assert row.conversation == pseudonym("whatsapp:447700900123")


def test_a_second_miss_in_a_row_is_recorded_as_a_handover_too(kb_url: str) -> None:
    run(ActionKnowledgeFallback(), tracker("wibble", "nlu_fallback", 0.2, sender="r-twice"))
    t = tracker("wobble", "nlu_fallback", 0.2, previous_intents=("nlu_fallback",), sender="r-twice")
    suggestions, handover = run(ActionKnowledgeFallback(), t)
    assert "reference" in handover["text"]
    assert [(r.text, r.kind) for r in rows(kb_url)] == [
        ("wibble", "fallback"),
        ("wobble", "fallback"),
        ("wobble", "handover"),
    ]
    # No ranking but the fallback itself: no guess to keep.
    assert {(r.intent, r.confidence) for r in rows(kb_url)} == {(None, None)}


def test_a_broken_unanswered_table_does_not_stop_the_reply(kb_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with session_scope(kb_url) as session:
        session.execute(text("DROP TABLE unanswered_questions"))
    secret = "my number is 07700 900123 and the sofa is still there"
    with caplog.at_level(logging.WARNING):
        [msg] = run(ActionKnowledgeFallback(), tracker(secret, "nlu_fallback", 0.45, RANKING))
    assert "0300 123 4567" in msg["text"]  # the usual suggestions, from the knowledge base
    assert "could not note" in caplog.text
    assert "07700" not in caplog.text and "sofa" not in caplog.text  # never the resident's words


def test_no_database_at_all_still_gets_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:////nonexistent/dir/kb.db")
    [msg] = run(ActionKnowledgeFallback(), tracker("wibble", "nlu_fallback", 0.2))
    assert msg["text"]


def test_note_unanswered_records_low_confidence_answers_and_skips_empty_messages(kb_url: str) -> None:
    ranking = [{"name": "svc_roads_pothole", "confidence": 0.52}, {"name": "nlu_fallback", "confidence": 0.5}]
    note_unanswered(tracker("hole in road??", "svc_roads_pothole", 0.52, ranking), "low_confidence")
    note_unanswered(tracker("", "svc_roads_pothole", 0.52, ranking), "low_confidence")
    [row] = rows(kb_url)
    assert (row.text, row.kind, row.intent, row.confidence) == (
        "hole in road??",
        "low_confidence",
        "svc_roads_pothole",
        0.52,
    )


def test_a_low_confidence_answer_is_listed_for_editors(kb_url: str) -> None:
    from sqlalchemy import select

    from actions.services import ActionAnswerService
    from knowledge.db import session_scope
    from knowledge.models import UnansweredQuestion

    run(ActionAnswerService(), tracker("road has a hole thing", "svc_roads_pothole", 0.41, sender="r-low"))
    run(ActionAnswerService(), tracker("pothole", "svc_roads_pothole", 0.97, sender="r-high"))
    with session_scope(kb_url) as session:
        rows = session.execute(select(UnansweredQuestion)).scalars().all()
    assert [(r.text, r.kind, r.intent) for r in rows] == [
        ("road has a hole thing", "low_confidence", "svc_roads_pothole")
    ]
