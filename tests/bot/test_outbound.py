"""Staff replies going out to residents on the channel they used, through a fake Meta and X over real HTTP:
the web chat collects them itself, Messenger gets a Send API call inside the 24-hour window, a public comment
gets one private reply, an X mention a DM."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Optional

import pytest
from sqlalchemy import select

from bot.channels.config import DeliveryConfig, MetaConfig
from bot.channels.sending.dispatch import Dispatcher
from bot.channels.sending.outbound import send_to_resident
from bot.channels.sending.senders import MetaSender
from knowledge.db import session_scope
from knowledge.delivery.claims import Claimer
from knowledge.delivery.conversations import utcnow
from knowledge.models import CaseMessage, Conversation, OutboundMessage
from tests.fakes.platform import FakePlatform

REPLY = "Hello, this is Alice from the council. The crew will come back for your bin tomorrow."
CHOICES = [{"title": "That's sorted", "payload": "/affirm"}, {"title": "Still a problem", "payload": "/deny"}]


@pytest.fixture(scope="module")
def _platform() -> Iterator[FakePlatform]:
    with FakePlatform() as platform:  # one server for the module: shutting one down takes half a second
        yield platform


@pytest.fixture
def fake(_platform: FakePlatform) -> FakePlatform:
    _platform.reset()
    return _platform


@pytest.fixture
def meta(fake: FakePlatform, monkeypatch: pytest.MonkeyPatch) -> FakePlatform:
    monkeypatch.setenv("META_APP_SECRET", "app-secret")
    monkeypatch.setenv("META_VERIFY_TOKEN", "verify-me")
    monkeypatch.setenv("META_PAGE_ACCESS_TOKEN", "page-token")
    monkeypatch.setenv("META_GRAPH_URL", fake.url)
    return fake


@pytest.fixture
def x(fake: FakePlatform, monkeypatch: pytest.MonkeyPatch) -> FakePlatform:
    monkeypatch.setenv("X_CONSUMER_SECRET", "x-secret")
    monkeypatch.setenv("X_ACCESS_TOKEN", "x-token")
    monkeypatch.setenv("X_API_URL", fake.url)
    return fake


@pytest.fixture
def no_platforms(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "META_APP_SECRET",
        "META_VERIFY_TOKEN",
        "META_PAGE_ACCESS_TOKEN",
        "META_GRAPH_URL",
        "WHATSAPP_ACCESS_TOKEN",
        "X_CONSUMER_SECRET",
        "X_ACCESS_TOKEN",
        "X_API_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def _conversation(
    url: str,
    channel: str,
    user: str,
    account: Optional[str] = "page-1",
    reply_to: Optional[str] = None,
    last_inbound: Optional[dt.datetime] = None,
    origin: str = "private",
) -> str:
    conv_id = f"{channel}:{user}"
    with session_scope(url) as s:
        s.add(
            Conversation(
                id=conv_id,
                channel=channel,
                origin=origin,
                platform_user_id=user,
                account_id=account,
                reply_to=reply_to,
                last_inbound_at=last_inbound or utcnow(),
            )
        )
    return conv_id


def _outbound(url: str) -> list[tuple[str, str, str, str, Optional[str]]]:
    with session_scope(url) as s:
        rows = s.execute(select(OutboundMessage).order_by(OutboundMessage.id)).scalars().all()
        return [(r.conversation_id, r.channel, r.kind, r.status, r.platform_message_id) for r in rows]


# send_to_resident awaits every API call, so by the time it returns the fake has recorded them all.
def _send(conv: str, channel: str, text: str = REPLY, buttons: Optional[list[dict]] = None) -> str:
    return asyncio.run(send_to_resident(conv, channel, text, buttons))


# --- polled channels ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["webchat", "rest"])
def test_web_chat_and_rest_are_queued_for_the_page(kb_url: str, meta: FakePlatform, channel: str) -> None:
    assert _send(f"{channel}:abc", channel) == "queued"
    assert list(meta.calls) == []
    assert _outbound(kb_url) == []


# --- Messenger ----------------------------------------------------------------------------------------------------


def test_messenger_reply_is_one_send_api_call(kb_url: str, meta: FakePlatform) -> None:
    conv = _conversation(kb_url, "messenger", "psid-1")
    assert _send(conv, "messenger") == "sent"
    calls = list(meta.calls)
    assert len(calls) == 1
    call = calls[0]
    assert (call.method, call.path) == ("POST", "/page-1/messages")
    assert call.headers.get("Authorization") == "Bearer page-token"
    assert call.body == {"recipient": {"id": "psid-1"}, "messaging_type": "RESPONSE", "message": {"text": REPLY}}
    [row] = _outbound(kb_url)
    assert row[:4] == (conv, "messenger", "message", "sent") and row[4].startswith("m_")  # the platform's id


def test_buttons_become_quick_replies(kb_url: str, meta: FakePlatform) -> None:
    conv = _conversation(kb_url, "messenger", "psid-2")
    assert _send(conv, "messenger", "Is your bin sorted now?", CHOICES) == "sent"
    [call] = list(meta.calls)
    assert call.body["message"] == {
        "text": "Is your bin sorted now?",
        "quick_replies": [
            {"content_type": "text", "title": "That's sorted", "payload": "/affirm"},
            {"content_type": "text", "title": "Still a problem", "payload": "/deny"},
        ],
    }


def test_long_reply_is_split_in_order_with_buttons_on_the_last(kb_url: str, meta: FakePlatform) -> None:
    conv = _conversation(kb_url, "messenger", "psid-3")
    first, second = "A" * 1500 + ".", "B" * 1500 + "."
    assert _send(conv, "messenger", f"{first}\n{second}", CHOICES) == "sent"
    calls = list(meta.calls)
    assert [c.body["message"]["text"] for c in calls] == [first, second]
    assert "quick_replies" not in calls[0].body["message"] and len(calls[1].body["message"]["quick_replies"]) == 2
    assert [row[3] for row in _outbound(kb_url)] == ["sent", "sent"]


def test_outside_the_24_hour_window_nothing_is_sent(kb_url: str, meta: FakePlatform) -> None:
    conv = _conversation(kb_url, "messenger", "psid-4", last_inbound=utcnow() - dt.timedelta(hours=25))
    assert _send(conv, "messenger") == "outside_window"
    assert list(meta.calls) == []
    assert _outbound(kb_url) == [(conv, "messenger", "message", "outside_window", None)]


def test_just_inside_the_window_is_sent(kb_url: str, meta: FakePlatform) -> None:
    conv = _conversation(kb_url, "messenger", "psid-5", last_inbound=utcnow() - dt.timedelta(hours=23, minutes=50))
    assert _send(conv, "messenger") == "sent"
    assert len(list(meta.calls)) == 1


def test_platform_refusal_is_failed(kb_url: str, meta: FakePlatform) -> None:
    conv = _conversation(kb_url, "messenger", "psid-6")
    meta.fail_next(400)
    assert _send(conv, "messenger") == "failed"
    assert len(list(meta.calls)) == 1  # a 400 is not retried
    [row] = _outbound(kb_url)
    assert row[3] == "failed"


def test_unknown_conversation_is_failed(kb_url: str, meta: FakePlatform) -> None:
    assert _send("messenger:nobody", "messenger") == "failed"
    assert list(meta.calls) == []


def test_channel_not_configured_is_failed(kb_url: str, fake: FakePlatform, no_platforms: None) -> None:
    conv = _conversation(kb_url, "messenger", "psid-7")
    assert _send(conv, "messenger") == "failed"
    xconv = _conversation(kb_url, "x", "x-user-7", account=None)
    assert _send(xconv, "x") == "failed"
    assert list(fake.calls) == []
    assert _outbound(kb_url) == []


def test_whatsapp_reply_goes_to_the_business_number(kb_url: str, meta: FakePlatform) -> None:
    conv = _conversation(kb_url, "whatsapp", "447700900123", account="wa-number-1")
    assert _send(conv, "whatsapp") == "sent"
    [call] = list(meta.calls)
    assert call.path == "/wa-number-1/messages"
    assert call.body["to"] == "447700900123" and call.body["text"]["body"] == REPLY


# --- public conversations: follow-ups go privately ----------------------------------------------------------------


def test_facebook_comment_gets_exactly_one_private_reply(kb_url: str, meta: FakePlatform) -> None:
    conv = _conversation(kb_url, "facebook_comment", "fb-user-1", reply_to="comment-99", origin="public")
    assert _send(conv, "facebook_comment", REPLY, CHOICES) == "sent"
    calls = list(meta.calls)
    assert len(calls) == 1
    assert calls[0].path == "/page-1/messages"
    assert calls[0].body == {"recipient": {"comment_id": "comment-99"}, "message": {"text": REPLY}}
    [row] = _outbound(kb_url)
    assert row[:4] == (conv, "facebook_comment", "private_reply", "sent") and row[4].startswith("m_")


def test_a_reply_too_long_for_one_private_reply_is_not_sent_in_part(kb_url: str, meta: FakePlatform) -> None:
    conv = _conversation(kb_url, "facebook_comment", "fb-user-2", reply_to="comment-100", origin="public")
    assert _send(conv, "facebook_comment", "A" * 1500 + ".\n" + "B" * 1500 + ".") == "too_long"
    assert list(meta.calls) == []
    assert _send(conv, "facebook_comment", "A" * 1500 + ".") == "sent"
    [call] = meta.calls
    assert call.body["recipient"] == {"comment_id": "comment-100"}


def test_staff_are_not_told_sent_when_part_of_a_comment_reply_was_dropped(kb_url: str, meta: FakePlatform) -> None:
    conv = _conversation(kb_url, "facebook_comment", "fb-user-4", reply_to="comment-102", origin="public")
    words = "A" * 1500 + ". " + "Call 0300 123 4567 about your bin."
    words = words + "\n" + "B" * 1500 + ". Your reference is NC-2026-000007."
    status = _send(conv, "facebook_comment", words)
    # Over 2,000 characters: refused whole and named, never sent in part (nor in full as several replies).
    assert status == "too_long"
    assert list(meta.calls) == []
    # Staff shorten it to what fits one private reply: it goes, all of it, reference included.
    shorter = "Call 0300 123 4567 about your bin.\n" + "B" * 1500 + ". Your reference is NC-2026-000007."
    assert _send(conv, "facebook_comment", shorter) == "sent"
    sent = [c.body["message"]["text"] for c in meta.calls]
    assert sent == [shorter]


def test_instagram_comment_private_reply_is_held_to_instagrams_1000_characters(kb_url: str, meta: FakePlatform) -> None:
    # The private reply lands in Instagram Direct, whose limit is 1,000 characters (Messenger's is 2,000).
    conv = _conversation(
        kb_url, "instagram_comment", "ig-user-1", account="ig-account-1", reply_to="ig-comment-7", origin="public"
    )
    assert _send(conv, "instagram_comment", "A" * 1500 + ".") == "too_long"
    assert list(meta.calls) == []
    assert _outbound(kb_url) == []
    fits = "A" * 990 + "."
    assert _send(conv, "instagram_comment", fits) == "sent"
    [call] = meta.calls
    assert call.path == "/ig-account-1/messages"
    assert call.body == {"recipient": {"comment_id": "ig-comment-7"}, "message": {"text": fits}}


def test_facebook_comment_private_reply_is_held_to_messengers_2000_characters(kb_url: str, meta: FakePlatform) -> None:
    conv = _conversation(kb_url, "facebook_comment", "fb-user-5", reply_to="comment-103", origin="public")
    assert _send(conv, "facebook_comment", "A" * 2100 + ".") == "too_long"
    assert list(meta.calls) == []
    fits = "A" * 1990 + "."
    assert _send(conv, "facebook_comment", fits) == "sent"
    [call] = meta.calls
    assert call.body == {"recipient": {"comment_id": "comment-103"}, "message": {"text": fits}}


def test_old_comment_is_outside_its_private_reply_window(kb_url: str, meta: FakePlatform) -> None:
    conv = _conversation(
        kb_url,
        "facebook_comment",
        "fb-user-3",
        reply_to="comment-101",
        origin="public",
        last_inbound=utcnow() - dt.timedelta(days=8),
    )
    assert _send(conv, "facebook_comment") == "outside_window"
    assert list(meta.calls) == []


def test_x_mention_follow_up_is_a_dm(kb_url: str, x: FakePlatform) -> None:
    conv = _conversation(
        kb_url,
        "x_mention",
        "x-user-1",
        account="council-x",
        reply_to="tweet-5",
        origin="public",
        last_inbound=utcnow() - dt.timedelta(days=3),
    )  # X has no window for DMs here
    assert _send(conv, "x_mention") == "sent"
    calls = list(x.calls)
    assert len(calls) == 1
    assert (calls[0].method, calls[0].path) == ("POST", "/2/dm_conversations/with/x-user-1/messages")
    assert calls[0].body == {"text": REPLY}
    assert calls[0].headers.get("Authorization") == "Bearer x-token"
    assert not any(c.path.startswith("/2/tweets") for c in calls)  # nothing public
    [row] = _outbound(kb_url)
    assert row[:4] == (conv, "x_mention", "private_reply", "sent") and row[4].startswith("dm")


def test_x_dm_conversation(kb_url: str, x: FakePlatform) -> None:
    conv = _conversation(kb_url, "x", "x-user-2", account="council-x")
    assert _send(conv, "x") == "sent"
    [call] = list(x.calls)
    assert call.path == "/2/dm_conversations/with/x-user-2/messages" and call.body == {"text": REPLY}


# --- the durable queue: staff replies are not lost to a bad minute or doubled by a hang ----------------------------


def _case_line(url: str) -> int:
    with session_scope(url) as s:
        line = CaseMessage(case_id=1, author="staff", text=REPLY, delivery="pending")
        s.add(line)
        s.flush()
        return line.id


def test_a_staff_reply_that_meets_a_bad_minute_is_queued_then_sent_once(
    kb_url: str, meta: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTBOUND_RETRY_BASE_SECONDS", "0.02")
    monkeypatch.setenv("OUTBOUND_RETRY_MAX_SECONDS", "0.2")
    conv = _conversation(kb_url, "messenger", "psid-8")
    line = _case_line(kb_url)
    meta.fail_for(2.0, 503)
    assert asyncio.run(send_to_resident(conv, "messenger", REPLY, case_message_id=line)) == "queued"

    async def rasa_server_sender() -> None:  # the Rasa server's sweep takes it from here
        dispatcher = Dispatcher(
            MetaSender(MetaConfig.from_env().graph()), ["messenger"], DeliveryConfig.from_env(), Claimer("host-1:5005")
        )
        while _outbound(kb_url)[0][3] != "sent":
            await dispatcher.sweep()
            await dispatcher.idle()
            await asyncio.sleep(0.05)

    asyncio.run(asyncio.wait_for(rasa_server_sender(), timeout=30))
    delivered = [c for c in meta.settle(quiet=0.5) if c.status == 200]
    assert len(delivered) == 1 and delivered[0].body["message"]["text"] == REPLY
    with session_scope(kb_url) as s:
        assert s.get(CaseMessage, line).delivery == "sent"  # what staff see follows the queue


def test_a_staff_reply_with_no_answer_is_unknown_and_not_resent(
    kb_url: str, meta: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLATFORM_API_TIMEOUT_SECONDS", "0.3")
    conv = _conversation(kb_url, "messenger", "psid-9")
    meta.stall_next(1, seconds=1.0)
    assert _send(conv, "messenger") == "unknown"

    async def sweep() -> int:
        dispatcher = Dispatcher(
            MetaSender(MetaConfig.from_env().graph()), ["messenger"], DeliveryConfig.from_env(), Claimer("host-1:5005")
        )
        return await dispatcher.sweep()

    assert asyncio.run(sweep()) == 0
    assert len(meta.settle(quiet=1.5)) == 1
    assert [row[3] for row in _outbound(kb_url)] == ["unknown"]


def test_a_staff_reply_waits_behind_an_earlier_unsent_message(kb_url: str, meta: FakePlatform) -> None:
    conv = _conversation(kb_url, "messenger", "psid-10")
    meta.fail_next(500, times=2)  # the first reply's two quick tries fail; it waits for a retry
    assert _send(conv, "messenger", "First") == "queued"
    assert _send(conv, "messenger", "Second") == "queued"  # must not overtake "First"
    assert [c.body["message"]["text"] for c in meta.calls] == ["First", "First"]


# --- connections: one client per process, reused --------------------------------------------------------------------


def test_replies_in_one_process_share_one_connection_to_the_platform(kb_url: str, meta: FakePlatform) -> None:
    convs = [_conversation(kb_url, "messenger", f"psid-conn-{i}") for i in range(4)]

    async def staff_replies() -> list[str]:  # as the console does: several replies on its one event loop
        return [await send_to_resident(conv, "messenger", REPLY) for conv in convs]

    assert asyncio.run(staff_replies()) == ["sent"] * 4
    calls = list(meta.calls)
    assert len(calls) == 4
    assert len({c.peer for c in calls}) == 1  # one TCP connection: a client per call would open four
