"""Replies are never lost or doubled around platform failures and crashes: the inbox, the bot's answer
planner and the durable outbound queue wired as in production, sending over real HTTP to the fake Meta.

Only the Rasa server is stood in for (by `Bot`, which answers every message with a line naming it); the
backoff is milliseconds instead of minutes, the behaviour is the same.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Optional

import pytest
from rasa.core.channels.channel import UserMessage
from sqlalchemy import select

from bot.channels.config import DeliveryConfig
from bot.channels.events import Incoming
from bot.channels.inbox import Inbox
from bot.channels.responder import Responder
from bot.channels.sending.dispatch import Dispatcher
from bot.channels.sending.replies import planned
from bot.channels.sending.senders import MetaSender, Outgoing, Target
from bot.platforms.api import ApiClient
from knowledge.db import session_scope
from knowledge.delivery import conversations, outbox
from knowledge.delivery.claims import Claimer
from knowledge.models import InboundEvent, OutboundMessage
from tests.fakes.platform import Call, FakePlatform

CHANNELS = ("messenger", "whatsapp")
RETENTION = dt.timedelta(days=7)
FAST = DeliveryConfig(
    retry_base=dt.timedelta(milliseconds=20),
    retry_max=dt.timedelta(milliseconds=200),
    retry_for=dt.timedelta(hours=24),
    lease=dt.timedelta(seconds=30),
    replica=None,
)


@pytest.fixture(scope="module")
def _platform() -> Iterator[FakePlatform]:
    with FakePlatform() as platform:
        yield platform


@pytest.fixture
def fake(_platform: FakePlatform) -> Iterator[FakePlatform]:
    _platform.reset()
    yield _platform
    _platform.reset()  # let any stalled call go


class Bot:
    """Stands in for the Rasa server: answers "Answer to <text>", or nothing at all while `down` (as Rasa
    does when the action server is unreachable)."""

    def __init__(self, down: int = 0):
        self.down = down
        self.seen: list[str] = []

    async def __call__(self, message: UserMessage) -> None:
        self.seen.append(message.text)
        if self.down:
            self.down -= 1
            return
        await message.output_channel.send_text_message(message.sender_id, f"Answer to {message.text}")


async def _parse(_: str) -> Optional[dict[str, Any]]:
    return {"intent": {"name": "report_pothole"}}


def _sender(url: str, timeout: float = 5.0) -> MetaSender:
    return MetaSender(ApiClient("graph", url, "page-token", timeout=timeout, backoff=0.01, max_backoff=0.02))


def _inbox(
    url: str,
    bot: Bot,
    claimer: Optional[Claimer] = None,
    config: DeliveryConfig = FAST,
    timeout: float = 5.0,
    clock: Callable[[], dt.datetime] = conversations.utcnow,
) -> Inbox:
    dispatcher = Dispatcher(_sender(url, timeout), CHANNELS, config, claimer or Claimer("host-1:5005"))
    return Inbox(CHANNELS, Responder(bot, _parse, config.retry_for), RETENTION, dispatcher, clock=clock)


def _msg(user: str, n: int) -> Incoming:
    return Incoming(
        channel="messenger",
        platform_id=f"{user}-m{n}",
        user_id=user,
        text=f"{user} message {n}",
        account_id="page-1",
        sent_at=conversations.utcnow(),
    )


def _run(coro_fn: Callable[[], Awaitable[object]], timeout: float = 30) -> object:
    return asyncio.run(asyncio.wait_for(coro_fn(), timeout=timeout))


def _outbound(conversation_id: Optional[str] = None) -> list[OutboundMessage]:
    with session_scope() as s:
        query = select(OutboundMessage).order_by(OutboundMessage.id)
        if conversation_id:
            query = query.where(OutboundMessage.conversation_id == conversation_id)
        return list(s.execute(query).scalars())


async def _until_final(count: int, timeout: float = 20.0) -> list[OutboundMessage]:
    """Wait (in the event loop, so the queue's retries keep running) until `count` rows are final."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await asyncio.to_thread(_outbound)
        if len([r for r in rows if r.status in outbox.FINAL]) >= count or asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.05)


def _delivered(calls: list[Call], psid: str) -> list[str]:
    """The texts the platform accepted for one resident, in order."""
    return [c.body["message"]["text"] for c in calls if c.status == 200 and c.body["recipient"] == {"id": psid}]


# --- platform failures ----------------------------------------------------------------------------------------


