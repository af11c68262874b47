"""X polling mode's hard cases (issue 12, item 5, from its review): a message lost, answered (or judged by
the flood gate) when it should not be, or X asked far more than needed. Against the fake X over real HTTP
and a real SQLite database, with the helpers of tests/bot/test_x_polling.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, Optional
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, text

from bot.channels import flood_gate
from bot.channels.events import Incoming
from bot.channels.x_polling import MENTIONS, XApi, XPoller
from knowledge.delivery.claims import Claimer
from tests.bot.test_x_polling import INTERVAL, LEASE, MENTIONS_ROUTE, Clock, _cursor, _gets, _queued, _round
from tests.fakes.platform import FakePlatform


@pytest.fixture
def fake() -> Iterator[FakePlatform]:
    with FakePlatform() as platform:
        yield platform


def _poller(fake: FakePlatform, clock: Clock, admit: Any = None) -> XPoller:
    return XPoller(
        XApi(fake.url, "x-user-token", 5.0),
        Claimer("rasa-1"),
        interval=INTERVAL,
        lease=LEASE,
        retention=dt.timedelta(days=7),
        admit=admit,
        clock=clock,
    )


def test_backoff_still_holds_after_a_night_of_failures(kb_url: str, fake: FakePlatform) -> None:
    """A revoked token (401) or X down all night: every poll fails. The backoff must keep waiting (at most
    15 minutes) however many polls failed; `interval * 2 ** (failures - 1)` overflows timedelta at the 42nd
    failure (X_POLL_SECONDS=60), the OverflowError escapes the handler, `due.at` is never moved and X
    is asked every round."""
    clock = Clock()
    poller = _poller(fake, clock)
    _round(poller)  # first start: the account and where the timelines stand
    fake.fail_for(600, 401)
    for _ in range(60):  # 15 hours of failing polls, each one due
        clock.advance(16 * 60)
        _round(poller)
    asked = len(_gets(fake, MENTIONS_ROUTE))
    for _ in range(5):  # five more rounds within two minutes: backoff says wait
        clock.advance(20)
        _round(poller)
    assert len(_gets(fake, MENTIONS_ROUTE)) == asked


def test_a_200_error_body_at_first_start_does_not_answer_the_history(kb_url: str, fake: FakePlatform) -> None:
    """X sometimes answers 200 with only `errors` (no `data`). At first start the poller takes that for an
    empty timeline, records "started, no cursor", and the next poll reads (and pays for, and answers) the
    account's whole recent history - what first start promises not to do."""
    timeline, clock = fake.x_timeline, Clock()
    old = [timeline.mention("42", f"@NorthshireCC old complaint {n}") for n in range(3)]
    original = timeline.answer
    first = [True]

    def answer(method: str, path: str, body: Any) -> Optional[tuple[int, Any, dict]]:
        if method == "GET" and urlsplit(path).path == MENTIONS_ROUTE and first[0]:
            first[0] = False
            return 200, {"errors": [{"title": "Service Unavailable", "detail": "Service currently unavailable"}]}, {}
        return original(method, path, body)

    timeline.answer = answer  # type: ignore[method-assign]
    poller = _poller(fake, clock)
    _round(poller)
    clock.advance(61)
    _round(poller)
    assert [m.platform_id for m in _queued() if m.platform_id in old] == []
    assert _cursor(MENTIONS) is not None


