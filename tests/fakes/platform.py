"""A fake Meta and X on loopback: real HTTP both ways.

It plays the platform's API (records every call our bot makes to the Graph or X API and answers like the
platform, or with errors on request) and the platform's webhook sender (signs bodies the way Meta and X
do and posts them to our bot).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

import httpx


# The platforms' signing, written here from their documentation rather than imported from the bot, so a
# mistake in the bot's own signing can't make both sides agree.
def meta_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def x_signature(secret: str, body: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Call:
    """One request our bot made to the platform's API."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)
    status: int = 0  # what the fake answered (0 until it has)
    peer: tuple[str, int] = ("", 0)  # the bot's end of the TCP connection: one value per connection


class FakePlatform:
    """Start with `with FakePlatform() as fake:`; point META_GRAPH_URL / X_API_URL at `fake.url`."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._failures: list[tuple[int, dict[str, str]]] = []
        self._failing_until = 0.0
        self._failing_status = 500
        self._stalls: list[Optional[float]] = []
        self._released = threading.Event()
        self.delay = 0.0
        self._ids = count(1)
        self._lock = threading.Condition()
        self._init_templates()

        self.x_timeline = FakeXTimeline()  # X polling: see the block at the end of this file
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                status, payload, headers = fake._answer(
                    self.command, self.path, dict(self.headers), body, tuple(self.client_address[:2])
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakePlatform:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- the platform's API ----------------------------------------------------------------------------------
    def fail_next(self, status: int, times: int = 1, retry_after: Optional[str] = None) -> None:
        """Answer the next `times` API calls with `status` (e.g. 429, 500) before behaving again."""
        headers = {"Retry-After": retry_after} if retry_after else {}
        with self._lock:
            self._failures.extend([(status, headers)] * times)

    def fail_for(self, seconds: float, status: int = 500) -> None:
        """Answer every API call with `status` for the next `seconds` (a platform's bad minute)."""
        with self._lock:
            self._failing_status = status
            self._failing_until = time.monotonic() + seconds

    def stall_next(self, times: int = 1, seconds: Optional[float] = None) -> None:
        """Record the next `times` API calls, then hang before answering them: for `seconds`, or until
        `release()` (a platform that took the request and went quiet)."""
        with self._lock:
            self._released.clear()
            self._stalls.extend([seconds] * times)

    def release(self) -> None:
        """Let stalled calls answer."""
        self._released.set()

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: Any, peer: tuple[str, int] = ("", 0)
    ) -> tuple[int, Any, dict]:
        if self.delay:
            time.sleep(self.delay)
        call = Call(method, path, headers, body, peer=peer)
        with self._lock:
            self.calls.append(call)
            self._lock.notify_all()
            failure = self._failures.pop(0) if self._failures else None
            if failure is None and time.monotonic() < self._failing_until:
                failure = (self._failing_status, {})
            stall = self._stalls.pop(0) if self._stalls else False
        if stall is not False:
            if stall is None:
                self._released.wait(timeout=300)
            else:
                time.sleep(stall)
        if failure:
            status, extra = failure
            call.status = status
            return status, {"error": {"message": "fake failure", "code": status}}, extra
        refusal = self._template_refusal(body)
        if refusal is not None:
            call.status = refusal[0]
            return refusal[0], refusal[1], {}
        call.status = 200
        n = next(self._ids)
        polled = self.x_timeline.answer(method, path, body)  # X polling: see the block at the end of this file
        if polled is not None:
            call.status = polled[0]
            return polled
        if path.startswith("/2/tweets"):
            return 201, {"data": {"id": f"tw{n}", "text": (body or {}).get("text", "")}}, {}
        if path.startswith("/2/dm_conversations"):
            return 201, {"data": {"dm_conversation_id": f"c{n}", "dm_event_id": f"dm{n}"}}, {}
        if isinstance(body, dict) and body.get("messaging_product") == "whatsapp":
            return 200, {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.{n}"}]}, {}
        if path.rstrip("/").endswith("/messages"):
            return 200, {"recipient_id": "r", "message_id": f"m_{n}"}, {}
        return 200, {"id": f"c_{n}"}, {}

    # --- WhatsApp templates (issue 12) ----------------------------------------------------------------------------
    # The WhatsApp Business Account's approved templates, and Meta's refusals: a template name/language that
    # isn't approved gets 400 with Graph error 132001, as the Cloud API answers; `refuse_templates` makes
    # every template call fail with a given code (131047 re-engagement, 132015 paused...).
    def _init_templates(self) -> None:
        self.approved_templates: set[tuple[str, str]] = set()
        self._template_refusal_code: Optional[int] = None

    def approve_template(self, name: str, language: str) -> None:
        """The council got template `name` approved in `language`: calls naming it are accepted."""
        with self._lock:
            self.approved_templates.add((name, language))

    def refuse_templates(self, code: Optional[int]) -> None:
        """Refuse every template call with Graph error `code` (None: judge by the approved list again)."""
        with self._lock:
            self._template_refusal_code = code

    def _template_refusal(self, body: Any) -> Optional[tuple[int, dict[str, Any]]]:
        if not (isinstance(body, dict) and body.get("messaging_product") == "whatsapp"):
            return None
        if body.get("type") != "template":
            return None
        template = body.get("template") or {}
        name, language = template.get("name"), (template.get("language") or {}).get("code")
        with self._lock:
            code = self._template_refusal_code
            if code is None and (name, language) not in self.approved_templates:
                code = 132001
        if code is None:
            return None
        message = {
            132001: "(#132001) Template name does not exist in the translation",
            131047: "(#131047) Re-engagement message",
        }.get(code, f"(#{code}) Template refused")
        error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Afake"}
        return 400, {"error": error}

    def templates_sent(self) -> list[Call]:
        """The template calls the platform accepted."""
        return [
            c
            for c in list(self.calls)
            if c.status == 200 and isinstance(c.body, dict) and c.body.get("type") == "template"
        ]

    # --- (end of the WhatsApp templates block) -------------------------------------------------------------------

    def wait_for(self, n: int, timeout: float = 30.0) -> list[Call]:
        """Wait until at least `n` API calls have arrived; returns all calls so far."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.calls) < n and time.monotonic() < deadline:
                self._lock.wait(timeout=0.2)
            return list(self.calls)

    def settle(self, at_least: int = 0, quiet: float = 1.5, timeout: float = 60.0) -> list[Call]:
        """Wait for `at_least` calls, then until none has arrived for `quiet` seconds: for checking that
        nothing more comes."""
        self.wait_for(at_least, timeout)
        deadline = time.monotonic() + timeout
        seen = -1
        while time.monotonic() < deadline:
            with self._lock:
                now_count = len(self.calls)
            if now_count == seen:
                break
            seen = now_count
            time.sleep(quiet)
        return list(self.calls)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._failures.clear()
            self._stalls.clear()
            self._failing_until = 0.0
            self._template_refusal_code = None
        self._released.set()
        self.delay = 0.0


# --- the platform's webhook sender ----------------------------------------------------------------------------
def body_of(payload: Any) -> bytes:
    """The body as Meta and X send it: compact JSON, non-ASCII escaped."""
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def _post_signed(
    url: str, header: str, sign: Any, payload: Any, body: Optional[bytes], signature: Optional[str], signed: bool
) -> httpx.Response:
    data = body if body is not None else body_of(payload)
    headers = {"Content-Type": "application/json"}
    if signed:
        headers[header] = signature or sign(data)
    return httpx.post(url, content=data, headers=headers, timeout=30)


def send_meta(
    url: str,
    secret: str,
    payload: Any = None,
    body: Optional[bytes] = None,
    signature: Optional[str] = None,
    sign: bool = True,
) -> httpx.Response:
    """POST a webhook as Meta does, signed with X-Hub-Signature-256 over the exact bytes sent."""
    return _post_signed(
        url, "X-Hub-Signature-256", lambda data: meta_signature(secret, data), payload, body, signature, sign
    )


def send_x(
    url: str,
    secret: str,
    payload: Any = None,
    body: Optional[bytes] = None,
    signature: Optional[str] = None,
    sign: bool = True,
) -> httpx.Response:
    """POST an Account Activity event as X does, signed with X-Twitter-Webhooks-Signature."""
    return _post_signed(
        url, "X-Twitter-Webhooks-Signature", lambda data: x_signature(secret, data), payload, body, signature, sign
    )


def x_crc(url: str, token: str) -> httpx.Response:
    """X's CRC check: GET with a crc_token."""
    return httpx.get(url, params={"crc_token": token}, timeout=5)


def expected_crc(secret: str, token: str) -> str:
    """What X expects back from a CRC check."""
    return x_signature(secret, token.encode())


# --- X polling (issue 12, item 5): the timelines the bot reads in X_MODE=polling ------------------------------
# The shapes follow X API v2 (docs.x.com: GET /2/users/me, GET /2/users/:id/mentions, GET /2/dm_events):
# newest first, `max_results` a page, `pagination_token` for the next (older) page, `since_id` and
# `until_id` on mentions only.
X_ACCOUNT_ID = "900000000000000001"  # the council's X account in the fake


class FakeXTimeline:
    """The council account's mentions and DM events as X would list them. Tests add residents' posts and
    DMs; the bot's own DMs (its replies) are added when it sends them, as X lists both sides."""

    def __init__(self, account_id: str = X_ACCOUNT_ID) -> None:
        self.account_id = account_id
        self.mentions: list[dict[str, Any]] = []
        self.dm_events: list[dict[str, Any]] = []
        self.media: dict[str, dict[str, Any]] = {}
        self._ids = count(1_800_000_000_000_000_000)  # snowflake-sized, increasing like X's
        self._lock = threading.Lock()

    def _id(self) -> str:
        return str(next(self._ids))

    @staticmethod
    def _now() -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())

    def _media(self, kinds: list[str]) -> list[str]:
        keys = []
        for kind in kinds:
            key = f"3_{self._id()}"
            item: dict[str, Any] = {"media_key": key, "type": kind}
            if kind == "photo":
                item["url"] = f"https://pbs.twimg.com/media/{key}.jpg"
            else:
                item["preview_image_url"] = f"https://pbs.twimg.com/ext_tw_video_thumb/{key}.jpg"
            self.media[key] = item
            keys.append(key)
        return keys

    def mention(self, author: str, text: str, media: Optional[list[str]] = None, retweet: bool = False) -> str:
        """A post mentioning the council by `author`; `media` kinds (photo, video) attached. Returns its id."""
        with self._lock:
            post: dict[str, Any] = {
                "id": self._id(),
                "text": text,
                "author_id": author,
                "created_at": self._now(),
                "edit_history_tweet_ids": [],
            }
            if media:
                post["attachments"] = {"media_keys": self._media(media)}
                post["text"] += " https://t.co/AbCdEf1234"
            if retweet:
                post["referenced_tweets"] = [{"type": "retweeted", "id": "1"}]
            post["edit_history_tweet_ids"] = [post["id"]]
            self.mentions.append(post)
            return str(post["id"])

    def dm(self, sender: str, text: str, media: Optional[list[str]] = None) -> str:
        """A one-to-one DM between `sender` and the council (the council's own when sender is its id)."""
        with self._lock:
            return self._dm(sender, text, media)

    def _dm(self, sender: str, text: str, media: Optional[list[str]] = None, other: Optional[str] = None) -> str:
        peer = other or sender
        low, high = sorted([peer, self.account_id], key=lambda v: (len(v), v))  # numeric order for ids
        event: dict[str, Any] = {
            "id": self._id(),
            "event_type": "MessageCreate",
            "text": text,
            "sender_id": sender,
            "dm_conversation_id": f"{low}-{high}",
            "created_at": self._now(),
        }
        if media:
            event["attachments"] = {"media_keys": self._media(media)}
            event["text"] += " https://t.co/ZyXwVu9876"
        self.dm_events.append(event)
        return str(event["id"])

    def answer(self, method: str, path: str, body: Any) -> Optional[tuple[int, Any, dict]]:
        """The fake's answer to a timeline call, or None for calls this block doesn't play."""
        parts = urlsplit(path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        route = parts.path.rstrip("/")
        with self._lock:
            if method == "POST" and route.startswith("/2/dm_conversations/with/") and route.endswith("/messages"):
                # The bot's reply: X lists it among the DM events, sent by the council.
                resident = route.split("/")[4]
                self._dm(self.account_id, str((body or {}).get("text", "")), other=resident)
                return None
            if method != "GET":
                return None
            if route == "/2/users/me":
                return 200, {"data": {"id": self.account_id, "name": "Northshire", "username": "NorthshireCC"}}, {}
            if route == f"/2/users/{self.account_id}/mentions":
                since = int(query.get("since_id") or 0)
                until = int(query.get("until_id") or 0)  # X: only posts older than until_id
                items = [m for m in self.mentions if int(m["id"]) > since and (not until or int(m["id"]) < until)]
                return 200, self._page(items, query, mentions=True), {}
            if route == "/2/dm_events":
                items = [e for e in self.dm_events if e["event_type"] in query.get("event_types", "MessageCreate")]
                return 200, self._page(items, query, mentions=False), {}
        return None

    def _page(self, items: list[dict[str, Any]], query: dict[str, str], mentions: bool) -> dict[str, Any]:
        newest_first = sorted(items, key=lambda i: int(i["id"]), reverse=True)
        size = int(query.get("max_results") or (10 if mentions else 100))
        start = int(query.get("pagination_token") or 0)
        page = newest_first[start : start + size]
        if not page:
            return {"meta": {"result_count": 0}}
        meta: dict[str, Any] = {"result_count": len(page)}
        if mentions:
            meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
        if start + size < len(newest_first):
            meta["next_token"] = str(start + size)
        result: dict[str, Any] = {"data": page, "meta": meta}
        keys = [k for item in page for k in (item.get("attachments") or {}).get("media_keys", [])]
        if keys:
            result["includes"] = {"media": [self.media[k] for k in keys]}
        return result


def x_rate_limit_next(fake: FakePlatform, reset_epoch: int, times: int = 1) -> None:
    """Answer the next `times` API calls with X's 429, saying when the limit resets (x-rate-limit-reset,
    epoch seconds, as X sends it)."""
    headers = {"x-rate-limit-limit": "300", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset_epoch)}
    with fake._lock:
        fake._failures.extend([(429, headers)] * times)
