"""Checking that every service's self-serve link still works.

A check asks each page for its headers (HEAD, or GET without reading the body when a server refuses HEAD
with 405 or 501), follows redirects one hop at a time, and sorts the result into an outcome:

- `ok`: 2xx at the same page. A redirect that only adds or removes a trailing slash, or moves from http to
  https on the same host, is still the same page.
- `redirect`: 2xx somewhere else; `final_url` is where it ended, and the service's link should be updated.
- `gone`: 404 or 410 (after any redirects).
- `error`: any other status, too many redirects, or a network problem (host not found, refused, TLS);
  `detail` says which in a few words.
- `timeout`: no answer within the time limit.

Council sites are shared and slow, so the checker is polite: at most `per_host` requests to one host at a
time, `host_delay` seconds between starting requests to the same host, and a User-Agent that says who is
asking. It only reads services and writes `link_checks`, so it never gets in the way of answers.

`check_links` is the pure part (no database); `run_check` loads services, checks and stores one `LinkCheck`
row per service per run (history is kept); `latest_results` gives the newest row per service.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import logging
import socket
import ssl
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from itertools import zip_longest
from typing import Optional

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from knowledge.db import session_scope
from knowledge.models import Council, LinkCheck, Service
from knowledge.settings import Settings

log = logging.getLogger(__name__)

OK, REDIRECT, GONE, ERROR, TIMEOUT = "ok", "redirect", "gone", "error", "timeout"
OUTCOMES: tuple[str, ...] = (GONE, ERROR, TIMEOUT, REDIRECT, OK)  # worst first: the order editors see them

DEFAULT_TIMEOUT: float = Settings.link_check_timeout_seconds  # seconds for each of connect, read and write
DEFAULT_CONCURRENCY = 8  # links being checked at once
DEFAULT_PER_HOST = 2  # requests in flight to one host
DEFAULT_HOST_DELAY = 0.5  # seconds between starting two requests to one host
MAX_REDIRECTS = 10
DEFAULT_USER_AGENT = "CouncilBot-LinkChecker/1.0 (council chatbot; checks the links it gives residents)"

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_HEAD_REFUSED = frozenset({405, 501})
# Column sizes in link_checks.
_URL_MAX, _DETAIL_MAX = 500, 300

Source = Optional[str]  # a database URL; None: DATABASE_URL


@dataclass(frozen=True)
class Result:
    """What checking one link found. `key` is the service key (or the caller's label for an extra URL);
    `status_code` is the last HTTP status seen (None if there was no answer); `final_url` is where
    redirects ended, set only when that is a different page; `checked_at` is naive UTC."""

    key: str
    url: str
    outcome: str
    status_code: Optional[int] = None
    final_url: Optional[str] = None
    detail: Optional[str] = None
    checked_at: dt.datetime = dt.datetime.min

    @property
    def is_problem(self) -> bool:
        """True unless the link works as written: a redirect is a problem too, the link should change."""
        return self.outcome != OK


def user_agent(council_name: Optional[str], site: Optional[str]) -> str:
    """The User-Agent naming the bot and the council, so a web team seeing our requests knows who to ask."""
    if not council_name:
        return DEFAULT_USER_AGENT
    contact = f"; +{site}" if site else ""
    return f"CouncilBot-LinkChecker/1.0 ({council_name} chatbot{contact})"


# --- Checking (no database) ------------------------------------------------------------------------------------


class _TooManyRedirects(Exception):
    """More than MAX_REDIRECTS hops."""


class _HostGate:
    """Per-host politeness: a semaphore of `per_host` slots and a minimum gap between request starts."""

    def __init__(self, per_host: int, delay: float) -> None:
        self._per_host, self._delay = per_host, delay
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._spacing: dict[str, asyncio.Lock] = {}
        self._next_start: dict[str, float] = {}

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        async with self._slots.setdefault(host, asyncio.Semaphore(self._per_host)):
            async with self._spacing.setdefault(host, asyncio.Lock()):
                loop = asyncio.get_running_loop()
                wait = self._next_start.get(host, 0.0) - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._next_start[host] = loop.time() + self._delay
            yield


async def _one_request(client: httpx.AsyncClient, gate: _HostGate, url: httpx.URL) -> tuple[int, Optional[str]]:
    """(status, Location header) of `url`: HEAD, or a GET whose body is never read if HEAD is refused."""
    async with gate.slot(url.host):
        head = await client.head(url)
    if head.status_code not in _HEAD_REFUSED:
        return head.status_code, head.headers.get("location")
    async with gate.slot(url.host), client.stream("GET", url) as resp:
        return resp.status_code, resp.headers.get("location")


async def _follow(client: httpx.AsyncClient, gate: _HostGate, url: str) -> tuple[int, httpx.URL]:
    """Final (status, URL) after following redirects; each hop waits its turn at its own host."""
    current = httpx.URL(url)
    for _ in range(MAX_REDIRECTS + 1):
        status, location = await _one_request(client, gate, current)
        if status not in _REDIRECT_STATUSES or not location:
            return status, current
        current = current.join(location)
    raise _TooManyRedirects


def same_page(start: str, end: str) -> bool:
    """True if `end` is `start` give or take a trailing slash or an http→https upgrade on the same host."""
    a, b = httpx.URL(start), httpx.URL(end)
    if a.host != b.host or a.query != b.query:
        return False
    if a.scheme == b.scheme:
        if a.port != b.port:
            return False
    elif (a.scheme, b.scheme) != ("http", "https") or b.port is not None:
        return False
    return a.path.rstrip("/") == b.path.rstrip("/")


def _status_text(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _connect_problem(exc: Exception) -> str:
    """A few words for a network failure. httpx wraps the socket's error (often as "All connection attempts
    failed"), so look down the chain for what really happened."""
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return "host not found (DNS)"
        if isinstance(cause, ssl.SSLError):
            return "secure connection failed (TLS certificate?)"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "network unreachable"
    text = " ".join(str(c) for c in _causes(exc)).lower()
    if "name or service not known" in text or "name resolution" in text or "nodename" in text:
        return "host not found (DNS)"
    if "certificate" in text or "ssl" in text:
        return "secure connection failed (TLS certificate?)"
    return f"could not connect: {str(exc)[:120]}" if str(exc) else f"could not connect ({type(exc).__name__})"


async def _check_one(client: httpx.AsyncClient, gate: _HostGate, key: str, url: str, timeout: float) -> Result:
    def result(
        outcome: str, status: Optional[int] = None, final: Optional[str] = None, detail: Optional[str] = None
    ) -> Result:
        return Result(key, url, outcome, status, final, detail, dt.datetime.now(dt.UTC).replace(tzinfo=None))

    if not url or not url.strip():
        return result(ERROR, detail="no web address")
    try:
        status, final = await _follow(client, gate, url.strip())
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        return result(ERROR, detail="not a valid web address")
    except httpx.TimeoutException:
        return result(TIMEOUT, detail=f"no answer within {timeout:g} s")
    except _TooManyRedirects:
        return result(ERROR, detail=f"more than {MAX_REDIRECTS} redirects")
    except httpx.ConnectError as exc:
        return result(ERROR, detail=_connect_problem(exc))
    except httpx.HTTPError as exc:  # protocol errors, a dropped connection…
        return result(ERROR, detail=f"connection problem ({type(exc).__name__})")

    moved = None if same_page(url.strip(), str(final)) else str(final)
    if 200 <= status < 300:
        return result(REDIRECT if moved else OK, status, moved)
    if status in (404, 410):
        return result(GONE, status, moved, _status_text(status))
    return result(ERROR, status, moved, _status_text(status))


def _interleave_by_host(urls: Sequence[tuple[str, str]]) -> list[int]:
    """Indexes of `urls` taking one host after another, so the first tasks don't all queue on one host."""
    by_host: dict[str, list[int]] = defaultdict(list)
    for i, (_, url) in enumerate(urls):
        try:
            host = httpx.URL(url).host
        except Exception:  # noqa: BLE001 - a bad URL is reported by its check; any bucket will do
            host = ""
        by_host[host].append(i)
    return [i for row in zip_longest(*by_host.values()) for i in row if i is not None]


async def check_links(
    urls: list[tuple[str, str]],
    timeout: float = DEFAULT_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
    per_host: int = DEFAULT_PER_HOST,
    *,
    host_delay: float = DEFAULT_HOST_DELAY,
    user_agent: str = DEFAULT_USER_AGENT,
    verify: bool = True,
) -> list[Result]:
    """Check `urls`, (key, url) pairs, and return one Result each in the same order. `timeout` applies to
    each step of each request; `concurrency` links are checked at once, with at most `per_host` requests
    in flight to any one host and `host_delay` seconds between starting requests to it."""
    if concurrency < 1 or per_host < 1 or timeout <= 0:
        raise ValueError("timeout, concurrency and per_host must be positive")
    gate = _HostGate(per_host, host_delay)
    running = asyncio.Semaphore(concurrency)
    results: list[Optional[Result]] = [None] * len(urls)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"User-Agent": user_agent, "Accept": "text/html,*/*;q=0.8"}

    async with httpx.AsyncClient(
        timeout=httpx.Timeout(timeout), limits=limits, headers=headers, follow_redirects=False, verify=verify
    ) as client:

        async def check(i: int) -> None:
            key, url = urls[i]
            async with running:
                results[i] = await _check_one(client, gate, key, url, timeout)

        await asyncio.gather(*(check(i) for i in _interleave_by_host(urls)))
    return [r for r in results if r is not None]


