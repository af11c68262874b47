"""The safety net in the Rasa server: 999 and Samaritans for anyone in danger, and never silence, even when
the action server is down (Rasa then answers nothing) or the knowledge base can't be read."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.channels import safety_net
from bot.channels.rest import METADATA, SENDER_PREFIX, answer_webhook
from tests.bot.test_webchat_page import Recorder

CRISIS = "i want to kill myself tonight"
PHONE = "0300 123 4567"


@pytest.fixture(autouse=True)
def _fresh_council_copy() -> None:
    """Each test reads the council's details from its own database."""
    safety_net._council.update(row=None, at=0.0)


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def test_crisis_with_no_answer_from_the_bot_gets_999_samaritans_and_the_phone(kb_url: str) -> None:
    out = safety_net.complete(CRISIS, [])
    # The line for the kind of danger leads: for suicide, Samaritans, with 999 for anyone at risk now.
    assert "116 123" in out[0]["text"].splitlines()[0] and "999" in out[0]["text"] and PHONE in texts(out)


def test_crisis_lines_lead_a_reply_that_lacks_them(kb_url: str) -> None:
    service = {"text": "Council tax: pay online at https://www.northshire.gov.uk/council-tax"}
    out = safety_net.complete("my council tax bill makes me want to end my life", [service])
    assert "999" in out[0]["text"] and out[1] == service


def test_a_reply_that_already_gives_999_is_left_alone(kb_url: str) -> None:
    crisis_reply = [{"text": "If you or someone else is in danger right now, call 999. Samaritans: 116 123."}]
    assert safety_net.complete(CRISIS, crisis_reply) == crisis_reply


def test_the_models_crisis_intent_counts_even_without_a_listed_phrase(kb_url: str) -> None:
    out = safety_net.complete("everything is too much and I can't go on like this", [], intent="crisis")
    assert "999" in texts(out) and "116 123" in texts(out)


def test_ordinary_silence_gets_the_phone_number_and_ordinary_answers_pass_through(kb_url: str) -> None:
    assert PHONE in texts(safety_net.complete("when is my bin day", []))
    answer = [{"text": "Bin days: https://www.northshire.gov.uk/bins"}]
    assert safety_net.complete("when is my bin day", answer) == answer


def test_staff_silence_is_kept_unless_someone_is_in_danger(kb_url: str) -> None:
    assert safety_net.complete("any news on my case?", [], silent_ok=True) == []
    out = safety_net.complete(CRISIS, [], silent_ok=True)
    assert "999" in texts(out) and "116 123" in texts(out)


def test_without_the_knowledge_base_the_national_numbers_still_go_out(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'nothing.db'}")
    out = safety_net.complete(CRISIS, [])
    assert "999" in texts(out) and "116 123" in texts(out) and "phone the council" in texts(out)


def test_near_misses_are_not_treated_as_danger(kb_url: str) -> None:
    for text in ("these potholes are killing me", "fire safety check for my flat", "smoke alarm fitting"):
        assert not safety_net.in_danger(text), text


def test_rest_answers_a_crisis_with_999_when_rasa_says_nothing(kb_url: str) -> None:
    """The action server being down looks like this to the channel: Rasa returns no messages."""
    silent_rasa = Recorder()
    body = json.dumps({"sender": "r-danger", "message": CRISIS}).encode()
    resp = asyncio.run(answer_webhook(body, silent_rasa, "rest", sender_prefix=SENDER_PREFIX, metadata=METADATA))
    out = json.loads(resp.body)
    assert resp.status == 200 and len(silent_rasa.messages) == 1
    assert "999" in out[0]["text"] and "116 123" in out[0]["text"] and PHONE in texts(out)


def test_a_platform_message_the_bot_fails_on_is_answered_with_999_and_the_phone(kb_url: str) -> None:
    """The tracker store or lock store down: Rasa raises. The resident still gets an answer at once."""
    import datetime as dt

    from bot.channels.events import Incoming
    from bot.channels.responder import Responder
    from knowledge.delivery.conversations import utcnow

    async def broken_rasa(_message) -> None:  # noqa: ANN001
        raise ConnectionError("tracker store unreachable")

    async def broken_parse(_conversation_id: str) -> dict:
        raise ConnectionError("tracker store unreachable")

    responder = Responder(broken_rasa, broken_parse, dt.timedelta(hours=24))
    for n, (said, expected) in enumerate(((CRISIS, ("999", "116 123", PHONE)), ("pothole on my road", (PHONE,)))):
        incoming = Incoming(
            channel="messenger",
            platform_id=f"m-{n}",
            user_id=f"psid-{n}",
            text=said,
            account_id="page-1",
            sent_at=utcnow(),
        )
        rows = asyncio.run(responder(incoming))
        out = "\n".join(r.text for r in rows)
        assert all(number in out for number in expected), out


def test_rest_reads_the_models_intent_only_when_the_bot_said_nothing(kb_url: str) -> None:
    looked_up: list[str] = []

    async def intent_of(conversation_id: str) -> str:
        looked_up.append(conversation_id)
        return "crisis"

    def ask(rasa: Recorder, sender: str, text: str) -> list[dict]:
        body = json.dumps({"sender": sender, "message": text}).encode()
        resp = asyncio.run(
            answer_webhook(body, rasa, "rest", sender_prefix=SENDER_PREFIX, metadata=METADATA, intent_of=intent_of)
        )
        return json.loads(resp.body)

    answered = ask(Recorder(({"text": "Bin days: https://www.northshire.gov.uk/bins"},)), "r-a", "bin day")
    assert looked_up == [] and "999" not in texts(answered)
    # Action server down and no listed phrase: the model's `crisis` still brings 999 and Samaritans.
    silent = ask(Recorder(), "r-b", "everything is too much and I can't go on like this")
    assert looked_up == ["rest:r-b"] and "999" in texts(silent) and "116 123" in texts(silent)
