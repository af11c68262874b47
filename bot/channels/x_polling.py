"""X polling mode (X_MODE=polling): the Rasa server asks X for new mentions and DMs every X_POLL_SECONDS
and puts them in the same durable inbound queue as webhook events.

X's pay-per-use API has no Account Activity webhook (that is the enterprise tier), but it has the mentions
timeline and DM events (docs.x.com, "GET /2/users/:id/mentions", "GET /2/dm_events"):

- mentions are asked for with `since_id` (the newest post already taken in), newest first, paged with
  `pagination_token` back to since_id;
- DM events have no since_id: they come newest first and are paged until the newest event already taken in
  (ids are snowflakes, so "already seen" is "id not larger than the last one");
- the cursor (last id per timeline) is stored with the messages in one transaction
  (`knowledge.delivery.polling.store`): a crash or restart neither skips nor repeats a message;
- one process polls at a time across replicas (a database lease, renewed every round);
- a 429 waits until `x-rate-limit-reset` (epoch seconds; docs.x.com "Rate limits"); a 5xx, a refused
  token or a network error waits a round and then longer each time. None of them moves the cursor.

First start (no cursor): the account's history is not answered. The poller records the newest mention and
DM and answers only what comes after, because a council switching to polling has usually answered its
history already (by webhook or by hand), a reply to a post weeks old confuses more than it helps, and every
post read is charged. A timeline found empty is recorded as started, so everything found next is new.

Cost (docs.x.com "Pricing"): pay-per-use charges per resource returned (posts, DM events, media), not per
request; a poll that finds nothing returns no resource. So `expansions=author_id` is not asked for: it
would return (and charge) a user object per mention, and `tweet.fields=author_id` gives the id we need.

Logs say how many messages were found, never their text or the residents' ids.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Optional

import httpx

from bot.channels.events import Incoming
from bot.channels.x_timeline import dm_page, mentions_page, numeric_id
from bot.platforms.api import shared_client
from knowledge.db import session_scope
from knowledge.delivery import polling
from knowledge.delivery.claims import Claimer
from knowledge.delivery.conversations import utcnow

log = logging.getLogger(__name__)

LEASE_NAME = "x-poll"
MENTIONS, DMS = "mentions", "dms"
# Page sizes and pages read in one poll, per timeline; together they bound what one poll can cost after a
# long outage (500 messages, far more than a council gets in a minute). Mentions are asked for since_id, so
# a page holds only new posts: X's maximum of 100 a page. DM events have no since_id: every poll gets the
# newest page again, seen or not, and X charges each event returned (once a UTC day), so DM pages are
# small: 20 events, about $0.20 a day when nobody writes (README, "Connecting X").
PAGE_SIZE = {MENTIONS: 100, DMS: 20}
MAX_PAGES = {MENTIONS: 5, DMS: 25}
# The longest wait after repeated failures, and after a 429 without a usable reset time.
MAX_BACKOFF = dt.timedelta(minutes=15)
# A rate-limit reset further away than this is not believed (a clock or header gone wrong).
MAX_RATE_LIMIT_WAIT = dt.timedelta(hours=1)

_MEDIA = {"expansions": "attachments.media_keys", "media.fields": "media_key,type,url,preview_image_url"}
_MENTION_PARAMS = {**_MEDIA, "tweet.fields": "id,text,author_id,created_at,attachments,referenced_tweets"}
_DM_PARAMS = {
    **_MEDIA,
    "event_types": "MessageCreate",
    "dm_event.fields": "id,text,event_type,sender_id,dm_conversation_id,created_at,attachments",
}

# The flood gate: of the messages found, those that may go to the bot (`bot.channels.flood_gate.admit`).
Admit = Callable[[list[Incoming]], Awaitable[list[Incoming]]]
# Starts work on what was queued (the inbox's `resume`).
Wake = Callable[[], Awaitable[Any]]


class PollError(Exception):
    """A poll failed; the cursor is unchanged and the same messages are asked for again later."""


class RateLimited(PollError):
    """X answered 429. `reset` is when the limit resets (naive UTC), if X said."""

    def __init__(self, message: str, reset: Optional[dt.datetime]):
        super().__init__(message)
        self.reset = reset


@dataclass
class _Due:
    """When a timeline may be polled next, and how many polls of it failed in a row."""

    at: dt.datetime
    failures: int = 0


class XApi:
    """The three GETs polling needs, with the user-context token the replies use (as `XSender` does:
    `Authorization: Bearer <X_ACCESS_TOKEN>`). No retries here: the next round is the retry."""

    def __init__(self, base_url: str, token: str, timeout: float):
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = httpx.Timeout(timeout, connect=5.0)

    async def get(self, path: str, params: dict[str, str], what: str) -> dict[str, Any]:
        """The JSON body of `GET path`. `what` names the call in errors (never the path: it holds ids)."""
        try:
            resp = await shared_client().get(
                f"{self.base_url}/{path}", params=params, headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise PollError(f"x {what}: {type(exc).__name__}") from None
        if resp.status_code == 429:
            raise RateLimited(f"x {what}: HTTP 429", _reset_time(resp.headers.get("x-rate-limit-reset")))
        if resp.status_code >= 300:
            raise PollError(f"x {what}: HTTP {resp.status_code}")
        try:
            data = resp.json()
        except ValueError:
            raise PollError(f"x {what}: not JSON") from None
        if not isinstance(data, dict):
            raise PollError(f"x {what}: not a JSON object")
        return data


def _reset_time(header: Optional[str]) -> Optional[dt.datetime]:
    value = (header or "").strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        return None
    return dt.datetime.fromtimestamp(int(value), dt.UTC).replace(tzinfo=None)


class XPoller:
    """Polls the council account's mentions and DMs while this process holds the lease.

    `interval` is X_POLL_SECONDS; `lease` how long the lease lasts without renewal; `retention` how long
    delivery ids are remembered (an older message is not queued, as a webhook refuses it); `admit` the flood
    gate; `wake` starts the inbox on what was queued; `clock` naive UTC now."""

    def __init__(
        self,
        api: XApi,
        claimer: Claimer,
        interval: dt.timedelta,
        lease: dt.timedelta,
        retention: dt.timedelta,
        admit: Optional[Admit] = None,
        wake: Optional[Wake] = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self.api = api
        self.claimer = claimer
        self.retention = retention
        self.admit = admit
        self.wake = wake
        self.interval = interval
        self.lease = lease
        self.clock = clock
        self.account: Optional[str] = None  # the council's X user id, asked once (GET /2/users/me)
        self._due = {MENTIONS: _Due(clock()), DMS: _Due(clock())}
        self.holding = False

    @property
    def round_seconds(self) -> float:
        """How often `run` wakes: often enough to renew the lease well before it lapses, and to poll on time."""
        return max(1.0, min(self.interval.total_seconds(), self.lease.total_seconds() / 3))

    async def run(self) -> None:
        """Poll for ever (the server cancels this task when it stops)."""
        try:
            while True:
                started = time.monotonic()
                await self.round()
                await asyncio.sleep(max(0.0, self.round_seconds - (time.monotonic() - started)))
        finally:
            if self.holding:
                await asyncio.shield(asyncio.to_thread(self._release))

    async def round(self) -> None:
        """Renew (or take) the lease; then poll each timeline that is due. Never raises, so a bad round
        can't end the polling."""
        try:
            self.holding = await asyncio.to_thread(self._hold)
        except Exception as exc:  # noqa: BLE001 - the database is down: try again next round
            log.error("x polling: could not take the polling lease (%s)", type(exc).__name__)
            self.holding = False
        if not self.holding:
            return
        due = [endpoint for endpoint in (MENTIONS, DMS) if self.clock() >= self._due[endpoint].at]
        try:
            if due and self.account is None:
                self.account = await self._account()
            for endpoint in due:
                await self.poll(endpoint)
        except PollError as exc:  # only the account lookup gets here: try again in an interval
            log.warning("x polling: %s", exc)
            for endpoint in due:
                self._due[endpoint].at = self.clock() + self.interval
        except Exception:  # noqa: BLE001 - a bug must not end the polling either
            log.error("x polling: a round failed", exc_info=True)

    async def _account(self) -> str:
        data = await self.api.get("2/users/me", {}, "users/me")
        account = _str_id(data.get("data"))
        if account is None:
            raise PollError("x users/me: no account id in the answer")
        return account

    async def poll(self, endpoint: str) -> int:
        """Poll one timeline now. Returns how many messages were queued."""
        assert self.account is not None
        due = self._due[endpoint]
        try:
            found, last_id = await self._read(endpoint, self.account)
            queued = await self._store(endpoint, self.account, last_id, found)
        except RateLimited as exc:
            wait_until = self._after_rate_limit(exc.reset)
            due.at = wait_until
            log.warning("x polling: %s; %s polled again at %s UTC", exc, endpoint, wait_until.strftime("%H:%M:%S"))
            return 0
        except PollError as exc:
            due.failures += 1
            backoff = min(self.interval * 2 ** (due.failures - 1), max(MAX_BACKOFF, self.interval))
            due.at = self.clock() + backoff
            log.warning("x polling: %s; %s polled again in %ds", exc, endpoint, backoff.total_seconds())
            return 0
        except polling.LeaseLost:
            self.holding = False
            log.warning("x polling: another process took over polling; what this one found is left to it")
            return 0
        except Exception as exc:  # noqa: BLE001 - the database failed: nothing stored, the cursor unmoved
            log.error("x polling: could not store what was found in %s (%s)", endpoint, type(exc).__name__)
            return 0
        due.failures, due.at = 0, self.clock() + self.interval
        if found or queued:
            log.info("x polling: %d new message(s) in %s, %d queued", len(found), endpoint, queued)
        return queued

    def _after_rate_limit(self, reset: Optional[dt.datetime]) -> dt.datetime:
        now = self.clock()
        if reset is None or reset - now > MAX_RATE_LIMIT_WAIT:
            return now + max(self.interval, MAX_BACKOFF)
        return max(reset, now + self.interval)

    async def _read(self, endpoint: str, account: str) -> tuple[list[Incoming], Optional[str]]:
        """(the residents' messages after the cursor, oldest first; the new cursor)."""

        def load() -> polling.Cursor:
            with session_scope() as session:
                return polling.cursor(session, account, endpoint)

        cursor = await asyncio.to_thread(load)
        last = numeric_id(cursor.last_id) if cursor.last_id else None
        if endpoint == MENTIONS:
            path, params, parse = f"2/users/{account}/mentions", dict(_MENTION_PARAMS), mentions_page
            if last is not None:
                params["since_id"] = str(last)
        else:
            path, params, parse = "2/dm_events", dict(_DM_PARAMS), dm_page
        if not cursor.started:
            # First start: only where the timeline stands now (the smallest page X allows), nothing answered.
            params["max_results"] = "5" if endpoint == MENTIONS else "1"
            first = parse(await self.api.get(path, params, endpoint), account)
            newest = max(first.ids, default=None)
            log.info("x polling: first start on %s; earlier messages are not answered", endpoint)
            return [], str(newest) if newest is not None else None
        params["max_results"] = str(PAGE_SIZE[endpoint])
        messages: list[Incoming] = []
        ids: list[int] = []
        skipped: list[str] = []
        for number in range(MAX_PAGES[endpoint]):
            page = parse(await self.api.get(path, params, endpoint), account)
            reached = last is not None and any(i <= last for i in page.ids)
            messages += [m for m in page.messages if last is None or (numeric_id(m.platform_id) or 0) > last]
            ids += [i for i in page.ids if last is None or i > last]
            skipped += page.skipped
            if reached or not page.next_token:
                break
            if number == MAX_PAGES[endpoint] - 1:
                log.warning(
                    "x polling: more than %d new items in %s since the last poll; the oldest are not answered",
                    MAX_PAGES[endpoint] * PAGE_SIZE[endpoint],
                    endpoint,
                )
            params["pagination_token"] = page.next_token
        if skipped:
            log.info("x polling: ignored %d item(s) in %s: %s", len(skipped), endpoint, ", ".join(sorted(set(skipped))))
        newest = max(ids, default=last)
        messages.sort(key=lambda m: numeric_id(m.platform_id) or 0)  # answer in the order they were sent
        return messages, str(newest) if newest is not None else None

    async def _store(self, endpoint: str, account: str, last_id: Optional[str], found: list[Incoming]) -> int:
        """Queue what was found with the new cursor (one transaction), then start work on it."""
        now = self.clock()
        fresh = [m for m in found if m.sent_at is None or now - m.sent_at <= self.retention]
        if len(fresh) < len(found):
            # Older than any delivery id we still remember, so we could not tell a repeat: as a webhook does.
            log.warning(
                "x polling: %d message(s) in %s older than %s not answered",
                len(found) - len(fresh),
                endpoint,
                self.retention,
            )
        admitted = await self.admit(fresh) if self.admit and fresh else fresh
        items = [polling.Found(m.delivery_key, m.conversation_id, m.channel, m.to_dict()) for m in admitted]

        def store() -> list[int]:
            with session_scope() as session:
                return polling.store(
                    session, LEASE_NAME, self.claimer, self.lease, account, endpoint, last_id, items, self.clock()
                )

        ids = await asyncio.to_thread(store)
        if ids and self.wake is not None:
            await self.wake()
        return len(ids)

    def _hold(self) -> bool:
        with session_scope() as session:
            return polling.hold(session, LEASE_NAME, self.claimer, self.clock(), self.lease)

    def _release(self) -> None:
        try:
            with session_scope() as session:
                polling.release(session, LEASE_NAME, self.claimer)
        except Exception as exc:  # noqa: BLE001 - stopping anyway: the lease lapses by itself
            log.warning("x polling: could not let the lease go (%s)", type(exc).__name__)


def _str_id(data: Any) -> Optional[str]:
    value = data.get("id") if isinstance(data, dict) else None
    number = numeric_id(value)
    return str(number) if number is not None else None
