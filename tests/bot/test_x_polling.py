"""X polling mode: v2 timeline pages read into the inbound queue, the cursor kept with them, rate limits and
failures waited out, one poller at a time. Against the fake X over real HTTP and a real SQLite database."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Optional
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from bot.channels.events import Incoming
from bot.channels.signatures import valid, x_signature
from bot.channels.x import XInput
from bot.channels.x_polling import DMS, MENTIONS, XApi, XPoller
from bot.channels.x_timeline import dm_page, mentions_page
from knowledge.db import session_scope
from knowledge.delivery import conversations, polling
from knowledge.delivery.claims import Claimer
from knowledge.models import InboundEvent, XPollCursor
from knowledge.settings import SettingError, Settings
from tests.fakes.platform import X_ACCOUNT_ID, FakePlatform, x_rate_limit_next

ACCOUNT = X_ACCOUNT_ID
INTERVAL = dt.timedelta(seconds=60)
LEASE = dt.timedelta(seconds=30)


# --- parsing the v2 pages ------------------------------------------------------------------------------------
def test_a_mention_page_becomes_messages_with_their_media_and_our_own_posts_skipped() -> None:
    page = {
        "data": [
            {
                "id": "1800000000000000003",
                "text": "@NorthshireCC @friend pothole on Elm Road https://t.co/AbC123",
                "author_id": "42",
                "created_at": "2026-11-30T10:30:00.000Z",
                "attachments": {"media_keys": ["3_1", "7_2"]},
            },
            {"id": "1800000000000000002", "text": "@someone thanks, we've logged it", "author_id": ACCOUNT},
            {
                "id": "1800000000000000001",
                "text": "RT @x: @NorthshireCC bins",
                "author_id": "43",
                "referenced_tweets": [{"type": "retweeted", "id": "1"}],
            },
        ],
        "includes": {
            "media": [
                {"media_key": "3_1", "type": "photo", "url": "https://pbs.twimg.com/media/a.jpg"},
                {"media_key": "7_2", "type": "video", "preview_image_url": "https://pbs.twimg.com/v.jpg"},
            ]
        },
        "meta": {"result_count": 3, "newest_id": "1800000000000000003", "next_token": "next"},
    }
    parsed = mentions_page(page, ACCOUNT)
    assert [m.platform_id for m in parsed.messages] == ["1800000000000000003"]
    mention = parsed.messages[0]
    assert (mention.channel, mention.user_id, mention.reply_to, mention.account_id) == (
        "x_mention",
        "42",
        "1800000000000000003",
        ACCOUNT,
    )
    assert mention.conversation_id == "x_mention:42"
    assert mention.text == "pothole on Elm Road"
    assert [(a.kind, a.url) for a in mention.attachments] == [
        ("image", "https://pbs.twimg.com/media/a.jpg"),
        ("video", "https://pbs.twimg.com/v.jpg"),
    ]
    assert mention.sent_at == dt.datetime(2026, 11, 30, 10, 30)
    assert sorted(parsed.ids) == [1800000000000000001, 1800000000000000002, 1800000000000000003]
    assert parsed.next_token == "next"
    assert len(parsed.skipped) == 2


def test_a_dm_page_skips_our_own_messages_group_conversations_and_bad_ids() -> None:
    page = {
        "data": [
            {
                "id": "1800000000000000013",
                "event_type": "MessageCreate",
                "text": "my bin wasn't emptied https://t.co/Zz9",
                "sender_id": "42",
                "dm_conversation_id": f"42-{ACCOUNT}",
                "created_at": "2026-11-30T10:31:00.000Z",
                "attachments": {"media_keys": ["3_9"]},
            },
            {
                "id": "1800000000000000012",
                "event_type": "MessageCreate",
                "text": "Sorry to hear that",
                "sender_id": ACCOUNT,
                "dm_conversation_id": f"42-{ACCOUNT}",
            },
            {
                "id": "1800000000000000011",
                "event_type": "MessageCreate",
                "text": "group chat",
                "sender_id": "44",
                "dm_conversation_id": "1599999999999",
            },
            {"id": "not-a-number", "event_type": "MessageCreate", "text": "x", "sender_id": "45"},
        ],
        "includes": {"media": [{"media_key": "3_9", "type": "photo", "url": "https://pbs.twimg.com/b.jpg"}]},
    }
    parsed = dm_page(page, ACCOUNT)
    assert len(parsed.messages) == 1
    dm = parsed.messages[0]
    assert (dm.channel, dm.platform_id, dm.conversation_id, dm.reply_to) == ("x", "1800000000000000013", "x:42", None)
    assert dm.text == "my bin wasn't emptied"
    assert [a.kind for a in dm.attachments] == ["image"]
    assert 1800000000000000012 in parsed.ids  # ours: seen, so the cursor moves past it
    assert len(parsed.skipped) == 3


def test_an_empty_page_is_nothing_new() -> None:
    assert mentions_page({"meta": {"result_count": 0}}, ACCOUNT).messages == []
    assert dm_page({"data": "nonsense"}, ACCOUNT).ids == []


# --- polling against the fake X ------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = conversations.utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform() as platform:
        yield platform


def _poller(fake: FakePlatform, clock: Clock, replica: str = "rasa-1", woken: Optional[list[int]] = None) -> XPoller:
    async def wake() -> None:
        if woken is not None:
            woken.append(1)

    return XPoller(
        XApi(fake.url, "x-user-token", 5.0),
        Claimer(replica),
        interval=INTERVAL,
        lease=LEASE,
        retention=dt.timedelta(days=7),
        wake=wake,
        clock=clock,
    )


def _round(poller: XPoller) -> None:
    asyncio.run(asyncio.wait_for(poller.round(), timeout=20))


def _queued() -> list[Incoming]:
    with session_scope() as s:
        rows = s.execute(select(InboundEvent).order_by(InboundEvent.id)).scalars().all()
        return [Incoming.from_dict(r.event) for r in rows]


def _cursor(endpoint: str) -> Optional[str]:
    with session_scope() as s:
        return s.execute(select(XPollCursor.last_id).where(XPollCursor.endpoint == endpoint)).scalar_one_or_none()


def _gets(fake: FakePlatform, route: str) -> list[dict[str, str]]:
    """The query of each GET the bot made to `route`, in order."""
    found = []
    for call in list(fake.calls):
        parts = urlsplit(call.path)
        if call.method == "GET" and parts.path == route:
            found.append({k: v[-1] for k, v in parse_qs(parts.query).items()})
    return found


MENTIONS_ROUTE = f"/2/users/{ACCOUNT}/mentions"


def test_first_start_answers_no_history_then_asks_since_the_newest_and_queues_each_new_message_once(
    kb_url: str, fake: FakePlatform
) -> None:
    timeline, clock = fake.x_timeline, Clock()
    old = timeline.mention("42", "@NorthshireCC old complaint")
    timeline.dm("43", "an old DM")
    poller = _poller(fake, clock)

    _round(poller)
    assert _queued() == []  # the history is not answered...
    assert _cursor(MENTIONS) == old  # ...but where it stands is recorded
    assert all(c.headers.get("Authorization") == "Bearer x-user-token" for c in fake.calls)

    new = timeline.mention("42", "@NorthshireCC pothole on Elm Road", media=["photo"])
    dm = timeline.dm("43", "bins not collected")
    _round(poller)  # not due yet: nothing asked
    assert _queued() == []
    clock.advance(61)
    _round(poller)
    assert _gets(fake, MENTIONS_ROUTE)[-1]["since_id"] == old
    queued = _queued()
    assert [(m.channel, m.platform_id, m.text) for m in queued] == [
        ("x_mention", new, "pothole on Elm Road"),
        ("x", dm, "bins not collected"),
    ]
    assert queued[0].attachments[0].kind == "image"
    assert (_cursor(MENTIONS), _cursor(DMS)) == (new, dm)

    clock.advance(61)
    _round(poller)  # polled again: nothing new, nothing repeated
    assert len(_queued()) == 2
    assert _gets(fake, MENTIONS_ROUTE)[-1]["since_id"] == new


def test_an_empty_timeline_at_first_start_means_everything_after_is_new(kb_url: str, fake: FakePlatform) -> None:
    clock = Clock()
    poller = _poller(fake, clock)
    _round(poller)
    first = fake.x_timeline.mention("42", "@NorthshireCC hello")
    clock.advance(61)
    _round(poller)
    assert [m.platform_id for m in _queued()] == [first]
    assert "since_id" not in _gets(fake, MENTIONS_ROUTE)[-1]


def test_dm_paging_stops_at_the_last_seen_event(kb_url: str, fake: FakePlatform) -> None:
    timeline, clock = fake.x_timeline, Clock()
    for n in range(150):
        timeline.dm("43", f"old {n}")
    poller = _poller(fake, clock)
    _round(poller)  # first start: one small page
    assert len(_gets(fake, "/2/dm_events")) == 1
    new = [timeline.dm(str(100 + n), f"new {n}") for n in range(120)]
    clock.advance(61)
    _round(poller)
    pages = _gets(fake, "/2/dm_events")[1:]
    # 120 new events, 20 a page: six pages of new ones, the seventh starts with the last seen one, so the
    # older history beyond it is never asked for.
    assert [p["max_results"] for p in pages] == ["20"] * 7
    assert pages[-1]["pagination_token"] == "120"
    assert [m.platform_id for m in _queued()] == new  # oldest first, each once
    assert _cursor(DMS) == new[-1]


def test_our_own_replies_in_the_dm_list_are_not_answered(kb_url: str, fake: FakePlatform) -> None:
    clock = Clock()
    poller = _poller(fake, clock)
    _round(poller)
    resident = fake.x_timeline.dm("43", "pothole")
    fake.x_timeline.dm(ACCOUNT, "Report a pothole here: ...")
    clock.advance(61)
    _round(poller)
    assert [m.platform_id for m in _queued()] == [resident]


def test_a_mention_already_received_by_webhook_is_not_queued_again(kb_url: str, fake: FakePlatform) -> None:
    clock = Clock()
    poller = _poller(fake, clock)
    _round(poller)
    mention = fake.x_timeline.mention("42", "@NorthshireCC pothole")
    with session_scope() as s:  # the same mention, as the webhook stores it
        conversations.record_delivery(s, f"x_mention:{mention}", "x_mention:42", "x_mention", {}, clock())
    clock.advance(61)
    _round(poller)
    with session_scope() as s:
        assert s.execute(select(InboundEvent.delivery_key)).scalars().all() == [f"x_mention:{mention}"]
    assert _cursor(MENTIONS) == mention


def test_a_429_waits_for_the_rate_limit_reset_and_keeps_the_cursor(kb_url: str, fake: FakePlatform) -> None:
    clock = Clock()
    poller = _poller(fake, clock)
    _round(poller)
    before = _cursor(MENTIONS)
    mention = fake.x_timeline.mention("42", "@NorthshireCC pothole")
    clock.advance(61)
    reset = clock.now + dt.timedelta(minutes=10)
    x_rate_limit_next(fake, int(reset.replace(tzinfo=dt.UTC).timestamp()))
    _round(poller)
    assert _queued() == [] and _cursor(MENTIONS) == before
    asked = len(_gets(fake, MENTIONS_ROUTE))
    clock.advance(5 * 60)  # past the interval, before the reset: mentions are not asked for
    _round(poller)
    assert len(_gets(fake, MENTIONS_ROUTE)) == asked
    clock.advance(5 * 60 + 1)
    _round(poller)
    assert [m.platform_id for m in _queued()] == [mention]


def test_a_server_error_backs_off_then_the_message_is_queued_once(kb_url: str, fake: FakePlatform) -> None:
    clock = Clock()
    poller = _poller(fake, clock)
    _round(poller)
    mention = fake.x_timeline.mention("42", "@NorthshireCC pothole")
    clock.advance(61)
    fake.fail_next(500, times=2)  # the mentions poll and then the DM poll fail
    _round(poller)
    assert _queued() == []
    clock.advance(61)
    _round(poller)
    assert [m.platform_id for m in _queued()] == [mention]
    clock.advance(61)
    _round(poller)
    assert len(_queued()) == 1


def test_only_one_process_polls_and_another_takes_over_when_its_lease_lapses(kb_url: str, fake: FakePlatform) -> None:
    clock = Clock()
    first, second = _poller(fake, clock, "rasa-1"), _poller(fake, clock, "rasa-2")
    _round(first)
    calls = len(fake.calls)
    _round(second)
    assert not second.holding and len(fake.calls) == calls  # the other replica asked X nothing

    mention = fake.x_timeline.mention("42", "@NorthshireCC pothole")
    clock.advance(31)  # the first process hung: its lease lapses
    _round(second)
    assert second.holding
    assert [m.platform_id for m in _queued()] == [mention]

    # The hung process wakes up and polls what it still thinks is its turn: it may not store anything.
    late = fake.x_timeline.mention("44", "@NorthshireCC late")
    first._due[MENTIONS].at = clock.now
    assert asyncio.run(first.poll(MENTIONS)) == 0
    assert not first.holding
    assert late not in [m.platform_id for m in _queued()]
    assert _cursor(MENTIONS) == mention


def test_a_restarted_process_of_the_same_replica_takes_the_lease_at_once(kb_url: str, fake: FakePlatform) -> None:
    clock = Clock()
    _round(_poller(fake, clock, "rasa-1"))
    again = _poller(fake, clock, "rasa-1")  # same replica name, new incarnation
    _round(again)
    assert again.holding


def test_the_lease_and_cursor_store_refuses_a_claimer_without_the_lease(kb_url: str) -> None:
    now = conversations.utcnow()
    holder, other = Claimer("a"), Claimer("b")
    with session_scope() as s:
        assert polling.hold(s, "x-poll", holder, now, LEASE)
    with session_scope() as s:
        assert not polling.hold(s, "x-poll", other, now, LEASE)
    found = [polling.Found("x_mention:1", "x_mention:42", "x_mention", {"text": "t"})]
    with pytest.raises(polling.LeaseLost), session_scope() as s:
        polling.store(s, "x-poll", other, LEASE, ACCOUNT, MENTIONS, "1", found, now)
    assert _queued() == [] and _cursor(MENTIONS) is None
    with session_scope() as s:
        assert len(polling.store(s, "x-poll", holder, LEASE, ACCOUNT, MENTIONS, "1", found, now)) == 1
    assert _cursor(MENTIONS) == "1"


# --- settings and the webhook in polling mode ------------------------------------------------------------------
def test_x_mode_and_poll_interval_are_checked() -> None:
    assert Settings.from_values({}).x_mode == "webhook"
    assert Settings.from_values({"X_MODE": "Polling"}).x_mode == "polling"
    with pytest.raises(SettingError, match="X_MODE"):
        Settings.from_values({"X_MODE": "poll"})
    with pytest.raises(SettingError, match="X_POLL_SECONDS"):
        Settings.from_values({"X_POLL_SECONDS": "1"})
    assert Settings.from_values({}).x_poll_seconds == 60


def test_polling_mode_needs_only_the_token_and_its_webhook_accepts_no_signature(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("X_MODE", "polling")
    monkeypatch.delenv("X_CONSUMER_SECRET", raising=False)
    monkeypatch.delenv("X_ACCESS_TOKEN", raising=False)
    assert XInput().missing_settings() == ["X_ACCESS_TOKEN"]
    monkeypatch.setenv("X_ACCESS_TOKEN", "token")
    channel = XInput()
    assert channel.missing_settings() == []
    body = b'{"for_user_id":"1","tweet_create_events":[]}'
    # Without the app secret, a body "signed" with an empty key (anyone can make one) must not pass.
    assert not valid(channel.expected_signature(body), x_signature("", body))
    monkeypatch.setenv("X_MODE", "webhook")
    assert XInput().missing_settings() == ["X_CONSUMER_SECRET"]
