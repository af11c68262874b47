"""Rate limits on what reaches the bot: per sender (conversation), per network address and per channel.

Counting is in fixed windows (a minute, an hour): a counter per key and window that starts at zero when a
new window begins. Two backends behind one small interface: `MemoryBackend` (the embedded default, right
for one process) and `RedisBackend` (when `REDIS_URL` is set; every Rasa replica shares its counters, with
INCR and EXPIRE). Keys hold one-way hashes, never a platform id or an address.

If the backend fails (Redis down), messages are let through and a warning logged: an outage of the limiter
must not become an outage of the bot.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Protocol

from bot.channels.config import RateLimits
from bot.client_address import address_bucket, client_address  # noqa: F401 - client_address: this module's surface

log = logging.getLogger(__name__)

MINUTE, HOUR = 60, 3600
KEY_PREFIX = "councilbot:rl"


class Backend(Protocol):
    """Where counters live. `key` already names its window, so a backend only has to count and forget."""

    async def hit(self, key: str, ttl: int) -> int:
        """Add one to the counter `key` (kept for `ttl` seconds) and return the new count."""

    async def admit(self, key: str, member: str, limit: int, ttl: int) -> bool:
        """True if `member` is in the set `key` (kept for `ttl` seconds): already, or added now because the
        set had fewer than `limit` members. A member refused once stays out until the set expires."""


class MemoryBackend:
    """Counters in this process's memory. Expired keys are dropped as the table grows, at most once a
    second (a flood must not make every check walk the whole table); past MAX_KEYS live keys the oldest
    are dropped too, so memory stays bounded whatever an attacker sends (a dropped key only forgets a count)."""

    SWEEP_AT = 10_000  # keys; below this nothing is swept
    MAX_KEYS = 200_000  # per table; about 40 MB at worst
    SWEEP_EVERY = 1.0  # seconds

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._counts: dict[str, tuple[float, int]] = {}  # key -> (expires at, count)
        self._sets: dict[str, tuple[float, set[str]]] = {}  # key -> (expires at, members)
        self._swept_at = float("-inf")

    def _sweep(self) -> None:
        now = self._clock()
        full = any(len(table) > self.MAX_KEYS for table in (self._counts, self._sets))
        if not full and now - self._swept_at < self.SWEEP_EVERY:
            return
        self._swept_at = now
        for table in (self._counts, self._sets):
            if len(table) >= self.SWEEP_AT:
                for key in [k for k, (expires, _) in table.items() if expires <= now]:
                    del table[key]
            # Still too many live keys: drop the oldest (dicts keep insertion order).
            for key in list(table)[: max(0, len(table) - self.MAX_KEYS)]:
                del table[key]

    async def hit(self, key: str, ttl: int) -> int:
        self._sweep()
        now = self._clock()
        expires, count = self._counts.get(key, (0.0, 0))
        if expires <= now:
            expires, count = now + ttl, 0
        self._counts[key] = (expires, count + 1)
        return count + 1

    async def admit(self, key: str, member: str, limit: int, ttl: int) -> bool:
        self._sweep()
        now = self._clock()
        expires, members = self._sets.get(key, (0.0, set()))
        if expires <= now:
            expires, members = now + ttl, set()
        self._sets[key] = (expires, members)
        if member in members:
            return True
        if len(members) >= limit:
            return False
        members.add(member)
        return True


_ADMIT_SCRIPT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


class RedisBackend:
    """Counters in Redis, shared by every process that uses the same server and `prefix`."""

    def __init__(self, url: str, prefix: str = KEY_PREFIX):
        import redis.asyncio as aioredis  # only needed when Redis is configured

        self.prefix = prefix
        self._client = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    async def hit(self, key: str, ttl: int) -> int:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(f"{self.prefix}:{key}")
            pipe.expire(f"{self.prefix}:{key}", ttl)
            count, _ = await pipe.execute()
        return int(count)

    async def admit(self, key: str, member: str, limit: int, ttl: int) -> bool:
        # One script, so two replicas can't both add the last allowed member.
        return bool(await self._client.eval(_ADMIT_SCRIPT, 1, f"{self.prefix}:{key}", member, limit, ttl))

    async def close(self) -> None:
        await self._client.close()


@dataclass(frozen=True)
class Verdict:
    """What the limiter decided about one message. `scope` names the limit that refused it (sender,
    address, new_conversations or channel; None: allowed); `retry_after` is seconds until that limit's
    window ends; `notify` is True for the first refusal of this sender in the window, so a platform
    resident is told once, not once per message."""

    allowed: bool
    scope: Optional[str] = None
    retry_after: int = 0
    notify: bool = False


ALLOWED = Verdict(True)


def digest(value: str) -> str:
    """A short one-way hash for counter keys: enough to tell senders apart, useless for finding one."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


