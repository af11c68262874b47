"""A pin or photo sent on its own reaches the bot (as `/shared_location` or `/shared_photo`), so a report can
use it; and what a resident types is never taken by Rasa as an intent command, on any channel, while the
buttons the bot offers still work."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any, Optional

from rasa.core.channels.channel import UserMessage
from sqlalchemy import select

from bot.channels import meta_events
from bot.channels.events import AttachmentRef, Incoming
from bot.channels.responder import Responder
from bot.channels.rest import EMPTY_REPLY
from bot.channels.webchat import WebChatInput
from knowledge.db import session_scope
from knowledge.delivery.conversations import utcnow
from knowledge.models import Attachment
from knowledge.understanding.text import for_rasa
from tests.fakes import payloads as p

PIN = AttachmentRef(kind="location", latitude=52.9445, longitude=-1.1440)
PHOTO = AttachmentRef(kind="image", url="https://cdn.example/pothole.jpg")


class FakeRasa:
    """Stands in for Rasa: records what it was given (and what the attachments table held at that moment)
    and answers with one line."""

    def __init__(self, answer: str = "What would you like to report there?"):
        self.texts: list[str] = []
        self.metadata: list[dict[str, Any]] = []
        self.pins_stored: list[int] = []
        self.answer = answer

    async def __call__(self, message: UserMessage) -> None:
        self.texts.append(message.text or "")
        self.metadata.append(dict(message.metadata or {}))
        with session_scope() as session:
            rows = session.execute(select(Attachment).where(Attachment.conversation_id == message.sender_id)).scalars()
            self.pins_stored.append(sum(1 for a in rows if a.kind == "location" and a.latitude is not None))
        await message.output_channel.send_text_message(message.sender_id, self.answer)


async def _no_parse(_conversation_id: str) -> Optional[dict]:
    return None


def respond(
    rasa: FakeRasa,
    text: str = "",
    attachments: tuple[AttachmentRef, ...] = (),
    channel: str = "messenger",
    choice: bool = False,
    n: int = 0,
) -> str:
    incoming = Incoming(
        channel=channel,
        platform_id=f"m-{n}",
        user_id="psid-1",
        text=text,
        account_id="page-1",
        reply_to="post_1" if channel == "facebook_comment" else None,
        sent_at=utcnow(),
        attachments=list(attachments),
        choice=choice,
    )
    rows = asyncio.run(Responder(rasa, _no_parse, dt.timedelta(hours=24))(incoming))
    return "\n".join(r.text for r in rows)


def test_a_pin_on_its_own_reaches_the_bot_after_it_is_stored(kb_url: str) -> None:
    rasa = FakeRasa()
    answer = respond(rasa, attachments=(PIN,))
    assert rasa.texts == ["/shared_location"] and rasa.metadata[0]["attachments"] == ["location"]
    assert rasa.pins_stored == [1]  # the action can read the coordinates when it runs
    assert "What would you like to report there?" in answer
    assert "I've kept the location" not in answer  # the bot's own answer is enough


def test_a_photo_on_its_own_reaches_the_bot(kb_url: str) -> None:
    rasa = FakeRasa("Thanks for the photo.")
    assert "Thanks for the photo." in respond(rasa, attachments=(PHOTO,))
    assert rasa.texts == ["/shared_photo"]


def test_a_pin_with_a_photo_is_a_location_and_words_with_a_photo_are_words(kb_url: str) -> None:
    rasa = FakeRasa()
    respond(rasa, attachments=(PHOTO, PIN), n=1)
    respond(rasa, "pothole outside my house", attachments=(PHOTO,), n=2)
    assert rasa.texts == ["/shared_location", "pothole outside my house"]


def test_what_the_bot_cant_use_still_gets_the_polite_note_and_no_bot_turn(kb_url: str) -> None:
    rasa = FakeRasa()
    answer = respond(rasa, attachments=(AttachmentRef(kind="sticker", url="https://cdn.example/s.png"),))
    assert rasa.texts == [] and "can't open" in answer


def test_a_photo_on_a_public_comment_is_not_taken_as_the_start_of_a_report(kb_url: str) -> None:
    rasa = FakeRasa()
    answer = respond(rasa, attachments=(PHOTO,), channel="facebook_comment")
    assert rasa.texts == [] and answer  # the usual note, no report form in public


def test_typed_commands_are_words_but_button_payloads_are_commands(kb_url: str) -> None:
    rasa = FakeRasa("ok")
    respond(rasa, "/crisis", n=1)
    respond(rasa, '/human_handoff{"reference": "NC-2026-000001"}', n=2)
    respond(rasa, "/ the bins weren't emptied", n=3)
    respond(rasa, "/svc_roads_pothole", choice=True, n=4)  # a quick reply the bot offered
    respond(rasa, '/affirm{"report_confirm": "yes"}', choice=True, n=5)  # a payload with entities: not ours
    assert rasa.texts == [
        "crisis",
        'human_handoff{"reference": "NC-2026-000001"}',
        "the bins weren't emptied",
        "/svc_roads_pothole",
        'affirm{"report_confirm": "yes"}',
    ]


def test_only_slashes_get_an_answer_without_a_bot_turn(kb_url: str) -> None:
    rasa = FakeRasa()
    assert EMPTY_REPLY in respond(rasa, "//")
    assert rasa.texts == []


def test_messenger_marks_quick_replies_and_postbacks_as_choices_and_typing_not() -> None:
    [typed], _ = meta_events.parse(p.messenger("psid-1", text="/affirm"))
    [quick], _ = meta_events.parse(p.messenger("psid-1", text="Yes", quick_reply="/affirm"))
    assert (typed.text, typed.choice) == ("/affirm", False)
    assert (quick.text, quick.choice) == ("/affirm", True)
    assert for_rasa(typed.text, typed.choice) == "affirm" and for_rasa(quick.text, quick.choice) == "/affirm"
    button = {"type": "interactive", "interactive": {"button_reply": {"id": "/deny", "title": "No"}}}
    [chosen], _ = meta_events.parse(p.whatsapp("447700900123", {"id": "wamid.1", "from": "447700900123", **button}))
    assert (chosen.text, chosen.choice) == ("/deny", True)


def test_web_chat_typed_slash_is_words_and_a_button_is_a_command(kb_url: str) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.texts: list[str] = []

        async def __call__(self, message: UserMessage) -> None:
            self.texts.append(message.text or "")
            await message.output_channel.send_text_message(message.sender_id, "ok")

    rasa = Recorder()
    chat = WebChatInput()
    first = asyncio.run(chat.answer(json.dumps({"sender": "page-1", "message": "/greet"}).encode(), rasa))
    token = first.headers.get("X-Conversation-Token")
    body = {"sender": "page-1", "message": "/svc_roads_pothole", "choice": True}
    asyncio.run(chat.answer(json.dumps(body).encode(), rasa, token))
    bad = asyncio.run(chat.answer(json.dumps({**body, "choice": "yes"}).encode(), rasa, token))
    assert rasa.texts == ["greet", "/svc_roads_pothole"]
    assert bad.status == 400
