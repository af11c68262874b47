"""The staff queue can't be flooded from the bot's side: messages with no real words don't open a case,
one resident can open only so many cases a day and one channel only so many an hour (urgent cases
always), and every refusal is recorded."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from rasa_sdk import Tracker
from sqlalchemy import select, update

from actions.conversation import ActionHumanHandoff
from actions.fallback import ActionKnowledgeFallback
from actions.safety import ActionCrisis
from knowledge.casework import cases
from knowledge.db import session_scope
from knowledge.models import Case, CaseAudit, CaseRefusal
from knowledge.understanding.real_words import has_real_words
from tests.actions.helpers import run, tracker

PHONE = "0300 123 4567"
REFERENCE = re.compile(r"NC-\d{4}-\d{6}")


def conversation(*turns: tuple[str, str], sender: str = "r-conv", channel: str = "webchat") -> Tracker:
    """A tracker whose user messages are `turns` (text, intent), the last one being the latest."""
    events: list[dict[str, Any]] = [{"event": "action", "name": "action_listen"}]
    latest: dict[str, Any] = {}
    for text, intent in turns:
        latest = {
            "text": text,
            "intent": {"name": intent, "confidence": 0.2},
            "intent_ranking": [{"name": intent, "confidence": 0.2}],
            "entities": [],
        }
        events.append({"event": "user", "text": text, "parse_data": latest, "input_channel": channel})
        events.append({"event": "bot", "text": "Sorry, I didn't understand that."})
    events.pop()  # the bot hasn't answered the latest yet
    return Tracker.from_dict(
        {
            "sender_id": sender,
            "slots": {},
            "latest_message": latest,
            "events": events,
            "paused": False,
            "latest_input_channel": channel,
            "active_loop": {},
            "latest_action_name": "action_listen",
        }
    )


def all_cases(kb_url: str) -> list[Case]:
    with session_scope(kb_url) as session:
        return list(session.execute(select(Case)).scalars())


def refusals(kb_url: str) -> list[CaseRefusal]:
    with session_scope(kb_url) as session:
        return list(session.execute(select(CaseRefusal)).scalars())


# --- no case for gibberish --------------------------------------------------------------------------------------


def test_two_unintelligible_messages_get_the_phone_number_not_a_case(kb_url: str) -> None:
    run(ActionKnowledgeFallback(), conversation(("asdfgh", "nlu_fallback"), sender="web:g"))
    messages = run(
        ActionKnowledgeFallback(), conversation(("asdfgh", "nlu_fallback"), ("???", "nlu_fallback"), sender="web:g")
    )
    said = " ".join(m["text"] for m in messages)
    assert PHONE in said and "speak to a person" in said
    assert not REFERENCE.search(said)
    assert all_cases(kb_url) == []


def test_emoji_only_twice_gets_the_phone_number_not_a_case(kb_url: str) -> None:
    messages = run(ActionKnowledgeFallback(), conversation(("😡😡😡", "nlu_fallback"), ("🙄", "nlu_fallback")))
    assert PHONE in messages[-1]["text"]
    assert all_cases(kb_url) == []


def test_real_words_the_bot_misses_twice_still_reach_a_person(kb_url: str) -> None:
    messages = run(
        ActionKnowledgeFallback(),
        conversation(("my carer hasn't turned up", "nlu_fallback"), ("nobody came this morning", "nlu_fallback")),
    )
    assert REFERENCE.search(messages[-1]["text"])
    assert [c.reason for c in all_cases(kb_url)] == ["repeated_fallback"]


def test_asking_for_a_person_after_gibberish_opens_a_case(kb_url: str) -> None:
    [msg] = run(
        ActionHumanHandoff(),
        conversation(("asdfgh", "nlu_fallback"), ("???", "nlu_fallback"), ("speak to a person", "human_handoff")),
    )
    assert REFERENCE.search(msg["text"])
    assert len(all_cases(kb_url)) == 1


@pytest.mark.parametrize(
    "text,real",
    [
        ("asdfgh", False),
        ("???", False),
        ("!!!!", False),
        ("😀👍", False),
        ("qwerty", False),
        ("jjjjjjj", False),
        ("lkjh lkjh", False),
        ("12", False),
        ("xzxzxz vbvbvb", False),
        ("wibble", True),
        ("bins", True),
        ("help!", True),
        ("NB1 2AB", True),
        ("my carer hasn't come", True),
        ("Dw i eisiau siarad â rhywun", True),
        ("أريد التحدث مع شخص", True),
        ("i", True),
    ],
)
def test_what_counts_as_real_words(text: str, real: bool) -> None:
    assert has_real_words(text) is real


# --- case caps -------------------------------------------------------------------------------------------------


def _resolve_all(kb_url: str) -> None:
    with session_scope(kb_url) as session:
        session.execute(update(Case).values(status="resolved", resolved_at=cases.utcnow()))


def test_a_resident_can_open_three_cases_a_day_then_gets_the_phone_number(kb_url: str) -> None:
    for _ in range(3):
        [msg] = run(ActionHumanHandoff(), tracker("person please", "human_handoff", sender="web:many"))
        assert "Your reference is" in msg["text"]
        _resolve_all(kb_url)
    [msg] = run(ActionHumanHandoff(), tracker("person please", "human_handoff", sender="web:many"))
    assert "several times today" in msg["text"] and PHONE in msg["text"]
    latest = all_cases(kb_url)[-1]
    assert latest.reference in msg["text"]  # to quote on the phone
    assert len(all_cases(kb_url)) == 3
    [refused] = refusals(kb_url)
    assert (refused.cap, refused.reason, refused.channel) == ("sender_day", "asked", "rest")
    assert "many" not in refused.conversation  # a hash, not the id
    with session_scope(kb_url) as session:
        actions = session.execute(select(CaseAudit.action).where(CaseAudit.case_id == latest.id)).scalars().all()
    assert "cap_reached" in actions
    # A day later the resident can open one again.
    with session_scope(kb_url) as session:
        session.execute(update(Case).values(created_at=Case.created_at - dt.timedelta(days=1, minutes=1)))
    [msg] = run(ActionHumanHandoff(), tracker("person please", "human_handoff", sender="web:many"))
    assert "Your reference is" in msg["text"]


def test_a_crisis_opens_an_urgent_case_whatever_the_caps(kb_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASES_PER_SENDER_PER_DAY", "1")
    monkeypatch.setenv("CASES_PER_CHANNEL_PER_HOUR", "1")
    run(ActionHumanHandoff(), tracker("person please", "human_handoff", sender="web:c"))
    _resolve_all(kb_url)
    messages = run(ActionCrisis(), tracker("I want to end my life", "crisis", sender="web:c"))
    said = " ".join(m["text"] for m in messages)
    assert "999" in said and "116 123" in said and REFERENCE.search(said)
    assert [c.priority for c in all_cases(kb_url)] == ["normal", "urgent"]
    assert refusals(kb_url) == []


def test_a_busy_channel_stops_opening_normal_cases_but_not_urgent_ones(
    kb_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASES_PER_CHANNEL_PER_HOUR", "5")
    for n in range(5):
        run(ActionHumanHandoff(), tracker("person please", "human_handoff", sender=f"web:b{n}"))
    [msg] = run(ActionHumanHandoff(), tracker("person please", "human_handoff", sender="web:b-late"))
    assert "a lot of messages right now" in msg["text"] and PHONE in msg["text"]
    assert not REFERENCE.search(msg["text"])
    assert [r.cap for r in refusals(kb_url)] == ["channel_hour"]
    run(ActionCrisis(), tracker("someone is hurting me right now", "crisis", sender="web:b-crisis"))
    assert sum(c.priority == "urgent" for c in all_cases(kb_url)) == 1
    assert len(all_cases(kb_url)) == 6
