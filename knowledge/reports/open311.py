"""A client for the council's back office over Open311 GeoReport v2 (JSON), with mySociety's
`servicerequestupdates` extension, as FixMyStreet uses it (perllib/Open311.pm).

Every failure is one of two errors, decided here so callers never look at HTTP: `Unavailable` (network
error, timeout, 5xx, 429: try again later) or `Rejected` (any other 4xx: the server said no, with its own
description, which staff see; trying again would get the same answer). Nothing about residents is logged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import httpx

from knowledge.settings import settings

# Longest answer read from the server: a page of 1,000 requests is well under 2 MB.
MAX_ANSWER_BYTES = 10_000_000
MAX_ID = 100  # the width of reports.open311_id and report_updates.open311_update_id
MAX_WORDS = 2000  # a status note longer than this is cut: residents read it on a phone


class _HideApiKey(logging.Filter):
    """Blanks `api_key=…` in httpx's request log lines. GeoReport puts the key in the query string of GETs,
    and httpx logs every request's URL at INFO, the level the Rasa server (where the worker runs) logs at:
    without this the key would be in the logs at every poll. The lines themselves stay, for on-call staff."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "api_key=" in message:
            record.msg, record.args = _API_KEY_RE.sub(r"\1[hidden]", message), None
        return True


_API_KEY_RE = re.compile(r"(api_key=)[^&\s\"']*")
logging.getLogger("httpx").addFilter(_HideApiKey())


class Open311Error(Exception):
    """The Open311 server didn't do what was asked."""


class Unavailable(Open311Error):
    """The server couldn't be reached or couldn't answer now (network, timeout, 5xx, 429): retry later.
    `maybe_done` is False only when the request certainly did nothing (no connection, or 429 "too many")."""

    def __init__(self, description: str, maybe_done: bool = True) -> None:
        super().__init__(description)
        self.maybe_done = maybe_done


class Rejected(Open311Error):
    """The server refused the request (4xx); `str()` is its own description, fit for staff. No retry."""

    def __init__(self, description: str, status_code: int) -> None:
        super().__init__(description)
        self.status_code = status_code


class NotConfigured(Open311Error):
    """No OPEN311_ENDPOINT is set: reports wait in the console."""


@dataclass(frozen=True)
class Posted:
    """The server's answer to a new request: its id, or only a token when it files requests later."""

    service_request_id: Optional[str]
    token: Optional[str] = None


@dataclass(frozen=True)
class RequestStatus:
    """One request as the server describes it (`GET requests`). `status` is its own word (open, closed or
    an extension value); `description` and `updated` as sent."""

    service_request_id: str
    status: str
    description: str = ""
    service_code: str = ""
    updated: Optional[dt.datetime] = None
    status_notes: str = ""


@dataclass(frozen=True)
class StatusUpdate:
    """One change from `servicerequestupdates`: `update_id` is the server's id for the change."""

    update_id: str
    service_request_id: str
    status: str
    updated: Optional[dt.datetime]
    description: str = ""


@dataclass(frozen=True)
class Service:
    """One of the server's services (`GET services`)."""

    service_code: str
    service_name: str
    metadata: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def open311_time(when: dt.datetime) -> str:
    """W3C date-time as Open311 wants it, from naive UTC: 2026-12-01T14:05:00Z."""
    return when.replace(microsecond=0).isoformat() + "Z"