def test_a_platform_that_fails_for_a_while_gets_the_reply_once_it_recovers(kb_url: str, fake: FakePlatform) -> None:
    # "About a minute" of 500s, counted in refusals rather than seconds: the bot's first answer may take
    # longer than a short timed outage (the crisis phrase list loads on first use).
    fake.fail_next(500, times=8)

    async def go() -> list[OutboundMessage]:
        inbox = _inbox(fake.url, Bot())
        await inbox.accept([_msg("alice", 1)])
        return await _until_final(1)

    [row] = _run(go)
    calls = fake.settle(quiet=0.5)
    assert _delivered(calls, "alice") == ["Answer to alice message 1"]  # once, not dropped, not doubled
    assert len([c for c in calls if c.status == 500]) == 8  # outlasted the old four quick tries
    assert (row.status, row.text, row.target, row.error_code) == ("sent", None, None, "500")  # words forgotten
    with session_scope() as s:
        assert s.execute(select(InboundEvent.status)).scalar_one() == "done"


def test_rate_limits_are_waited_out_honouring_retry_after(kb_url: str, fake: FakePlatform) -> None:
    fake.fail_next(429, times=4, retry_after="1")

    async def go() -> list[OutboundMessage]:
        inbox = _inbox(fake.url, Bot())
        await inbox.accept([_msg("bob", 1)])
        return await _until_final(1)

    [row] = _run(go)
    calls = fake.settle(quiet=0.5)
    assert row.status == "sent" and _delivered(calls, "bob") == ["Answer to bob message 1"]
    queue_retry = calls[2].at - calls[1].at  # the client's own two tries, then the queue's wait
    assert queue_retry >= 0.9  # the platform's 1 s, not our 20 ms backoff


def test_a_send_that_hangs_is_unknown_and_not_resent(kb_url: str, fake: FakePlatform) -> None:
    fake.stall_next(1, seconds=1.5)  # the platform takes the request and goes quiet

    async def go() -> list[OutboundMessage]:
        inbox = _inbox(fake.url, Bot(), timeout=0.3)
        await inbox.accept([_msg("carol", 1), _msg("carol", 2)])
        rows = await _until_final(2)
        await inbox.tick()  # sweeps find nothing to resend
        await inbox.tick()
        return rows

    rows = _run(go)
    calls = fake.settle(quiet=2.0)
    assert [r.status for r in rows] == ["unknown", "sent"]  # and the next message was not held up by it
    assert [c.body["message"]["text"] for c in calls] == ["Answer to carol message 1", "Answer to carol message 2"]
    assert rows[0].text is None and "ReadTimeout" in rows[0].error


def test_a_refusal_is_failed_at_once(kb_url: str, fake: FakePlatform) -> None:
    fake.fail_next(400)

    async def go() -> list[OutboundMessage]:
        inbox = _inbox(fake.url, Bot())
        await inbox.accept([_msg("dan", 1)])
        return await _until_final(1)

    [row] = _run(go)
    assert len(fake.settle(quiet=0.5)) == 1
    assert (row.status, row.error_code, row.attempts) == ("failed", "400", 1)


def test_retrying_stops_when_the_retry_period_ends(kb_url: str, fake: FakePlatform) -> None:
    fake.fail_for(60.0, 503)
    short = DeliveryConfig(FAST.retry_base, FAST.retry_max, dt.timedelta(seconds=1), FAST.lease, None)

    async def go() -> list[OutboundMessage]:
        inbox = _inbox(fake.url, Bot(), config=short)
        await inbox.accept([_msg("erin", 1)])
        return await _until_final(1)

    [row] = _run(go)
    assert row.status == "failed" and "retry period ended" in row.error
    fake.reset()
    assert fake.settle(quiet=0.5) == []  # nothing more after giving up


def test_outside_the_window_nothing_is_sent(kb_url: str, fake: FakePlatform) -> None:
    target = Target("messenger", "fay", "page-1")
    now = conversations.utcnow()
    rows = planned(target, [Outgoing("message", "Hello")], now - dt.timedelta(hours=25), now, dt.timedelta(hours=24))
    with session_scope() as s:
        outbox.queue(s, "messenger:fay", "messenger", rows, now)

    async def go() -> None:
        dispatcher = Dispatcher(_sender(fake.url), CHANNELS, FAST, Claimer("host-1:5005"))
        await dispatcher.sweep()
        await dispatcher.idle()

    _run(go)
    assert fake.settle(quiet=0.5) == []
    assert [r.status for r in _outbound()] == ["outside_window"]


# --- no reply from the bot ------------------------------------------------------------------------------------


