"""Residents on Messenger, Facebook comments, Instagram, WhatsApp and X, through the real servers and a fake
platform on loopback that signs webhooks like Meta and X and records the bot's API calls."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.stack import BotStack
from knowledge.db import session_scope
from knowledge.models import Attachment, Conversation, InboundEvent, OutboundMessage
from tests.e2e.conftest import PAGE_TOKEN, platform_env, running_bot
from tests.fakes import payloads as p
from tests.fakes.platform import Call, FakePlatform, body_of, expected_crc, send_meta, send_x, x_crc

pytestmark = pytest.mark.e2e

APP_SECRET, VERIFY_TOKEN, X_SECRET = "test-app-secret", "verify-me-please", "x-consumer-secret"
POTHOLE = "https://www.northshire.gov.uk/roads/report-a-pothole"
MISSED_BIN = "https://www.northshire.gov.uk/bins/report-missed-collection"
HOSPITAL = "https://www.northshire.gov.uk/adult-social-care/leaving-hospital"


@pytest.fixture(scope="module")
def social(model: Path, fake: FakePlatform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotStack]:
    env = platform_env(
        fake.url,
        APP_SECRET,
        VERIFY_TOKEN,
        X_CONSUMER_SECRET=X_SECRET,
        X_ACCESS_TOKEN="x-user-token",
        X_API_URL=fake.url,
    )
    with running_bot(model, tmp_path_factory.mktemp("social"), env=env) as stack:
        yield stack


@pytest.fixture(autouse=True)
def clean_fake(fake: FakePlatform) -> None:
    fake.reset()


def meta_url(bot: BotStack) -> str:
    return f"{bot.rasa_url}/webhooks/meta/webhook"


def x_url(bot: BotStack) -> str:
    return f"{bot.rasa_url}/webhooks/x/webhook"


def text_of(call: Call) -> str:
    """The words a call sends, whatever the API's shape."""
    body = call.body or {}
    message = body.get("message")
    if isinstance(message, dict):
        return message.get("text", "")
    if isinstance(message, str):
        return message
    if body.get("messaging_product") == "whatsapp":
        return (body.get("text") or {}).get("body") or body["interactive"]["body"]["text"]
    return body.get("text", "")


def tracker_events(bot: BotStack, sender: str) -> int:
    db = bot.settings.tracker_store_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM events WHERE sender_id = ?", (sender,)).fetchone()[0]


def user_texts(bot: BotStack, sender: str) -> list[str]:
    db = bot.settings.tracker_store_url.removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id", (sender,)
        ).fetchall()
    return [json.loads(r[0])["text"] for r in rows]


def outbound_statuses(bot: BotStack, conversation_id: str, timeout: float = 30.0) -> list[str]:
    """Statuses of the messages queued for a conversation, once there are some and none is still waiting
    or on its way."""
    deadline = time.monotonic() + timeout
    while True:
        with session_scope(bot.kb_url) as s:
            rows = (
                s.execute(
                    select(OutboundMessage.status)
                    .where(OutboundMessage.conversation_id == conversation_id)
                    .order_by(OutboundMessage.id)
                )
                .scalars()
                .all()
            )
        settled = rows and not {"pending", "sending"} & set(rows)
        if settled or time.monotonic() > deadline:
            return list(rows)
        time.sleep(0.2)