class RateLimiter:
    """Counts each message against every limit that applies and refuses it if any is over."""

    def __init__(self, limits: RateLimits, backend: Backend, clock: Callable[[], float] = time.time):
        self.limits = limits
        self.backend = backend
        self._clock = clock

    def _window(self, seconds: int) -> tuple[int, int]:
        """(number of the current window, seconds until it ends)."""
        now = self._clock()
        index = int(now // seconds)
        return index, max(1, int((index + 1) * seconds - now + 0.999))

    async def check(self, channel: str, sender: str, address: Optional[str] = None) -> Verdict:
        """Count one message from `sender` on `channel` (from network `address`, for REST and web chat
        callers) and say whether it may go to the bot."""
        if not self.limits.enabled:
            return ALLOWED
        try:
            return await self._check(channel, digest(sender), digest(address_bucket(address)) if address else None)
        except Exception as exc:  # noqa: BLE001 - fail open: a limiter outage must not silence the bot
            log.warning("rate limiter unavailable (%s); message let through", type(exc).__name__)
            return ALLOWED

    async def check_poll(self, address: Optional[str]) -> Verdict:
        """Count one poll for staff replies (GET .../updates) from network `address`. Polls are counted
        apart from messages (a page polls every few seconds) against `polls_per_address` a minute."""
        if not address or not self.limits.polls_per_address:
            return ALLOWED
        try:
            minute, left = self._window(MINUTE)
            count = await self.backend.hit(f"po:{digest(address_bucket(address))}:{minute}", 2 * MINUTE)
        except Exception as exc:  # noqa: BLE001 - fail open, as for messages
            log.warning("rate limiter unavailable (%s); poll let through", type(exc).__name__)
            return ALLOWED
        return ALLOWED if count <= self.limits.polls_per_address else Verdict(False, "polls", left)

    async def _check(self, channel: str, sender: str, address: Optional[str]) -> Verdict:
        minute, minute_left = self._window(MINUTE)
        hour, hour_left = self._window(HOUR)
        # (scope, count in this window, limit, seconds left). Every limit counts every message, so one
        # refused for one reason is still counted for the others.
        counts: list[tuple[str, int, int, int]] = []
        if self.limits.per_channel:
            counts.append(
                (
                    "channel",
                    await self.backend.hit(f"ch:{channel}:{minute}", 2 * MINUTE),
                    self.limits.per_channel,
                    minute_left,
                )
            )
        if address and self.limits.per_address:
            counts.append(
                (
                    "address",
                    await self.backend.hit(f"ad:{address}:{minute}", 2 * MINUTE),
                    self.limits.per_address,
                    minute_left,
                )
            )
        if address and self.limits.new_conversations_per_address:
            # Many different senders from one address is what a script opening conversations looks like.
            known = await self.backend.admit(
                f"nc:{address}:{hour}", f"{channel}:{sender}", self.limits.new_conversations_per_address, 2 * HOUR
            )
            # As a count against a limit of 0: 1 (over) for a conversation the address may not start.
            counts.append(("new_conversations", 0 if known else 1, 0, hour_left))
        if self.limits.per_sender:
            counts.append(
                (
                    "sender",
                    await self.backend.hit(f"se:{channel}:{sender}:{minute}", 2 * MINUTE),
                    self.limits.per_sender,
                    minute_left,
                )
            )
        over = [(scope, left) for scope, count, limit, left in counts if count > limit]
        if not over:
            return ALLOWED
        scope, left = max(over, key=lambda o: o[1])
        notices = await self.backend.hit(f"no:{channel}:{sender}:{minute}", 2 * MINUTE)
        return Verdict(False, scope, left, notify=notices == 1)


@lru_cache(maxsize=1)
def _shared(redis_url: Optional[str], limits: RateLimits) -> RateLimiter:
    backend: Backend = RedisBackend(redis_url) if redis_url else MemoryBackend()
    log.info("rate limits: %s backend, %s", "Redis" if redis_url else "in-memory", limits.describe())
    return RateLimiter(limits, backend)


def limiter() -> RateLimiter:
    """The process's limiter, from the environment (RATE_LIMIT_* and REDIS_URL)."""
    limits = RateLimits.from_env()
    return _shared(limits.redis_url, limits)


async def close_shared() -> None:
    """Close the shared Redis connection (tests and shutdown)."""
    if _shared.cache_info().currsize:
        backend = limiter().backend
        if isinstance(backend, RedisBackend):
            await backend.close()
    _shared.cache_clear()