def test_a_repeated_pagination_token_is_followed_once_and_its_dm_judged_once(
    kb_url: str, fake: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """X returning the same `next_token` again (a loop): the poller reads the same page 25 times (25x the
    requests; a false "more than 500 new items" warning) and hands the resident's one DM to the flood gate
    25 times. The gate counts 25 messages from that conversation (RATE_LIMIT_PER_SENDER_PER_MINUTE 20):
    5 copies are refused (the store's de-duplication saves the DM itself), and the resident's real next
    messages that minute are refused as a flood."""
    monkeypatch.setenv("RATE_LIMIT_PER_SENDER_PER_MINUTE", "20")  # the shipped default
    timeline, clock = fake.x_timeline, Clock()
    original = timeline.answer

    def answer(method: str, path: str, body: Any) -> Optional[tuple[int, Any, dict]]:
        result = original(method, path, body)
        if result is not None and method == "GET" and urlsplit(path).path == "/2/dm_events":
            status, payload, headers = result
            payload = dict(payload)
            payload["meta"] = {**payload.get("meta", {}), "next_token": "0"}
            return status, payload, headers
        return result

    async def admit(messages: list[Incoming]) -> list[Incoming]:
        return await flood_gate.admit(messages, lambda: None)  # type: ignore[arg-type,return-value]

    poller = _poller(fake, clock, admit=admit)
    _round(poller)  # first start
    timeline.answer = answer  # type: ignore[method-assign]
    dm = timeline.dm("987654321", "my bins were not collected")
    clock.advance(61)
    _round(poller)
    dm_gets = _gets(fake, "/2/dm_events")[1:]
    assert len(dm_gets) <= 2, f"{len(dm_gets)} DM pages read for one new DM"
    assert [m.platform_id for m in _queued()] == [dm]


def test_a_backlog_read_slower_than_the_lease_is_still_stored(kb_url: str, fake: FakePlatform) -> None:
    """The lease is renewed at the start of a round and at each store, never between pages. Defaults: lease
    30 s (CHANNEL_CLAIM_LEASE_SECONDS), up to 25 DM pages a poll, 10 s API timeout: a DM backlog read at
    ~1.2 s a page outlives the lease, the store raises LeaseLost (no other process even exists), nothing is
    queued, the cursor stays, and the next poll reads the same (growing) backlog again: never answered.
    Scaled down here: a 2 s lease, 0.3 s a page, 8 pages."""
    timeline = fake.x_timeline
    poller = XPoller(
        XApi(fake.url, "x-user-token", 5.0),
        Claimer("rasa-1"),
        interval=dt.timedelta(seconds=0),
        lease=dt.timedelta(seconds=2),
        retention=dt.timedelta(days=7),
    )  # the real clock
    _round(poller)  # first start
    backlog = [timeline.dm(str(1000 + n), f"dm {n}") for n in range(150)]
    fake.delay = 0.3
    for _ in range(2):
        _round(poller)
    fake.delay = 0
    queued = {m.platform_id for m in _queued()}
    assert set(backlog) <= queued, f"{len(set(backlog) - queued)} of {len(backlog)} DMs never queued"


def test_a_mentions_timeline_failing_for_hours_does_not_stop_the_dms(kb_url: str, fake: FakePlatform) -> None:
    """Mentions refused for hours (e.g. 403: the mentions read not in the app's plan, or X's mentions
    endpoint down) while DMs work. At the 42nd failed mention poll (X_POLL_SECONDS=60, about ten hours)
    the backoff computation overflows inside `poll`'s handler; the exception ends the round before the DM
    poll, every round from then on: DMs are never read again until a restart."""
    timeline, clock = fake.x_timeline, Clock()
    original = timeline.answer

    def answer(method: str, path: str, body: Any) -> Optional[tuple[int, Any, dict]]:
        if method == "GET" and urlsplit(path).path == MENTIONS_ROUTE:
            return 403, {"title": "Forbidden"}, {}
        return original(method, path, body)

    timeline.answer = answer  # type: ignore[method-assign]
    poller = _poller(fake, clock)
    _round(poller)
    for _ in range(60):  # sixteen hours (the 42nd failure, about ten hours in, overflows)
        clock.advance(16 * 60)
        _round(poller)
    dm = timeline.dm("43", "my bins were not collected")
    clock.advance(61)
    _round(poller)
    assert [m.platform_id for m in _queued()] == [dm]


def test_more_than_500_new_mentions_are_all_queued_over_later_polls(kb_url: str, fake: FakePlatform) -> None:
    """After an outage (or in a flood) 600 mentions wait. One poll reads the 500 newest and moves the cursor
    past all of them: the 100 oldest residents are never answered, and nobody but the log knows. The cost
    bound per poll is right; the cursor should keep the unread window (since_id..until_id) for the next
    poll instead of jumping to the newest."""
    timeline, clock = fake.x_timeline, Clock()
    poller = _poller(fake, clock)
    _round(poller)
    waiting = [timeline.mention(str(10_000 + n), f"@NorthshireCC question {n}") for n in range(600)]
    for _ in range(3):
        clock.advance(61)
        _round(poller)
    queued = {m.platform_id for m in _queued()}
    assert set(waiting) <= queued, f"{len(set(waiting) - queued)} of {len(waiting)} mentions never queued"


def test_a_poll_retried_after_a_failed_store_does_not_judge_its_messages_again(kb_url: str, fake: FakePlatform) -> None:
    """The flood gate counts each message it judges and may answer it (slow down, the crisis lines). When the
    store then fails (the database refuses), the retried poll finds the same messages: they must not be judged
    (and answered) a second time, and are queued once the database is back."""
    timeline, clock = fake.x_timeline, Clock()
    judged: list[str] = []

    async def admit(messages: list[Incoming]) -> list[Incoming]:
        judged.extend(m.platform_id for m in messages)
        return messages

    poller = _poller(fake, clock, admit=admit)
    _round(poller)  # first start
    mention = timeline.mention("42", "@NorthshireCC pothole on Elm Road")
    dm = timeline.dm("43", "my bins were not collected")
    engine = create_engine(kb_url)
    with engine.begin() as connection:  # the queue's table is gone: every store fails
        connection.execute(text("ALTER TABLE inbound_events RENAME TO inbound_events_away"))
    clock.advance(61)
    _round(poller)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE inbound_events_away RENAME TO inbound_events"))
    engine.dispose()
    assert sorted(judged) == sorted([mention, dm])
    clock.advance(61)
    _round(poller)
    assert sorted(judged) == sorted([mention, dm]), "judged again on the retry"
    assert sorted(m.platform_id for m in _queued()) == sorted([mention, dm])
