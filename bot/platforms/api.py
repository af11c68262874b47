"""One small HTTP client for the platforms' APIs (Meta Graph, X), with timeouts and polite retries.

Platforms rate-limit (429) and have bad minutes (5xx); a resident's reply should survive both. Anything
else (a 400 for a closed messaging window, a 403 for a revoked token) will not get better by retrying.
Failures are logged by call, status and the platform's error code, never with the message or the body.
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


class PlatformError(Exception):
    """A platform API call failed; `status` is the HTTP status (None if no response arrived)."""

    def __init__(self, message: str, status: Optional[int] = None, code: Optional[str] = None):
        super().__init__(message)
        self.status = status
        self.code = code


class ApiClient:
    """Calls to one platform API at `base_url` with a bearer token. Base URLs are configurable so tests
    and staging can point at a fake platform on loopback."""

    def __init__(self, name: str, base_url: str, token: str, timeout: float = 10.0, attempts: int = 4,
                 backoff: float = 0.5, max_backoff: float = 8.0):
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
        """The JSON answer of a call, retrying 429/5xx and network errors with exponential backoff (or the
        platform's Retry-After, capped). Raises PlatformError when it gives up."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        # Paths hold ids (an X DM path holds the resident's user id): logs get the shape, not the ids.
        what = f"{self.name} {method} /{_ID_SEGMENT.sub('/{id}', '/' + path.lstrip('/').split('?')[0])[1:]}"
        last: Optional[PlatformError] = None
        async with httpx.AsyncClient(timeout=self._timeout, headers=self._headers) as client:
            for attempt in range(1, self.attempts + 1):
                try:
                    resp = await client.request(method, url, **kwargs)
                except httpx.TransportError as exc:
                    last = PlatformError(f"{what}: {type(exc).__name__}")
                    delay = self._delay(attempt, None)
                else:
                    if resp.status_code < 300:
                        return _json(resp)
                    last = PlatformError(f"{what}: HTTP {resp.status_code}", resp.status_code, _error_code(resp))
                    if resp.status_code not in RETRY_STATUSES:
                        break
                    delay = self._delay(attempt, resp.headers.get("retry-after"))
                if attempt < self.attempts:
                    log.warning("%s; retry %d of %d in %.1fs", last, attempt, self.attempts - 1, delay)
                    await asyncio.sleep(delay)
        assert last is not None
        log.error("%s (platform error code %s); giving up", last, last.code or "none")
        raise last

    def _delay(self, attempt: int, retry_after: Optional[str]) -> float:
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after), self.max_backoff)
        return min(self.backoff * 2 ** (attempt - 1), self.max_backoff)


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
