"""X polling mode (X_MODE=polling): the Rasa server asks X for new mentions and DMs every X_POLL_SECONDS
and puts them in the same durable inbound queue as webhook events.

X's pay-per-use API has no Account Activity webhook (that is the enterprise tier), but it has the mentions
timeline and DM events (docs.x.com, "GET /2/users/:id/mentions", "GET /2/dm_events"):

- mentions are asked for with `since_id` (the newest post already taken in), newest first, paged with
  `pagination_token` back to since_id;
- DM events have no since_id: they come newest first and are paged until the newest event already taken in
  (ids are snowflakes, so "already seen" is "id not larger than the last one");
- the cursor (last id per timeline) is stored with the messages in one transaction
  (`knowledge.delivery.polling.store`): a crash or restart does not skip a message, and the delivery key's
  unique index keeps one read twice from being queued twice;
- one poll reads at most MAX_PAGES pages a timeline. When more mentions wait, the cursor stays where it was
  and the unread window (since_id = the cursor, until_id = the oldest id read) is continued by the next
  polls until it is empty; only then does the cursor move to the newest id read. The window is kept in
  memory: a restart reads from the cursor again (the already queued ones are refused by their key, but
  read and charged again). DM events have no until_id: their oldest beyond the cap are still not answered;
- one process polls at a time across replicas (a database lease, renewed every round and between pages,
  so a slow backlog read does not outlive it);
- a 429 waits until `x-rate-limit-reset` (epoch seconds; docs.x.com "Rate limits"); a 5xx, a refused
  token, a 200 carrying only `errors` or a network error waits a round and then longer each time, at most
  MAX_BACKOFF. None of them moves the cursor. Each timeline is polled on its own: one failing does not
  stop the other;
- a pagination token X hands back twice is not followed again (a loop on X's side);
- the flood gate judges each message once: a poll retried after a failed store does not judge (count,
  refuse, or answer "slow down" or the crisis lines for) the same messages again.

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
# Backoff doubles per failure up to this exponent (then MAX_BACKOFF caps it): 2**n of a huge n would
# overflow timedelta and end the polling.
MAX_BACKOFF_DOUBLINGS = 16
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


@dataclass(frozen=True)
class _Window:
    """Mentions a poll could not read (more than its page cap): those older than `until_id` and newer than
    the cursor. `newest` is the newest id read since the cursor, where it moves once the window is read."""

    until_id: int
    newest: int


@dataclass
class _Read:
    """What one poll read: the residents' messages (oldest first), where the cursor goes once they are
    stored, and the unread window left (None when everything after the cursor was read)."""

    messages: list[Incoming]
    last_id: Optional[str]
    window: Optional[_Window] = None


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
        if "errors" in data and "data" not in data:
            # X answers some failures 200 with only `errors`: not an empty timeline (taking it for one at
            # first start would record "nothing yet" and answer the account's history on the next poll).
            raise PollError(f"x {what}: HTTP 200 with errors and no data")
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
        # The unread mentions window, per timeline, with the cursor it was read from.
        self._window: dict[str, tuple[Optional[str], _Window]] = {}
        # The flood gate's verdict (admitted or not) on what the last poll of each timeline found, by
        # delivery key: kept until a store succeeds, so a retry does not judge (and answer) them again.
        self._judged: dict[str, dict[str, bool]] = {MENTIONS: {}, DMS: {}}
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
        except Exception as exc:  # noqa: BLE001 - the account lookup failed: try again in an interval
            log.warning("x polling: %s", exc if isinstance(exc, PollError) else type(exc).__name__)
            for endpoint in due:
                self._due[endpoint].at = self.clock() + self.interval
            return
        for endpoint in due:
            if not self.holding:
                return  # lost the lease polling the one before: the new holder polls this one
            try:
                await self.poll(endpoint)
            except Exception:  # noqa: BLE001 - a bug in one timeline must not starve the other, nor end polling
                log.error("x polling: polling %s failed", endpoint, exc_info=True)
                self._due[endpoint].at = self.clock() + self.interval

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
            read = await self._read(endpoint, self.account)
            found = read.messages
            queued = await self._store(endpoint, self.account, read.last_id, found)
        except RateLimited as exc:
            wait_until = self._after_rate_limit(exc.reset)
            due.at = wait_until
            log.warning("x polling: %s; %s polled again at %s UTC", exc, endpoint, wait_until.strftime("%H:%M:%S"))
            return 0
        except PollError as exc:
            backoff = self._back_off(due)
            log.warning("x polling: %s; %s polled again in %ds", exc, endpoint, backoff.total_seconds())
            return 0
        except polling.LeaseLost:
            self.holding = False
            log.warning("x polling: another process took over polling; what this one found is left to it")
            return 0
        except Exception as exc:  # noqa: BLE001 - the database failed: nothing stored, the cursor unmoved
            # Backed off like X failing: re-reading (and paying for) the same pages every round helps nobody.
            backoff = self._back_off(due)
            log.error(
                "x polling: could not store what was found in %s (%s); polled again in %ds",
                endpoint,
                type(exc).__name__,
                backoff.total_seconds(),
            )
            return 0
        due.failures, due.at = 0, self.clock() + self.interval
        if read.window is None:
            self._window.pop(endpoint, None)
        else:
            self._window[endpoint] = (read.last_id, read.window)
        if found or queued:
            log.info("x polling: %d new message(s) in %s, %d queued", len(found), endpoint, queued)
        return queued

    def _back_off(self, due: _Due) -> dt.timedelta:
        """Count a failed poll and set when to try again: an interval, twice that after each further failure,
        at most MAX_BACKOFF (or the interval if longer). The exponent is capped: 2**n of a large n would
        overflow timedelta, escape the handler and leave the timeline due every round."""
        due.failures += 1
        doublings = min(due.failures - 1, MAX_BACKOFF_DOUBLINGS)
        backoff = min(self.interval * 2**doublings, max(MAX_BACKOFF, self.interval))
        due.at = self.clock() + backoff
        return backoff

    def _after_rate_limit(self, reset: Optional[dt.datetime]) -> dt.datetime:
        now = self.clock()
        if reset is None or reset - now > MAX_RATE_LIMIT_WAIT:
            return now + max(self.interval, MAX_BACKOFF)
        return max(reset, now + self.interval)

    async def _read(self, endpoint: str, account: str) -> _Read:
        """The residents' messages after the cursor (or in the unread window), and where the cursor goes."""

        def load() -> polling.Cursor:
            with session_scope() as session:
                return polling.cursor(session, account, endpoint)

        cursor = await asyncio.to_thread(load)
        last = numeric_id(cursor.last_id) if cursor.last_id else None
        window: Optional[_Window] = None
        kept = self._window.get(endpoint)
        if kept is not None and kept[0] == cursor.last_id:
            window = kept[1]  # (a window read from another cursor, e.g. another replica's, is dropped)
        if endpoint == MENTIONS:
            path, params, parse = f"2/users/{account}/mentions", dict(_MENTION_PARAMS), mentions_page
            if last is not None:
                params["since_id"] = str(last)
            if window is not None:
                params["until_id"] = str(window.until_id)
        else:
            path, params, parse = "2/dm_events", dict(_DM_PARAMS), dm_page
        if not cursor.started:
            # First start: only where the timeline stands now (the smallest page X allows), nothing answered.
            params["max_results"] = "5" if endpoint == MENTIONS else "1"
            first = parse(await self.api.get(path, params, endpoint), account)
            newest = max(first.ids, default=None)
            log.info("x polling: first start on %s; earlier messages are not answered", endpoint)
            return _Read([], str(newest) if newest is not None else None)
        params["max_results"] = str(PAGE_SIZE[endpoint])
        messages: dict[str, Incoming] = {}  # by platform id: a page X repeats gives each message once
        ids: set[int] = set()
        skipped: list[str] = []
        followed: set[str] = set()
        more = False  # pages left unread when the cap was reached
        for number in range(MAX_PAGES[endpoint]):
            if number > 0 and not await asyncio.to_thread(self._hold):
                # Renewed between pages, so a slow backlog read does not outlive the lease; if another
                # process has it, what was read is left to it.
                raise polling.LeaseLost(LEASE_NAME)
            page = parse(await self.api.get(path, params, endpoint), account)
            reached = last is not None and any(i <= last for i in page.ids)
            for m in page.messages:
                if last is None or (numeric_id(m.platform_id) or 0) > last:
                    messages.setdefault(m.platform_id, m)
            ids.update(i for i in page.ids if last is None or i > last)
            skipped += page.skipped
            if reached or not page.next_token:
                break
            if page.next_token in followed:
                log.warning("x polling: X repeated a pagination token in %s; paging stopped", endpoint)
                break
            if number == MAX_PAGES[endpoint] - 1:
                more = True
                break
            followed.add(page.next_token)
            params["pagination_token"] = page.next_token
        if skipped:
            log.info("x polling: ignored %d item(s) in %s: %s", len(skipped), endpoint, ", ".join(sorted(set(skipped))))
        found = sorted(messages.values(), key=lambda m: numeric_id(m.platform_id) or 0)  # in the order sent
        newest = max(ids, default=None)
        if window is not None and (newest is None or window.newest > newest):
            newest = window.newest
        if more and endpoint == MENTIONS and ids:
            # The older ones are read by the next polls (since_id..until_id); the cursor stays until then.
            log.warning(
                "x polling: more than %d new items in %s; the older ones are read in the next polls",
                MAX_PAGES[endpoint] * PAGE_SIZE[endpoint],
                endpoint,
            )
            return _Read(found, cursor.last_id, _Window(until_id=min(ids), newest=newest or max(ids)))
        if more:
            log.warning(
                "x polling: more than %d new items in %s since the last poll; the oldest are not answered",
                MAX_PAGES[endpoint] * PAGE_SIZE[endpoint],
                endpoint,
            )
        if newest is None:
            newest = last
        return _Read(found, str(newest) if newest is not None else None)

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
        admitted = await self._gate(endpoint, fresh)
        items = [polling.Found(m.delivery_key, m.conversation_id, m.channel, m.to_dict()) for m in admitted]

        def store() -> list[int]:
            with session_scope() as session:
                return polling.store(
                    session, LEASE_NAME, self.claimer, self.lease, account, endpoint, last_id, items, self.clock()
                )

        ids = await asyncio.to_thread(store)
        self._judged[endpoint] = {}  # stored (or refused for good): the cursor has moved past them
        if ids and self.wake is not None:
            await self.wake()
        return len(ids)

    async def _gate(self, endpoint: str, messages: list[Incoming]) -> list[Incoming]:
        """Of `messages`, those the flood gate lets through. Each is judged once: the gate counts it and may
        answer it (slow down, or the crisis lines), so a poll retried after a failed store reuses the
        verdicts of the one before. Only the verdicts on messages found again are kept (the read cap
        bounds them)."""
        if self.admit is None or not messages:
            return messages
        before = self._judged[endpoint]
        unjudged = [m for m in messages if m.delivery_key not in before]
        passed = {m.delivery_key for m in await self.admit(unjudged)} if unjudged else set()
        verdicts = {m.delivery_key: before.get(m.delivery_key, m.delivery_key in passed) for m in messages}
        self._judged[endpoint] = verdicts
        return [m for m in messages if verdicts[m.delivery_key]]

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