def parse_time(value: Any) -> Optional[dt.datetime]:
    """Naive UTC from an Open311 date-time (any offset), or None."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


class Open311Client:
    """GeoReport v2 at `endpoint` (a base URL: `services.json`, `requests.json`… are relative to it)."""

    def __init__(
        self,
        endpoint: str,
        api_key: Optional[str] = None,
        jurisdiction: Optional[str] = None,
        timeout: float = 30.0,
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        self.endpoint = endpoint if endpoint.endswith("/") else endpoint + "/"
        self.api_key = api_key
        self.jurisdiction = jurisdiction
        self._http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)

    @classmethod
    def from_settings(cls) -> Open311Client:
        """The configured client. Raises NotConfigured without OPEN311_ENDPOINT."""
        s = settings()
        if not s.open311_endpoint:
            raise NotConfigured("OPEN311_ENDPOINT is not set")
        return cls(s.open311_endpoint, s.open311_api_key, s.open311_jurisdiction, s.open311_timeout_seconds)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Open311Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the calls ---------------------------------------------------------------------------------------------

    def services(self) -> list[Service]:
        """The server's services."""
        body = self._call("GET", "services.json", params=self._common({}))
        return [
            Service(
                str(s.get("service_code", "")),
                str(s.get("service_name", "")),
                bool(s.get("metadata") in (True, "true")),
                s,
            )
            for s in _items(body, "services")
        ]

    def post_request(
        self,
        service_code: str,
        description: str,
        *,
        lat: Optional[float] = None,
        long: Optional[float] = None,
        address_string: Optional[str] = None,
        media_url: Optional[str] = None,
        attributes: Optional[dict[str, str]] = None,
    ) -> Posted:
        """File a request (form-encoded POST requests.json). Returns the server's id or token. A timeout or
        a lost answer raises Unavailable even though the server may have filed it: the caller decides."""
        form: dict[str, str] = {"service_code": service_code, "description": description}
        if lat is not None and long is not None:
            form["lat"], form["long"] = repr(float(lat)), repr(float(long))
        if address_string:
            form["address_string"] = address_string
        if media_url:
            form["media_url"] = media_url
        for code, value in (attributes or {}).items():
            form[f"attribute[{code}]"] = value
        body = self._call("POST", "requests.json", data=self._common(form))
        items = _items(body, "service_requests")
        first = items[0] if items else {}
        request_id = first.get("service_request_id")
        token = first.get("token")
        if request_id in (None, "") and token in (None, ""):
            if first.get("description") and "code" in first:
                # Some servers answer a refusal with 200 and a GeoReport error body: it is still a refusal
                # (staff see why at once), not an outage to retry every quarter of an hour for ever.
                raise Rejected(str(first["description"])[:300], 200)
            raise Unavailable("the server's answer named no request id or token")
        return Posted(
            None if request_id in (None, "") else _id(request_id), None if token in (None, "") else _id(token)
        )

    def get_requests(
        self,
        ids: Optional[list[str]] = None,
        *,
        service_code: Optional[str] = None,
        start: Optional[dt.datetime] = None,
        end: Optional[dt.datetime] = None,
    ) -> list[RequestStatus]:
        """Requests by id (`service_request_id=1,2`), or by service code and a time window (start, end)."""
        params: dict[str, str] = {}
        if ids:
            params["service_request_id"] = ",".join(ids)
        if service_code:
            params["service_code"] = service_code
        if start is not None:
            params["start_date"] = open311_time(start)
        if end is not None:
            params["end_date"] = open311_time(end)
        body = self._call("GET", "requests.json", params=self._common(params))
        return [
            RequestStatus(
                _id(r.get("service_request_id", "")),
                str(r.get("status", ""))[:MAX_ID],
                str(r.get("description") or ""),
                str(r.get("service_code") or "")[:MAX_ID],
                parse_time(r.get("updated_datetime")),
                _words(r.get("status_notes")),
            )
            for r in _items(body, "service_requests")
            if r.get("service_request_id") not in (None, "")
        ]

    def updates(self, start: dt.datetime, end: Optional[dt.datetime] = None) -> list[StatusUpdate]:
        """Status changes since `start` (mySociety's servicerequestupdates.json), oldest first. A server
        without the extension answers 404: Rejected with status_code 404."""
        params = {"start_date": open311_time(start)}
        if end is not None:
            params["end_date"] = open311_time(end)
        body = self._call("GET", "servicerequestupdates.json", params=self._common(params))
        found = [
            StatusUpdate(
                _id(u.get("update_id")),
                _id(u.get("service_request_id")),
                str(u.get("status") or "")[:MAX_ID],
                parse_time(u.get("updated_datetime")),
                _words(u.get("description")),
            )
            for u in _items(body, "service_requests_updates", "service_request_updates")
            if u.get("update_id") not in (None, "") and u.get("service_request_id") not in (None, "")
        ]
        return sorted(found, key=lambda u: (u.updated or dt.datetime.min, u.update_id))

    # --- plumbing ---------------------------------------------------------------------------------------------

    def _common(self, values: dict[str, str]) -> dict[str, str]:
        if self.api_key:
            values["api_key"] = self.api_key
        if self.jurisdiction:
            values["jurisdiction_id"] = self.jurisdiction
        return values

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            with self._http.stream(method, self.endpoint + path, **kwargs) as response:
                status = response.status_code
                body = _read_limited(response, self._deadline())
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise Unavailable(f"couldn't connect ({type(error).__name__})", maybe_done=False) from error
        except httpx.TimeoutException as error:
            raise Unavailable(f"no answer in time ({type(error).__name__})") from error
        except _TooBig as error:  # staff read this: say what was wrong with the answer
            raise Unavailable(f"the server's {error}") from error
        except httpx.HTTPError as error:
            raise Unavailable(f"couldn't reach the server ({type(error).__name__})") from error
        if status == 429:
            raise Unavailable("the server answered 429 (too many requests)", maybe_done=False)
        if status >= 500:
            # A server error may come after the request was filed: the caller checks before repeating it.
            raise Unavailable(f"the server answered {status}")
        if status >= 400:
            raise Rejected(_error_description(status, body), status)
        if status >= 300:
            raise Unavailable(f"the server answered {status} (a redirect: check OPEN311_ENDPOINT)")
        try:
            return json.loads(body)
        except ValueError as error:
            raise Unavailable("the server's answer wasn't JSON") from error

    def _deadline(self) -> float:
        """When reading an answer must stop (monotonic seconds): the timeout applies to each read, so a server
        dripping a byte at a time would otherwise hold the worker (and its claim on a report) for ever."""
        timeout = self._http.timeout.read
        return time.monotonic() + 2 * (timeout if timeout is not None else 30.0)