# --- Running a check against the knowledge base ----------------------------------------------------------------


def services_to_check(session: Session) -> list[tuple[str, str]]:
    """(key, url) of every active service, in key order."""
    rows = session.execute(select(Service.key, Service.url).where(Service.active.is_(True)).order_by(Service.key))
    return [(key, url or "") for key, url in rows]


def store_results(session: Session, results: Sequence[Result]) -> None:
    """One new LinkCheck row per result; earlier rows stay as history."""
    for r in results:
        session.add(
            LinkCheck(
                service_key=r.key,
                url=r.url[:_URL_MAX],
                outcome=r.outcome,
                status_code=r.status_code,
                final_url=r.final_url[:_URL_MAX] if r.final_url else None,
                detail=r.detail[:_DETAIL_MAX] if r.detail else None,
                checked_at=r.checked_at,
            )
        )


def _load(source: Source) -> tuple[list[tuple[str, str]], str]:
    with session_scope(source) as session:
        council = session.get(Council, 1)
        agent = user_agent(council.name, council.site) if council else DEFAULT_USER_AGENT
        return services_to_check(session), agent


def _store(source: Source, results: Sequence[Result]) -> None:
    with session_scope(source) as session:
        store_results(session, results)


async def run_check_async(
    source: Source = None,
    *,
    extra: Sequence[tuple[str, str]] = (),
    timeout: float = DEFAULT_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
    per_host: int = DEFAULT_PER_HOST,
    host_delay: float = DEFAULT_HOST_DELAY,
) -> list[Result]:
    """`run_check` for code already on an event loop: database work runs on worker threads."""
    targets, agent = await asyncio.to_thread(_load, source)
    results = await check_links(
        [*targets, *extra], timeout, concurrency, per_host, host_delay=host_delay, user_agent=agent
    )
    await asyncio.to_thread(_store, source, results[: len(targets)])
    problems = sum(r.is_problem for r in results)
    log.info("link check: %d links, %d problem(s)", len(results), problems)
    return results


