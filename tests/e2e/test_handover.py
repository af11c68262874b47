"""A person takes over: the bot opens a case, goes quiet, passes the resident's messages to staff, delivers
staff replies, and takes the conversation back on resolve, through the real servers."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
import pytest
from sqlalchemy import select

from bot import casework
from bot.stack import BotStack
from knowledge.casework import cases
from knowledge.db import session_scope
from knowledge.models import Case, CaseMessage, StaffUser
from tests.e2e import residents

pytestmark = pytest.mark.e2e
POTHOLE = "https://www.northshire.gov.uk/roads/report-a-pothole"
REFERENCE = re.compile(r"NC-\d{4}-\d{6}")


def say(bot: BotStack, sender: str, text: str) -> list[dict]:
    r = residents.post(bot.webhook_url, sender, text)
    assert r.status_code == 200, r.text
    return r.json()


def updates(bot: BotStack, sender: str, after: int = 0) -> list[dict]:
    r = residents.updates(f"{bot.rasa_url}/webhooks/rest", sender, after)
    assert r.status_code == 200, r.text
    return r.json()


def agent(kb_url: str, username: str = "sam") -> int:
    with session_scope(kb_url) as session:
        user = session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
        if user is None:
            user = StaffUser(username=username, display_name=username.title(), role="agent", password_hash="x")
            session.add(user)
            session.flush()
        return user.id


def case_for(kb_url: str, conversation_id: str) -> Case:
    """The latest case of a conversation; a bare REST sender means its `rest:` conversation."""
    if ":" not in conversation_id:
        conversation_id = f"rest:{conversation_id}"
    with session_scope(kb_url) as session:
        return session.execute(select(Case).where(Case.conversation_id == conversation_id)).scalars().all()[-1]


def test_asking_for_a_person_pauses_the_bot_until_staff_resolve(bot: BotStack) -> None:
    sender = f"r-{uuid.uuid4().hex[:8]}"
    first = " ".join(m["text"] for m in say(bot, sender, "can I speak to a real person please"))
    reference = REFERENCE.search(first).group()
    assert "reply by" in first

    # Paused: the bot doesn't answer, the message goes to the case.
    while_paused = say(bot, sender, "there's also a pothole outside my house")
    assert all(POTHOLE not in m.get("text", "") for m in while_paused)
    case = case_for(bot.kb_url, sender)
    assert case.reference == reference and case.status == "new" and case.reason == "asked"
    with session_scope(bot.kb_url) as session:
        texts = [m.text for m in cases.timeline(session, case.id) if m.author == "resident"]
    assert texts[-1] == "there's also a pothole outside my house"
    assert "can I speak to a real person please" in texts  # the transcript came with the case

    # Asking again is told the same reference, not given a new one.
    again = " ".join(m["text"] for m in say(bot, sender, "hello? can I talk to someone"))
    assert set(REFERENCE.findall(again)) <= {reference}
    with session_scope(bot.kb_url) as session:
        assert len(session.execute(select(Case).where(Case.conversation_id == f"rest:{sender}")).scalars().all()) == 1

    # Staff claim and reply; the reply reaches the resident's channel (REST callers poll for it).
    staff = agent(bot.kb_url)
    with session_scope(bot.kb_url) as session:
        cases.claim(session, case.id, session.get(StaffUser, staff))
    sent = asyncio.run(casework.reply(case.id, staff, "Hi, I'm Sam. I've logged the pothole for you.", "n-1"))
    twice = asyncio.run(casework.reply(case.id, staff, "Hi, I'm Sam. I've logged the pothole for you.", "n-1"))
    assert sent.delivery == "queued" and not twice.created
    got = updates(bot, sender)
    assert [m["text"] for m in got] == ["Hi, I'm Sam. I've logged the pothole for you."]  # once

    # Resolve: the resident is asked one question, their rating is kept, and the bot answers again.
    asyncio.run(casework.resolve(case.id, staff, "answered"))
    question = updates(bot, sender, after=got[-1]["id"])
    assert "1 (poor) to 5" in question[0]["text"] and [b["payload"] for b in question[0]["buttons"]] == list("12345")
    thanks = say(bot, sender, "5")
    assert "Thank you for your feedback" in thanks[0]["text"]
    assert case_for(bot.kb_url, sender).satisfaction == 5
    after = " ".join(m["text"] for m in say(bot, sender, "pothole on the high street"))
    assert POTHOLE in after


def test_pause_survives_a_restart(bot: BotStack) -> None:
    sender = f"r-{uuid.uuid4().hex[:8]}"
    say(bot, sender, "I want to speak to a human")
    bot.stop()
    bot.start()
    reply = say(bot, sender, "pothole")
    assert all(POTHOLE not in m.get("text", "") for m in reply)
    with session_scope(bot.kb_url) as session:
        case = session.execute(select(Case).where(Case.conversation_id == f"rest:{sender}")).scalar_one()
        last = (
            session.execute(select(CaseMessage).where(CaseMessage.case_id == case.id).order_by(CaseMessage.id.desc()))
            .scalars()
            .first()
        )
    acknowledged = last.author == "bot" and last.text.startswith(
        f"Thanks, I've added that to your case {case.reference}. Our team"
    )
    assert (last.author, last.text) == ("resident", "pothole") or acknowledged


def test_a_crisis_opens_an_urgent_case_and_still_gives_the_numbers(bot: BotStack) -> None:
    sender = f"r-{uuid.uuid4().hex[:8]}"
    text = " ".join(m["text"] for m in say(bot, sender, "I want to end it all tonight"))
    assert "999" in text and "116 123" in text and REFERENCE.search(text)
    case = case_for(bot.kb_url, sender)
    assert (case.reason, case.priority) == ("crisis", "urgent")


def test_web_chat_resident_gets_staff_replies(bot: BotStack) -> None:
    sender = uuid.uuid4().hex
    r = residents.post(f"{bot.rasa_url}/webhooks/webchat/webhook", sender, "can I talk to a person")
    assert REFERENCE.search(" ".join(m["text"] for m in r.json()))
    case = case_for(bot.kb_url, f"web:{sender}")
    assert case.channel == "webchat"
    staff = agent(bot.kb_url, "jo")
    with session_scope(bot.kb_url) as session:
        cases.claim(session, case.id, session.get(StaffUser, staff))
    asyncio.run(casework.reply(case.id, staff, "Hello from Jo <b>at the council</b>", "n-web"))
    got = residents.updates(f"{bot.rasa_url}/webhooks/webchat", sender).json()
    assert got[-1]["text"] == "Hello from Jo <b>at the council</b>"
    # Another browser sees nothing of it: not with its own id, nor by naming this one without the token.
    assert httpx.get(f"{bot.rasa_url}/webhooks/webchat/updates", params={"sender": uuid.uuid4().hex}).status_code == 403
    stolen = httpx.get(f"{bot.rasa_url}/webhooks/webchat/updates", params={"sender": sender, "after": 0})
    assert stolen.status_code == 403 and "Hello from Jo" not in stolen.text