class _TooBig(httpx.HTTPError):
    """The server's answer was longer than MAX_ANSWER_BYTES, or took longer than the deadline to arrive."""


def _read_limited(response: httpx.Response, deadline: float) -> bytes:
    """The answer's body, at most MAX_ANSWER_BYTES: a broken or hostile server's endless answer is never held
    in memory (the rest is not read)."""
    declared = response.headers.get("content-length") or ""
    if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        raise _TooBig(f"answer was too long ({declared} bytes)")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise _TooBig("answer was too long")
        if time.monotonic() > deadline:
            raise _TooBig("answer was too slow to arrive")
        chunks.append(chunk)
    return b"".join(chunks)


def _items(body: Any, *keys: str) -> list[dict[str, Any]]:
    """The list of objects in a GeoReport JSON answer: a bare list, or a list under one of `keys`."""
    if isinstance(body, dict):
        for key in keys:
            if isinstance(body.get(key), list):
                body = body[key]
                break
        else:
            return []
    return [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []


def _error_description(status: int, body: bytes) -> str:
    """The server's own words from a GeoReport error ([{"code": 400, "description": "..."}]), short."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    for item in _items(parsed, "errors"):
        if item.get("description"):
            return str(item["description"])[:300]
    text = body.decode("utf-8", errors="replace").strip()
    return text[:300] if text else f"the server answered {status}"


def _id(value: Any) -> str:
    """An id from the server as text that fits our columns (String(100)): a broken server's 5 MB id would
    make PostgreSQL refuse the whole transaction, on every poll. Cut the same way wherever ids are kept."""
    return str(value)[:MAX_ID]


def _words(value: Any) -> str:
    """The server's words for residents or staff (a status note), cut to a message's length."""
    return str(value or "")[:MAX_WORDS]