# --- subscription checks -------------------------------------------------------------------------------------
def test_meta_verification_echoes_the_challenge_only_for_our_token(social: BotStack) -> None:
    ok = httpx.get(
        meta_url(social),
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = httpx.get(
        meta_url(social), params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444"}
    )
    assert wrong.status_code == 403 and "1158201444" not in wrong.text


def test_x_crc_answer_is_the_hmac_of_the_token(social: BotStack) -> None:
    started = time.monotonic()
    response = x_crc(x_url(social), "crc-token-abc123")
    assert response.status_code == 200
    assert response.json() == {"response_token": expected_crc(X_SECRET, "crc-token-abc123")}
    assert time.monotonic() - started < 3  # X's limit; it is computed, not looked up


# --- private messages get the link ---------------------------------------------------------------------------
def test_messenger_message_gets_the_pothole_link(social: BotStack, fake: FakePlatform) -> None:
    r = send_meta(meta_url(social), APP_SECRET, p.messenger("psid-101", "there's a massive pothole on my road"))
    assert r.status_code == 200
    call = fake.wait_for(1)[0]
    assert call.path == f"/{p.PAGE_ID}/messages"
    assert call.body["recipient"] == {"id": "psid-101"}
    assert POTHOLE in text_of(call)
    assert call.headers.get("Authorization") == f"Bearer {PAGE_TOKEN}"
    assert tracker_events(social, "messenger:psid-101") > 0  # namespaced conversation id


def test_instagram_dm_gets_the_link(social: BotStack, fake: FakePlatform) -> None:
    send_meta(meta_url(social), APP_SECRET, p.instagram_dm("igsid-7", "my bin wasn't emptied today"))
    call = fake.wait_for(1)[0]
    assert call.path == f"/{p.IG_ID}/messages" and call.body["recipient"] == {"id": "igsid-7"}
    assert MISSED_BIN in text_of(call)


def test_whatsapp_message_gets_the_link(social: BotStack, fake: FakePlatform) -> None:
    send_meta(meta_url(social), APP_SECRET, p.whatsapp_text("447700900123", "how do i report a pothole"))
    call = fake.wait_for(1)[0]
    assert call.path == f"/{p.PHONE_NUMBER_ID}/messages"
    assert call.body["to"] == "447700900123" and call.body["messaging_product"] == "whatsapp"
    assert POTHOLE in text_of(call)


def test_x_dm_gets_the_link(social: BotStack, fake: FakePlatform) -> None:
    send_x(x_url(social), X_SECRET, p.x_dm("9001", "bin not collected again"))
    call = fake.wait_for(1)[0]
    assert call.path == "/2/dm_conversations/with/9001/messages"
    assert MISSED_BIN in call.body["text"]
    assert tracker_events(social, "x:9001") > 0


def test_whatsapp_suggestions_become_reply_buttons(social: BotStack, fake: FakePlatform) -> None:
    # The same unclear words the REST test uses: the bot offers likely services rather than guessing.
    send_meta(meta_url(social), APP_SECRET, p.whatsapp_text("447700900124", "the thing with the stuff"))
    body = fake.wait_for(1)[0].body
    assert body["type"] == "interactive"
    action = body["interactive"]["action"]
    choices = [b["reply"] for b in action["buttons"]] if "buttons" in action else action["sections"][0]["rows"]
    assert 1 <= len(choices) <= 3  # up to three likely services: reply buttons
    assert all(len(c["title"]) <= 20 and c["id"].startswith("/svc_") for c in choices)
    assert "0300 123 4567" in body["interactive"]["body"]["text"]


# --- public comments and mentions ----------------------------------------------------------------------------
def test_public_comment_gets_a_short_public_reply_with_the_link(social: BotStack, fake: FakePlatform) -> None:
    send_meta(
        meta_url(social),
        APP_SECRET,
        p.page_comment("fbuser-1", "Who do I tell about potholes?", comment_id="1000001_900"),
    )
    calls = fake.settle(at_least=1)
    assert [c.path for c in calls] == ["/1000001_900/comments"]
    assert POTHOLE in calls[0].body["message"]


def test_public_comment_with_a_postcode_moves_to_private(social: BotStack, fake: FakePlatform) -> None:
    send_meta(
        meta_url(social),
        APP_SECRET,
        p.page_comment(
            "fbuser-2", "Pothole outside 14 Elm Road NB1 2AB, nearly lost a wheel", comment_id="1000001_901"
        ),
    )
    calls = fake.settle(at_least=2)
    public = [c for c in calls if c.path == "/1000001_901/comments"]
    private = [c for c in calls if c.path == f"/{p.PAGE_ID}/messages"]
    assert len(public) == 1 and len(private) == 1
    said = public[0].body["message"]
    assert "private message" in said
    assert "NB1" not in said and "Elm" not in said and "14" not in said
    assert private[0].body["recipient"] == {"comment_id": "1000001_901"}
    assert POTHOLE in text_of(private[0])
    with session_scope(social.kb_url) as s:
        conv = s.get(Conversation, "facebook_comment:fbuser-2")
        assert conv.origin == "public" and conv.channel == "facebook_comment"


def test_sensitive_public_mention_on_x_is_answered_by_dm(social: BotStack, fake: FakePlatform) -> None:
    send_x(
        x_url(social),
        X_SECRET,
        p.x_mention(
            "9002",
            "my dad is coming home from hospital next week and needs care at home, who do we talk to?",
            tweet_id="777",
        ),
    )
    calls = fake.settle(at_least=2)
    tweets = [c for c in calls if c.path == "/2/tweets"]
    dms = [c for c in calls if c.path == "/2/dm_conversations/with/9002/messages"]
    assert len(tweets) == 1 and dms
    assert tweets[0].body["reply"] == {"in_reply_to_tweet_id": "777"}
    assert "DM" in tweets[0].body["text"] and HOSPITAL not in tweets[0].body["text"]
    assert HOSPITAL in "\n".join(c.body["text"] for c in dms)


def test_public_crisis_message_gets_999_and_samaritans_in_public(social: BotStack, fake: FakePlatform) -> None:
    send_meta(
        meta_url(social), APP_SECRET, p.page_comment("fbuser-3", "i want to end my life", comment_id="1000001_902")
    )
    calls = fake.settle(at_least=2)
    public = [c for c in calls if c.path == "/1000001_902/comments"]
    private = [c for c in calls if c.path == f"/{p.PAGE_ID}/messages"]
    assert len(public) == 1 and "999" in public[0].body["message"] and "116 123" in public[0].body["message"]
    assert private and "116 123" in text_of(private[0])


def test_x_mention_reply_is_threaded_and_fits_one_post(social: BotStack, fake: FakePlatform) -> None:
    send_x(x_url(social), X_SECRET, p.x_mention("9003", "the bins on our street were missed again!!", tweet_id="778"))
    calls = fake.settle(at_least=1)
    assert [c.path for c in calls] == ["/2/tweets"]
    text = calls[0].body["text"]
    assert calls[0].body["reply"] == {"in_reply_to_tweet_id": "778"}
    assert MISSED_BIN in text
    weighted = len(text.replace(MISSED_BIN, "")) + 23
    assert weighted <= 280


# --- forged, replayed, malformed -----------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["unsigned", "wrong secret", "edited after signing", "signed re-serialised JSON"])
def test_forged_meta_requests_get_403_and_leave_no_trace(social: BotStack, fake: FakePlatform, how: str) -> None:
    psid = f"forged-{how.replace(' ', '-')}"
    payload = p.messenger(psid, "pothole on my road")
    body = body_of(payload)
    if how == "unsigned":
        r = send_meta(meta_url(social), APP_SECRET, body=body, sign=False)
    elif how == "wrong secret":
        r = send_meta(meta_url(social), "not-the-secret", body=body)
    elif how == "edited after signing":
        from tests.fakes.platform import meta_signature

        r = send_meta(
            meta_url(social),
            APP_SECRET,
            body=body.replace(b"pothole", b"potholes"),
            signature=meta_signature(APP_SECRET, body),
        )
    else:
        from tests.fakes.platform import meta_signature

        pretty = json.dumps(payload, indent=2).encode()
        r = send_meta(meta_url(social), APP_SECRET, body=body, signature=meta_signature(APP_SECRET, pretty))
    assert r.status_code == 403
    assert fake.settle(quiet=1.0) == []
    assert tracker_events(social, f"messenger:{psid}") == 0
    with session_scope(social.kb_url) as s:
        assert (
            s.execute(select(InboundEvent).where(InboundEvent.conversation_id == f"messenger:{psid}")).first() is None
        )


def test_forged_x_request_gets_403(social: BotStack, fake: FakePlatform) -> None:
    r = send_x(x_url(social), "wrong", p.x_dm("9004", "pothole"))
    assert r.status_code == 403
    assert fake.settle(quiet=1.0) == [] and tracker_events(social, "x:9004") == 0


def test_a_retried_delivery_gets_one_reply(social: BotStack, fake: FakePlatform) -> None:
    payload = p.messenger("psid-retry", "pothole on the high street", mid="m_retry_1")
    first = send_meta(meta_url(social), APP_SECRET, payload)
    second = send_meta(meta_url(social), APP_SECRET, payload)  # Meta retries with the same body
    assert first.status_code == second.status_code == 200
    assert second.json()["repeated"] == 1
    calls = fake.settle(at_least=1)
    assert len(calls) == 1 and POTHOLE in text_of(calls[0])
    assert user_texts(social, "messenger:psid-retry") == ["pothole on the high street"]


def test_a_replay_older_than_retention_is_refused(social: BotStack, fake: FakePlatform) -> None:
    payload = p.messenger("psid-old", "pothole", offset_s=-8 * 24 * 3600)
    r = send_meta(meta_url(social), APP_SECRET, payload)
    assert r.status_code == 200 and r.json()["queued"] == 0
    assert fake.settle(quiet=1.0) == [] and tracker_events(social, "messenger:psid-old") == 0


@pytest.mark.parametrize(
    "body,status",
    [
        (b"{not json", 400),
        (b'{"object":"page","entry":[{"id":"1"', 400),
        (b'["a list"]', 400),
        (b'{"object":"page"}', 400),
    ],
)
def test_signed_malformed_bodies_get_400(social: BotStack, fake: FakePlatform, body: bytes, status: int) -> None:
    r = send_meta(meta_url(social), APP_SECRET, body=body)
    assert r.status_code == status and "error" in r.json()
    assert fake.settle(quiet=0.5) == []


def test_unknown_events_are_acknowledged_and_ignored(social: BotStack, fake: FakePlatform) -> None:
    read_receipt = {
        "object": "page",
        "entry": [
            {
                "id": p.PAGE_ID,
                "time": 1,
                "messaging": [
                    {
                        "sender": {"id": "psid-r"},
                        "recipient": {"id": p.PAGE_ID},
                        "timestamp": 1,
                        "read": {"watermark": 1},
                    }
                ],
            }
        ],
    }
    for payload in (read_receipt, {"object": "marketplace", "entry": []}):
        r = send_meta(meta_url(social), APP_SECRET, payload)
        assert r.status_code == 200 and r.json()["queued"] == 0
    assert fake.settle(quiet=1.0) == []


def test_an_enormous_payload_is_refused(social: BotStack, fake: FakePlatform) -> None:
    huge = p.messenger("psid-huge", "x" * (2 * 1024 * 1024))
    r = send_meta(meta_url(social), APP_SECRET, huge)
    assert r.status_code == 413
    assert fake.settle(quiet=1.0) == [] and tracker_events(social, "messenger:psid-huge") == 0


# --- acknowledging before working, bursts, retries -----------------------------------------------------------
def test_webhook_acknowledges_before_the_reply_is_sent(social: BotStack, fake: FakePlatform) -> None:
    fake.delay = 3.0  # a slow Graph API must not hold the webhook's answer
    r = send_meta(meta_url(social), APP_SECRET, p.messenger("psid-slow", "pothole"))
    assert r.status_code == 200
    assert fake.calls == []  # acknowledged while the reply had not even been attempted
    assert POTHOLE in text_of(fake.wait_for(1, timeout=60)[0])


def test_a_burst_of_100_is_all_answered_in_order(social: BotStack, fake: FakePlatform) -> None:
    asks = ["pothole on my road", "my bin was not collected"] * 50
    for i, text in enumerate(asks):
        r = send_meta(meta_url(social), APP_SECRET, p.messenger("psid-burst", f"{text} ({i})", mid=f"m_burst_{i}"))
        assert r.status_code == 200 and r.json()["queued"] == 1
    calls = fake.wait_for(100, timeout=240)
    replies = [text_of(c) for c in calls if c.body.get("recipient") == {"id": "psid-burst"}]
    assert len(replies) == 100
    expected = [POTHOLE if "pothole" in a else MISSED_BIN for a in asks]
    assert [POTHOLE if POTHOLE in r else MISSED_BIN if MISSED_BIN in r else r for r in replies] == expected
    assert user_texts(social, "messenger:psid-burst") == [f"{t} ({i})" for i, t in enumerate(asks)]


def test_rate_limited_send_is_retried(social: BotStack, fake: FakePlatform) -> None:
    fake.fail_next(429, times=2, retry_after="1")
    send_meta(meta_url(social), APP_SECRET, p.messenger("psid-429", "pothole"))
    calls = fake.wait_for(3, timeout=60)
    assert len(calls) == 3 and POTHOLE in text_of(calls[2])
    assert outbound_statuses(social, "messenger:psid-429") == ["sent"]


# --- messaging window and attachments ------------------------------------------------------------------------
def test_outside_the_24_hour_window_nothing_is_sent_and_the_attempt_is_recorded(
    social: BotStack, fake: FakePlatform
) -> None:
    # A delivery that arrives late: the resident wrote 25 hours ago.
    send_meta(meta_url(social), APP_SECRET, p.whatsapp_text("447700900555", "pothole", offset_s=-25 * 3600))
    assert fake.settle() == []
    rows = outbound_statuses(social, "whatsapp:447700900555")
    assert rows and set(rows) == {"outside_window"}
    assert tracker_events(social, "whatsapp:447700900555") > 0  # understood and kept, just not sent


def test_a_photo_and_a_location_are_kept_and_acknowledged(social: BotStack, fake: FakePlatform) -> None:
    photo = [{"type": "image", "payload": {"url": "https://scontent.example/photo.jpg"}}]
    send_meta(meta_url(social), APP_SECRET, p.messenger("psid-photo", attachments=photo))
    send_meta(
        meta_url(social),
        APP_SECRET,
        p.whatsapp("447700900777", {"type": "location", "location": {"latitude": 52.95, "longitude": -1.15}}),
    )
    calls = fake.wait_for(2)
    assert all("kept" in text_of(c) for c in calls)
    with session_scope(social.kb_url) as s:
        kinds = {(a.conversation_id, a.kind) for a in s.execute(select(Attachment)).scalars()}
    assert ("messenger:psid-photo", "image") in kinds and ("whatsapp:447700900777", "location") in kinds


def test_a_voice_note_gets_a_polite_reply_not_a_crash(social: BotStack, fake: FakePlatform) -> None:
    send_meta(
        meta_url(social),
        APP_SECRET,
        p.whatsapp("447700900888", {"type": "audio", "audio": {"id": "media-1", "mime_type": "audio/ogg"}}),
    )
    call = fake.wait_for(1)[0]
    assert "can't open voice messages" in text_of(call)
    send_meta(meta_url(social), APP_SECRET, p.whatsapp_text("447700900888", "pothole"))
    assert POTHOLE in text_of(fake.wait_for(2)[1])  # still answering


def test_unconfigured_channel_answers_503(bot: BotStack) -> None:
    r = httpx.post(f"{bot.rasa_url}/webhooks/meta/webhook", content=b"{}")
    assert r.status_code == 503
    assert r.json() == {"error": "channel not configured"}


def test_delivery_ids_are_kept_for_dedupe_but_message_text_is_not(social: BotStack, fake: FakePlatform) -> None:
    send_meta(meta_url(social), APP_SECRET, p.messenger("psid-forget", "pothole by the school", mid="m_forget"))
    fake.wait_for(1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with session_scope(social.kb_url) as s:
            row = s.execute(select(InboundEvent).where(InboundEvent.delivery_key == "messenger:m_forget")).scalar_one()
            if row.status == "done":
                break
        time.sleep(0.2)
    assert row.status == "done" and row.event is None
    assert dt.datetime.utcnow() - row.received_at < dt.timedelta(minutes=5)
