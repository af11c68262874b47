"""The rate limiter: what it lets through and refuses, in memory and in the real Redis (shared by two
limiters, as by two Rasa replicas), and whose address it believes behind a proxy. Time is a controllable
clock, never a sleep."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bot.channels.config import RateLimits
from bot.channels.ratelimit import MemoryBackend, RateLimiter, RedisBackend, client_address


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, at: float = 1_000_040.0):  # 20 s into a minute (1,000,020 is a minute boundary)
        self.at = at

    def __call__(self) -> float:
        return self.at


def memory_limiter(clock: Clock, **limits: int) -> RateLimiter:
    base = dict(per_sender=0, per_address=0, new_conversations_per_address=0, per_channel=0)
    return RateLimiter(RateLimits(**{**base, **limits}), MemoryBackend(clock), clock)


def verdicts(
    limiter: RateLimiter, n: int, channel: str = "webchat", sender: str = "web:a", address: str | None = None
) -> list:
    async def go() -> list:
        return [await limiter.check(channel, sender, address) for _ in range(n)]

    return asyncio.run(go())


def test_a_sender_over_its_limit_is_refused_until_the_minute_is_up() -> None:
    clock = Clock()
    limiter = memory_limiter(clock, per_sender=5)
    got = verdicts(limiter, 8)
    assert [v.allowed for v in got] == [True] * 5 + [False] * 3
    assert got[5].scope == "sender" and got[5].retry_after == 40
    # Told once, not once per message.
    assert [v.notify for v in got[5:]] == [True, False, False]
    # Someone else is not affected.
    assert verdicts(limiter, 1, sender="web:b")[0].allowed
    clock.at += 40
    assert verdicts(limiter, 1)[0].allowed


def test_one_address_can_open_only_so_many_conversations_an_hour() -> None:
    clock = Clock()
    limiter = memory_limiter(clock, new_conversations_per_address=20)

    async def go() -> list:
        return [await limiter.check("webchat", f"web:{n}", "203.0.113.9") for n in range(100)]

    got = asyncio.run(go())
    assert sum(v.allowed for v in got) == 20
    assert {v.scope for v in got if not v.allowed} == {"new_conversations"}
    # The first twenty carry on; a refused one stays refused; another address is not affected.
    assert verdicts(limiter, 3, sender="web:0", address="203.0.113.9")[-1].allowed
    assert not verdicts(limiter, 1, sender="web:50", address="203.0.113.9")[0].allowed
    assert verdicts(limiter, 1, sender="web:50", address="198.51.100.1")[0].allowed


def test_address_and_channel_limits_count_everyone_together() -> None:
    clock = Clock()
    by_address = memory_limiter(clock, per_address=10)

    async def many(limiter: RateLimiter, n: int, address: str | None) -> list:
        return [await limiter.check("rest", f"s{i}", address) for i in range(n)]

    got = asyncio.run(many(by_address, 12, "203.0.113.9"))
    assert [v.allowed for v in got].count(False) == 2 and got[-1].scope == "address"
    by_channel = memory_limiter(clock, per_channel=10)
    got = asyncio.run(many(by_channel, 12, None))
    assert [v.allowed for v in got].count(False) == 2 and got[-1].scope == "channel"


def test_limits_set_to_zero_let_everything_through() -> None:
    assert all(v.allowed for v in verdicts(memory_limiter(Clock()), 500))


def test_forwarded_for_is_believed_only_as_far_as_the_trusted_proxies() -> None:
    spoofed = "6.6.6.6, 203.0.113.9"  # the client wrote 6.6.6.6; our proxy appended what it saw
    assert client_address("10.0.0.2", spoofed, 0) == "10.0.0.2"
    assert client_address("10.0.0.2", spoofed, 1) == "203.0.113.9"
    assert client_address("10.0.0.2", "203.0.113.9, 10.0.0.5", 2) == "203.0.113.9"
    assert client_address("10.0.0.2", "203.0.113.9", 3) == "10.0.0.2"  # too short: misconfigured, use the peer
    assert client_address("10.0.0.2", "not-an-address, 10.0.0.5", 2) == "10.0.0.2"
    assert client_address("10.0.0.2", None, 1) == "10.0.0.2"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RateLimits.from_env() == RateLimits()
    monkeypatch.setenv("RATE_LIMIT_PER_SENDER_PER_MINUTE", "7")
    monkeypatch.setenv("TRUSTED_PROXY_COUNT", "1")
    limits = RateLimits.from_env()
    assert (limits.per_sender, limits.trusted_proxies) == (7, 1)
    monkeypatch.setenv("RATE_LIMIT_PER_CHANNEL_PER_MINUTE", "lots")
    with pytest.raises(ValueError, match="RATE_LIMIT_PER_CHANNEL_PER_MINUTE"):
        RateLimits.from_env()


def test_redis_counters_are_shared_by_two_limiters(redis_url: str) -> None:
    """Two Rasa replicas behind a load balancer: a sender can't double its allowance by landing on both."""
    prefix = f"test-rl-{uuid.uuid4().hex[:8]}"
    clock = Clock()
    limits = RateLimits(per_sender=6, per_address=0, new_conversations_per_address=3, per_channel=0)

    async def go() -> tuple[list, list, list]:
        one, two = RedisBackend(redis_url, prefix), RedisBackend(redis_url, prefix)
        a, b = RateLimiter(limits, one, clock), RateLimiter(limits, two, clock)
        try:
            sender = [await (a if i % 2 else b).check("webchat", "web:x") for i in range(9)]
            senders = [await (a if i % 2 else b).check("webchat", f"web:{i}", "203.0.113.9") for i in range(6)]
            clock.at += 60
            later = [await b.check("webchat", "web:x")]
            return sender, senders, later
        finally:
            await one.close()
            await two.close()

    sender, senders, later = asyncio.run(go())
    assert [v.allowed for v in sender] == [True] * 6 + [False] * 3
    assert [v.notify for v in sender[6:]] == [True, False, False]
    assert [v.allowed for v in senders] == [True] * 3 + [False] * 3
    assert later[0].allowed  # a new minute