def test_a_message_the_bot_could_not_answer_gets_the_phone_number_at_once_and_once(
    kb_url: str, fake: FakePlatform
) -> None:
    """With the action server down Rasa answers nothing: the safety net's reply (the council's phone
    number) goes out at once, exactly once, and the next message is answered normally, in order."""
    bot = Bot(down=1)

    async def go() -> None:
        inbox = _inbox(fake.url, bot)
        await inbox.accept([_msg("gus", 1), _msg("gus", 2)])
        await inbox.idle()
        await _until_final(2)

    _run(go)
    delivered = _delivered(fake.settle(quiet=0.5), "gus")
    assert len(delivered) == 2 and "0300 123 4567" in delivered[0] and "try again" in delivered[0]
    assert delivered[1] == "Answer to gus message 2"
    assert bot.seen == ["gus message 1", "gus message 2"]
    with session_scope() as s:
        assert list(s.execute(select(InboundEvent.status).order_by(InboundEvent.id)).scalars()) == ["done", "done"]


class _Clock:
    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return conversations.utcnow() + self.offset

    def advance(self, delta: dt.timedelta) -> None:
        self.offset += delta


# --- crashes and replicas -------------------------------------------------------------------------------------


def _queue(conversation_id: str, texts: list[str]) -> list[int]:
    now = conversations.utcnow()
    user = conversation_id.split(":")[1]
    rows = planned(
        Target("messenger", user, "page-1"), [Outgoing("message", t) for t in texts], now, now, dt.timedelta(hours=24)
    )
    with session_scope() as s:
        return outbox.queue(s, conversation_id, "messenger", rows, now)


def test_a_restart_settles_a_send_cut_short_as_unknown_and_sends_the_rest_in_order(
    kb_url: str, fake: FakePlatform
) -> None:
    ids = _queue("messenger:hal", ["one", "two", "three"])
    before = Claimer("host-1:5005", token="before-the-crash")
    with session_scope() as s:  # the old process was sending "one" when it was killed
        assert outbox.claim_next(s, "messenger:hal", before, conversations.utcnow(), dt.timedelta(minutes=10))
    other = _queue("messenger:ida", ["elsewhere"])
    elsewhere = Claimer("host-2:5005")
    with session_scope() as s:  # another replica is sending right now
        assert outbox.claim_next(s, "messenger:ida", elsewhere, conversations.utcnow(), dt.timedelta(minutes=10))

    async def restart() -> None:
        dispatcher = Dispatcher(_sender(fake.url), CHANNELS, FAST, Claimer("host-1:5005"))
        await dispatcher.sweep()  # at once: no waiting for the old lease
        await dispatcher.idle()

    _run(restart)
    calls = fake.settle(quiet=0.5)
    assert _delivered(calls, "hal") == ["two", "three"]  # "one" may have reached the resident: not resent
    assert [r.status for r in _outbound("messenger:hal")] == ["unknown", "sent", "sent"]
    assert [r.status for r in _outbound("messenger:ida")] == ["sending"]  # a live replica's send is left alone
    assert ids and other


def test_two_replicas_sending_one_conversation_send_each_message_once_in_order(kb_url: str, fake: FakePlatform) -> None:
    texts = [f"part {i}" for i in range(8)]
    _queue("messenger:jo", texts)

    async def go() -> None:
        one = Dispatcher(_sender(fake.url), CHANNELS, FAST, Claimer("host-1:5005"))
        two = Dispatcher(_sender(fake.url), CHANNELS, FAST, Claimer("host-2:5005"))
        for _ in range(4):
            await asyncio.gather(one.sweep(), two.sweep())
            await asyncio.gather(one.idle(), two.idle())

    _run(go)
    assert _delivered(fake.settle(quiet=0.5), "jo") == texts
    assert {r.status for r in _outbound()} == {"sent"}


def test_a_slow_sender_that_lost_its_lease_still_records_the_truth(kb_url: str) -> None:
    [row_id] = _queue("messenger:kim", ["hello"])
    slow = Claimer("host-1:5005")
    now = conversations.utcnow()
    with session_scope() as s:
        assert outbox.claim_next(s, "messenger:kim", slow, now - dt.timedelta(minutes=5))
    with session_scope() as s:  # another replica's sweep gives the send up as unknown
        assert outbox.abandon_stale(s, CHANNELS, Claimer("host-2:5005"), now) == 1
    with session_scope() as s:  # then the platform answers the slow sender after all
        outbox.finish(s, row_id, slow, "sent", now, "m_1")
    [row] = _outbound()
    assert (row.status, row.platform_message_id) == ("sent", "m_1")
