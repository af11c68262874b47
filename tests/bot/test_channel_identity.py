"""Each channel writes only its own conversations, and a REST or web chat conversation is reachable only by
the caller holding its owner token (issue 9, finding 1: REST could read and write a Messenger resident's
conversation). Runs the real channel code in-process against a real SQLite knowledge base."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any, Optional

import pytest
from sqlalchemy import func, select

from bot.channels.rest import METADATA, SENDER_PREFIX, TOKEN_HEADER, answer_webhook, updates_response
from bot.channels.webchat import WebChatInput
from knowledge.casework import cases
from knowledge.db import session_scope
from knowledge.delivery.conversations import touch_conversation
from knowledge.models import Case, CaseMessage, Conversation
from tests.bot.test_webchat_page import Recorder

T0 = dt.datetime(2026, 11, 30, 10, 0)
PSID = "7001002003"


def rest(rasa: Recorder, sender: str, text: str, token: Optional[str] = None) -> tuple[int, Any, Optional[str]]:
    """POST to the REST webhook in-process: (status, body, owner token handed back if any)."""
    body = json.dumps({"sender": sender, "message": text}).encode()
    resp = asyncio.run(answer_webhook(body, rasa, "rest", sender_prefix=SENDER_PREFIX, metadata=METADATA, token=token))
    return resp.status, json.loads(resp.body), resp.headers.get(TOKEN_HEADER)


def rest_updates(sender: str, token: Optional[str], prefix: str = SENDER_PREFIX) -> tuple[int, Any]:
    resp = asyncio.run(updates_response(prefix, sender, "0", token))
    return resp.status, json.loads(resp.body)


def staff_reply(kb_url: str, conversation_id: str, channel: str, text: str) -> Case:
    """An open case for the conversation with one staff reply in it."""
    with session_scope(kb_url) as s:
        case, _ = cases.open_case(s, conversation_id, channel, "asked", [], now=T0)
        s.add(CaseMessage(case_id=case.id, author="staff", staff_id=1, text=text, delivery="sent", created_at=T0))
        return case


def case_lines(kb_url: str, case_id: int) -> int:
    with session_scope(kb_url) as s:
        return s.execute(select(func.count()).select_from(CaseMessage).where(CaseMessage.case_id == case_id)).scalar()


def test_rest_caller_naming_a_messenger_resident_gets_a_conversation_of_its_own(kb_url: str) -> None:
    with session_scope(kb_url) as s:
        touch_conversation(s, f"messenger:{PSID}", "messenger", "private", PSID, "page-1", None, T0)
    case = staff_reply(kb_url, f"messenger:{PSID}", "messenger", "Your council tax refund of £84 is on its way")
    before = case_lines(kb_url, case.id)
    rasa = Recorder(({"text": "Report a pothole: https://www.northshire.gov.uk/roads"},))

    status, _, token = rest(rasa, f"messenger:{PSID}", "I'm writing as them")

    assert status == 200 and token
    assert [m.sender_id for m in rasa.messages] == [f"rest:messenger:{PSID}"]
    assert rasa.messages[0].metadata == {"channel": "rest", "origin": "private"}
    # The Messenger resident's case and messaging window are untouched...
    assert case_lines(kb_url, case.id) == before
    with session_scope(kb_url) as s:
        assert s.get(Conversation, f"messenger:{PSID}").last_inbound_at == T0
    # ...and their staff replies can't be read through REST, with or without the REST caller's own token.
    assert rest_updates(f"messenger:{PSID}", None)[0] == 403
    status, body = rest_updates(f"messenger:{PSID}", token)  # the REST caller's own conversation
    assert status == 200 and "refund" not in json.dumps(body)


def test_a_second_caller_without_the_token_is_refused_and_leaves_no_trace(kb_url: str) -> None:
    owner = Recorder(({"text": "ok"},))
    status, _, token = rest(owner, "resident-42", "my bin wasn't collected")
    assert status == 200 and token
    case = staff_reply(kb_url, "rest:resident-42", "rest", "We'll send the crew back tomorrow")
    lines = case_lines(kb_url, case.id)

    attacker = Recorder(({"text": "ok"},))
    for forged in (None, "", "x" * 43, token[:-1] + ("A" if token[-1] != "A" else "B"), token + "A" * 30):
        status, body, given = rest(attacker, "resident-42", "cancel my case", token=forged)
        assert status == 403 and "someone else" in body["error"] and given is None
    assert attacker.messages == []  # the bot never saw it
    assert case_lines(kb_url, case.id) == lines  # nothing added to the resident's case

    status, body, given = rest(owner, "resident-42", "thanks", token=token)
    assert status == 200 and given is None  # the token is handed out once, at the start
    assert case_lines(kb_url, case.id) > lines  # the owner's message reached the case


def test_staff_replies_are_read_only_with_the_owner_token(kb_url: str) -> None:
    _, _, token = rest(Recorder(({"text": "ok"},)), "resident-7", "can I talk to someone")
    staff_reply(kb_url, "rest:resident-7", "rest", "Hello, this is Sam from the council")
    assert rest_updates("resident-7", None)[0] == 403
    assert rest_updates("resident-7", "not-the-token")[0] == 403
    assert rest_updates("someone-else", token)[0] == 403  # a token opens only its own conversation
    status, body = rest_updates("resident-7", token)
    assert status == 200 and [m["text"] for m in body] == ["Hello, this is Sam from the council"]


def test_web_chat_conversations_need_their_token_too(kb_url: str) -> None:
    sender = "3f2b9c1e-1111-4222-8333-444455556666"
    payload = json.dumps({"sender": sender, "message": "pothole"}).encode()
    first = asyncio.run(WebChatInput().answer(payload, Recorder(({"text": "ok"},))))
    token = first.headers.get(TOKEN_HEADER)
    assert first.status == 200 and token
    assert asyncio.run(WebChatInput().answer(payload, Recorder())).status == 403
    assert asyncio.run(WebChatInput().answer(payload, Recorder(({"text": "ok"},)), token)).status == 200
    # A web chat token is no key to the REST conversation of the same name, nor the other way round.
    assert rest(Recorder(({"text": "ok"},)), sender, "hi", token=token)[2] is not None  # a new REST conversation
    assert rest_updates(sender, token)[0] == 403


def test_two_callers_racing_for_a_new_id_cannot_both_own_it(kb_url: str) -> None:
    from knowledge.delivery.access import authorize_write

    first = authorize_write("rest:race", "rest", "race", None, T0)
    second = authorize_write("rest:race", "rest", "race", None, T0)
    assert first.allowed and first.new_token
    assert not second.allowed and second.new_token is None
    assert authorize_write("rest:race", "rest", "race", first.new_token, T0).allowed


def test_a_platform_conversation_is_never_writable_from_a_caller_named_channel(kb_url: str) -> None:
    from knowledge.delivery.access import authorize_write

    with session_scope(kb_url) as s:
        touch_conversation(s, "web:abc", "messenger", "private", PSID, None, None, T0)  # an odd, clashing row
    assert not authorize_write("web:abc", "webchat", "abc", None, T0).allowed


@pytest.mark.postgres
def test_owner_tokens_on_postgresql(pg_schema_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from knowledge.delivery.access import authorize_write, may_read

    monkeypatch.setenv("DATABASE_URL", pg_schema_url)
    first = authorize_write("rest:pg", "rest", "pg", None, T0, pg_schema_url)
    assert first.allowed and first.new_token
    assert not authorize_write("rest:pg", "rest", "pg", None, T0, pg_schema_url).allowed
    assert may_read("rest:pg", first.new_token, pg_schema_url)
    assert not may_read("rest:pg", "nope", pg_schema_url)