def test_an_unreachable_redis_lets_messages_through() -> None:
    limiter = RateLimiter(RateLimits(per_sender=1), RedisBackend("redis://127.0.0.1:1/0"), Clock())
    assert all(v.allowed for v in verdicts(limiter, 3))


def test_one_ipv6_network_counts_as_one_address() -> None:
    """A /64 is one household or one server: fresh addresses from it must not mean fresh allowances."""
    clock = Clock()
    limiter = memory_limiter(clock, new_conversations_per_address=20)

    async def go() -> list:
        return [await limiter.check("webchat", f"web:{n}", f"2001:db8:1:2::{n:x}") for n in range(200)]

    assert sum(v.allowed for v in asyncio.run(go())) == 20
    # Another /64 is another household.
    assert verdicts(limiter, 1, sender="web:other", address="2001:db8:1:3::1")[0].allowed


def test_polls_for_staff_replies_are_limited_per_address_apart_from_messages() -> None:
    clock = Clock()
    limiter = memory_limiter(clock, per_address=5, polls_per_address=10)

    async def polls(address: str, n: int) -> list:
        return [await limiter.check_poll(address) for _ in range(n)]

    got = asyncio.run(polls("198.51.100.7", 12))
    assert [v.allowed for v in got] == [True] * 10 + [False] * 2 and got[10].scope == "polls"
    assert verdicts(limiter, 1, address="198.51.100.7")[0].allowed  # messages are counted apart
    assert asyncio.run(polls("198.51.100.8", 1))[0].allowed
    clock.at += 40
    assert asyncio.run(polls("198.51.100.7", 1))[0].allowed


def test_the_memory_backend_stays_bounded_under_a_flood_of_fresh_keys() -> None:
    clock = Clock()
    backend = MemoryBackend(clock)
    backend.MAX_KEYS = 1_000

    async def flood() -> None:
        for n in range(5_000):
            await backend.hit(f"se:webchat:{n}:1", 120)  # none has expired: all live

    asyncio.run(flood())
    assert len(backend._counts) <= backend.MAX_KEYS + 1