def run_check(
    source: Source = None,
    *,
    extra: Sequence[tuple[str, str]] = (),
    timeout: float = DEFAULT_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
    per_host: int = DEFAULT_PER_HOST,
    host_delay: float = DEFAULT_HOST_DELAY,
) -> list[Result]:
    """Check every active service's link and store the results; returns them (services first, in key
    order, then `extra`). `source` is a database URL (None: `DATABASE_URL`). `extra`
    (label, url) pairs are checked too but not stored: link_checks holds services only."""
    return asyncio.run(
        run_check_async(
            source, extra=extra, timeout=timeout, concurrency=concurrency, per_host=per_host, host_delay=host_delay
        )
    )


def latest_results(session: Session, *, include_inactive: bool = False) -> list[LinkCheck]:
    """The newest LinkCheck of each service (by row id, which only grows), in service-key order; services
    that are no longer active are left out unless `include_inactive`."""
    newest = select(func.max(LinkCheck.id)).group_by(LinkCheck.service_key)
    stmt = select(LinkCheck).where(LinkCheck.id.in_(newest)).order_by(LinkCheck.service_key)
    if not include_inactive:
        stmt = stmt.join(Service, Service.key == LinkCheck.service_key).where(Service.active.is_(True))
    return list(session.execute(stmt).scalars())
