"""A fake Open311 GeoReport v2 back office on loopback: real HTTP, JSON, with mySociety's
servicerequestupdates extension.

It records every POST, keeps the requests it filed (ids 1001, 1002…) and answers `services.json`,
`requests.json` (by id, or by service code and a date window) and `servicerequestupdates.json`. Tests can
make it misbehave: `down()` (connection refused until `up()`), `fail(status, times)` (500, 429…),
`reject(description)` (400 with an Open311 error body), `lose_next_answer()` (files the request, then
closes the connection without answering), `delay` (seconds before every answer), `updates_supported =
False` (404 for the extension, like a plain GeoReport server).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit


@dataclass
class Post:
    """One POST requests.json our client made: the form fields (one value each), as the server read them."""

    form: dict[str, str]
    answered: int = 0  # the status the fake answered with (0: it closed the connection without answering)


@dataclass
class Filed:
    """A request the fake back office holds."""

    service_request_id: str
    service_code: str
    description: str
    status: str = "open"
    requested: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 1, 1))
    updated: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 1, 1))
    status_notes: str = ""


def _time(value: dt.datetime) -> str:
    return value.replace(microsecond=0).isoformat() + "Z"


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC).replace(tzinfo=None)


class FakeOpen311:
    """Start with `with FakeOpen311() as fake:`; the endpoint is `fake.url` (ends with /)."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.gets: list[str] = []  # paths with query strings, in order
        self.requests: dict[str, Filed] = {}
        self.updates: list[dict[str, Any]] = []
        self.updates_supported = True
        self.delay = 0.0
        self.now: Optional[dt.datetime] = None  # the back office's clock (None: real UTC)
        self.services = [
            {"service_code": "PH", "service_name": "Pothole", "metadata": False, "type": "realtime"},
            {"service_code": "SL", "service_name": "Street light", "metadata": False, "type": "realtime"},
        ]
        self._ids = count(1001)
        self._update_ids = count(1)
        self._failures: list[int] = []
        self._rejection: Optional[str] = None
        self._lose_next = False
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._connections: set[socket.socket] = set()
        self._thread: Optional[threading.Thread] = None
        self.port = 0

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def __enter__(self) -> FakeOpen311:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/open311/v2/"

    def up(self) -> None:
        """Listen (again, on the same port after `down()`)."""
        fake = self

        class Handler(_Handler):
            owner = fake

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stop listening: connections are refused until `up()`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # Kept-alive connections would go on being served: a server that is down answers nothing.
        with self._lock:
            open_connections, self._connections = list(self._connections), set()
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    # --- misbehaviour ------------------------------------------------------------------------------------------

    def fail(self, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` requests with `status` (and do nothing)."""
        with self._lock:
            self._failures.extend([status] * times)

    def reject(self, description: Optional[str]) -> None:
        """Refuse every POST with 400 and this description (None: accept again)."""
        self._rejection = description

    def lose_next_answer(self) -> None:
        """File the next POST, then close the connection without answering (an answer lost on the way)."""
        self._lose_next = True

    # --- the back office's side ------------------------------------------------------------------------------

    def clock(self) -> dt.datetime:
        return self.now or dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def add_update(self, request_id: str, status: str, description: str = "", at: Optional[dt.datetime] = None) -> str:
        """A status change made in the back office (served by servicerequestupdates; `requests` too)."""
        when = at or self.clock()
        with self._lock:
            update_id = f"u{next(self._update_ids)}"
            self.updates.append(
                {
                    "update_id": update_id,
                    "service_request_id": request_id,
                    "status": status,
                    "updated_datetime": _time(when),
                    "description": description,
                }
            )
            filed = self.requests[request_id]
            filed.status, filed.updated, filed.status_notes = status, when, description
        return update_id

    def _file(self, form: dict[str, str]) -> Filed:
        with self._lock:
            request_id = str(next(self._ids))
            now = self.clock()
            filed = Filed(request_id, form.get("service_code", ""), form.get("description", ""), "open", now, now)
            self.requests[request_id] = filed
        return filed


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOpen311
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet test output
        pass

    def setup(self) -> None:
        super().setup()
        with self.owner._lock:
            self.owner._connections.add(self.connection)

    def finish(self) -> None:
        with self.owner._lock:
            self.owner._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _failure(self) -> Optional[int]:
        fake = self.owner
        if fake.delay:
            time.sleep(fake.delay)
        with fake._lock:
            return fake._failures.pop(0) if fake._failures else None

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        fake = self.owner
        fake.gets.append(self.path)
        failure = self._failure()
        if failure:
            self._send(failure, [{"code": failure, "description": "Server trouble"}])
            return
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        name = parts.path.rsplit("/", 1)[-1]
        if name == "services.json":
            self._send(200, fake.services)
        elif name == "requests.json":
            self._send(200, self._requests(query))
        elif name == "servicerequestupdates.json" and fake.updates_supported:
            start = _parse(query["start_date"]) if "start_date" in query else dt.datetime.min
            end = _parse(query["end_date"]) if "end_date" in query else dt.datetime.max
            found = [u for u in fake.updates if start <= _parse(u["updated_datetime"]) <= end]
            self._send(200, {"service_requests_updates": found})
        else:
            self._send(404, [{"code": 404, "description": "Not found"}])

    def _requests(self, query: dict[str, str]) -> list[dict[str, Any]]:
        fake = self.owner
        with fake._lock:
            rows = list(fake.requests.values())
        if "service_request_id" in query:
            wanted = set(query["service_request_id"].split(","))
            rows = [r for r in rows if r.service_request_id in wanted]
        if "service_code" in query:
            rows = [r for r in rows if r.service_code == query["service_code"]]
        if "start_date" in query:
            rows = [r for r in rows if r.requested >= _parse(query["start_date"])]
        if "end_date" in query:
            rows = [r for r in rows if r.requested <= _parse(query["end_date"])]
        return [
            {
                "service_request_id": r.service_request_id,
                "status": r.status,
                "status_notes": r.status_notes,
                "service_code": r.service_code,
                "description": r.description,
                "requested_datetime": _time(r.requested),
                "updated_datetime": _time(r.updated),
            }
            for r in rows
        ]

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        fake = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        post = Post(form)
        fake.posts.append(post)
        failure = self._failure()
        if failure:
            post.answered = failure
            self._send(failure, [{"code": failure, "description": "Server trouble"}])
            return
        if not urlsplit(self.path).path.endswith("/requests.json"):
            post.answered = 404
            self._send(404, [{"code": 404, "description": "Not found"}])
            return
        if fake._rejection is not None:
            post.answered = 400
            self._send(400, [{"code": 400, "description": fake._rejection}])
            return
        filed = fake._file(form)
        if fake._lose_next:
            fake._lose_next = False
            self.close_connection = True
            self.connection.shutdown(2)  # filed, but the answer never leaves
            return
        post.answered = 200
        self._send(200, [{"service_request_id": filed.service_request_id, "service_notice": ""}])
