"""One small HTTP client for the platforms' APIs (Meta Graph, X), with timeouts and polite retries.

Platforms rate-limit (429) and have bad minutes (5xx); a resident's reply should survive both. Anything
else (a 400 for a closed messaging window, a 403 for a revoked token) will not get better by retrying.
The client itself retries only briefly, so one slow platform never holds a worker for long; the durable
outbound queue (`bot/channels/sending/dispatch.py`) retries for as long as the platform allows. A call that timed
out after the request went out is never retried here: the platform may have acted on it, and sending it
again could give the resident the same message twice.
Failures are logged by call, status and the platform's error code, never with the message or the body.

All calls in one process share one `httpx.AsyncClient` per event loop (`shared_client`), so a busy
conversation reuses open connections instead of paying a TCP (and TLS) handshake per message. Each call
still passes its own base URL, token and timeout.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Optional

import httpx

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_ID_SEGMENT = re.compile(r"/(?=[^/]*\d{3})[^/]+")  # a path segment with 3+ digits in a row is an id


# Network failures after which the platform can't have acted on the request: it never got it whole.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class PlatformError(Exception):
    """A platform API call failed. `status` is the HTTP status (None if no response arrived); `code` the
    platform's error code; `retry_after` the seconds the platform asked us to wait (429/503);
    `maybe_delivered` is True when the request went out but no answer came back (a timeout or a dropped
    connection), so the platform may have acted on it."""

    def __init__(
        self,
        message: str,
        status: Optional[int] = None,
        code: Optional[str] = None,
        retry_after: Optional[float] = None,
        maybe_delivered: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.maybe_delivered = maybe_delivered

    @property
    def retryable(self) -> bool:
        """Worth trying again later: rate limits, server errors and requests that never reached the platform."""
        if self.maybe_delivered:
            return False
        return self.status is None or self.status in RETRY_STATUSES


class ApiClient:
    """Calls to one platform API at `base_url` with a bearer token. Base URLs are configurable so tests
    and staging can point at a fake platform on loopback."""

    def __init__(
        self,
        name: str,
        base_url: str,
        token: str,
        timeout: float = 10.0,
        attempts: int = 2,
        backoff: float = 0.5,
        max_backoff: float = 2.0,
    ):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = httpx.Timeout(timeout, connect=5.0)
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, json=payload)

    async def get(self, path: str, params: Optional[dict[str, str]] = None) -> dict[str, Any]:
        return await self.request("GET", path, params=params)

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """The JSON answer of a call, retrying 429/5xx and connection failures with exponential backoff (or
        the platform's Retry-After, capped), but never a request that may have arrived. Raises PlatformError
        when it gives up."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        # Paths hold ids (an X DM path holds the resident's user id): logs get the shape, not the ids.
        what = f"{self.name} {method} /{_ID_SEGMENT.sub('/{id}', '/' + path.lstrip('/').split('?')[0])[1:]}"
        last: Optional[PlatformError] = None
        client = shared_client()
        for attempt in range(1, self.attempts + 1):
            try:
                resp = await client.request(method, url, headers=self._headers, timeout=self._timeout, **kwargs)
            except httpx.TransportError as exc:
                maybe = not isinstance(exc, _NOT_SENT)
                last = PlatformError(f"{what}: {type(exc).__name__}", maybe_delivered=maybe)
                if maybe:
                    break
                delay = self._delay(attempt, None)
            else:
                if resp.status_code < 300:
                    return _json(resp)
                retry_after = _seconds(resp.headers.get("retry-after"))
                last = PlatformError(
                    f"{what}: HTTP {resp.status_code}", resp.status_code, _error_code(resp), retry_after
                )
                if resp.status_code not in RETRY_STATUSES:
                    break
                delay = self._delay(attempt, retry_after)
            if attempt < self.attempts:
                log.warning("%s; retry %d of %d in %.1fs", last, attempt, self.attempts - 1, delay)
                await asyncio.sleep(delay)
        assert last is not None
        # A warning: the outbound queue decides whether this is the end of it.
        log.warning("%s (platform error code %s)", last, last.code or "none")
        raise last

    def _delay(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        return min(self.backoff * 2 ** (attempt - 1), self.max_backoff)


_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}


def shared_client() -> httpx.AsyncClient:
    """This process's client for platform calls on the running event loop, created on first use.

    An AsyncClient's connections belong to the loop that opened them, and one process can run several
    loops one after another (scripts and tests call `asyncio.run` repeatedly; the Rasa server and the
    console each run one): so there is one client per loop, and a closed loop's client is dropped."""
    loop = asyncio.get_running_loop()
    for other in [other for other in _clients if other.is_closed()]:
        del _clients[other]  # its sockets went with the loop; nothing left to close
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = _clients[loop] = httpx.AsyncClient()
    return client


async def close_shared_client() -> None:
    """Close the running loop's client and its connections (a server's shutdown hook calls this)."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def _seconds(retry_after: Optional[str]) -> Optional[float]:
    """Retry-After in seconds (the delay form; an HTTP date is rare from these APIs and ignored)."""
    value = (retry_after or "").strip()
    return float(value) if value.isdigit() else None


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {"data": data}


def _error_code(resp: httpx.Response) -> Optional[str]:
    """The platform's error code (Meta: error.code/error_subcode; X: title or type), safe to log."""
    data = _json(resp)
    err = data.get("error")
    if isinstance(err, dict):
        code, sub = err.get("code"), err.get("error_subcode")
        return f"{code}/{sub}" if sub else (str(code) if code is not None else None)
    title = data.get("title") or data.get("type")
    return str(title)[:80] if title else None
