"""The link checker against a real HTTP server on loopback: each outcome, redirects, the HEAD→GET
fallback, per-host politeness, and storing results in the knowledge base."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from typing import Optional

import pytest
from sqlalchemy import func, select, update

from knowledge.catalogue.links import (
    ERROR,
    GONE,
    OK,
    REDIRECT,
    TIMEOUT,
    Result,
    check_links,
    latest_results,
    run_check,
    same_page,
    user_agent,
)
from knowledge.db import session_scope
from knowledge.models import LinkCheck, Service
from tests.conftest import free_port

SLOW_SECONDS = 8.0  # /slow answers after this long: far longer than the tests' timeout
# Generous for a loopback server, because CI's two cores are busy with other tests: at 0.5 s an ordinary
# request behind a redirect was once reported as a timeout there.
TIMEOUT_SECONDS = 2.0
BUSY_SECONDS = 0.15  # /busy holds each request this long, so overlapping requests are visible

# path -> (status, Location) for both HEAD and GET
ROUTES: dict[str, tuple[int, Optional[str]]] = {
    "/ok": (200, None),
    "/moved": (301, "/new-home"),
    "/new-home": (200, None),
    "/dir": (301, "/dir/"),
    "/dir/": (200, None),
    "/chain1": (302, "/chain2"),
    "/chain2": (302, "/chain3"),
    "/chain3": (200, None),
    "/missing": (404, None),
    "/gone": (410, None),
    "/broken": (500, None),
    "/loop": (302, "/loop"),
    "/moved-away": (301, "/missing"),
}


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: list[tuple[str, str, float, str]] = []  # method, path, start time, User-Agent

    def reset(self) -> None:
        with self.lock:
            self.in_flight = self.max_in_flight = 0
            self.requests.clear()

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001 - the client gave up: expected
        pass


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        pass

    def _answer(self) -> None:
        srv = self.server
        with srv.lock:
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
            srv.requests.append((self.command, self.path, time.monotonic(), self.headers.get("User-Agent", "")))
        try:
            path = self.path.split("?")[0]
            if path == "/slow":
                time.sleep(SLOW_SECONDS)
                status, location = 200, None
            elif path == "/busy":
                time.sleep(BUSY_SECONDS)
                status, location = 200, None
            elif path == "/no-head":
                status, location = (405, None) if self.command == "HEAD" else (200, None)
            elif path == "/no-head-moved":
                status, location = (501, None) if self.command == "HEAD" else (301, "/new-home")
            else:
                status, location = ROUTES.get(path, (404, None))
        finally:
            # Done before the answer goes: once the client has it, it may send its next request at once,
            # and counting that one before this decrement would report three "at once" that never were.
            with srv.lock:
                srv.in_flight -= 1
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = _answer
    do_GET = _answer


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server(free_port())
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def base(server: Server) -> str:
    server.reset()
    return f"http://127.0.0.1:{server.server_address[1]}"


def check(urls: list[tuple[str, str]], **options: object) -> list[Result]:
    options = {"timeout": TIMEOUT_SECONDS, "host_delay": 0.0, **options}
    return asyncio.run(check_links(urls, **options))  # type: ignore[arg-type]


def test_each_outcome(base: str) -> None:
    paths = ["/ok", "/moved", "/dir", "/chain1", "/missing", "/gone", "/broken", "/slow", "/loop", "/moved-away"]
    results = {r.key: r for r in check([(p, base + p) for p in paths])}
    assert [r.key for r in check([(p, base + p) for p in paths[:3]])] == paths[:3]  # input order kept

    assert (results["/ok"].outcome, results["/ok"].status_code, results["/ok"].final_url) == (OK, 200, None)
    assert (results["/moved"].outcome, results["/moved"].final_url) == (REDIRECT, base + "/new-home")
    assert results["/moved"].status_code == 200
    assert (results["/dir"].outcome, results["/dir"].final_url) == (OK, None)  # only a trailing slash added
    assert (results["/chain1"].outcome, results["/chain1"].final_url) == (REDIRECT, base + "/chain3")
    assert (results["/missing"].outcome, results["/missing"].status_code) == (GONE, 404)
    assert (results["/gone"].outcome, results["/gone"].status_code) == (GONE, 410)
    assert (results["/broken"].outcome, results["/broken"].status_code) == (ERROR, 500)
    assert results["/broken"].detail == "HTTP 500 Internal Server Error"
    assert results["/slow"].outcome == TIMEOUT and results["/slow"].status_code is None
    assert results["/loop"].outcome == ERROR and "redirects" in (results["/loop"].detail or "")
    # A page that moved and then went: gone, and where it went is recorded.
    assert (results["/moved-away"].outcome, results["/moved-away"].final_url) == (GONE, base + "/missing")
    assert [r.is_problem for r in results.values()].count(False) == 2
    assert all(r.checked_at.tzinfo is None for r in results.values())


def test_head_refused_falls_back_to_get(base: str, server: Server) -> None:
    ok, moved = check([("a", base + "/no-head"), ("b", base + "/no-head-moved")])
    assert (ok.outcome, ok.status_code) == (OK, 200)
    assert (moved.outcome, moved.final_url) == (REDIRECT, base + "/new-home")
    seen = [(method, path) for method, path, _, _ in server.requests]
    assert ("HEAD", "/no-head") in seen and ("GET", "/no-head") in seen
    assert ("GET", "/no-head-moved") in seen
    assert ("HEAD", "/new-home") in seen and ("GET", "/new-home") not in seen  # HEAD first on every hop
    assert ("GET", "/ok") not in seen


def test_per_host_limit_is_never_exceeded(base: str, server: Server) -> None:
    urls = [(f"busy{i}", f"{base}/busy?i={i}") for i in range(10)]
    results = check(urls, concurrency=8, per_host=2)
    assert all(r.outcome == OK for r in results)
    assert server.max_in_flight == 2  # in parallel, but never more than two at once


def test_requests_to_one_host_are_spaced_and_say_who_is_asking(base: str, server: Server) -> None:
    agent = user_agent("Northshire Council", "https://www.northshire.gov.uk")
    check([(f"ok{i}", f"{base}/ok?i={i}") for i in range(4)], per_host=2, host_delay=0.2, user_agent=agent)
    starts = sorted(start for _, _, start, _ in server.requests)
    assert len(starts) == 4
    assert all(b - a >= 0.15 for a, b in pairwise(starts))  # 0.2 s, less network jitter
    assert {ua for _, _, _, ua in server.requests} == {agent}
    assert "Northshire Council" in agent and "northshire.gov.uk" in agent


def test_network_problems_are_errors_with_a_reason() -> None:
    refused, invalid, empty = check([("a", f"http://127.0.0.1:{free_port()}/"), ("b", "not a link"), ("c", "")])
    assert (refused.outcome, refused.detail) == (ERROR, "connection refused")
    assert (invalid.outcome, invalid.detail) == (ERROR, "not a valid web address")
    assert (empty.outcome, empty.detail) == (ERROR, "no web address")


def test_same_page_allows_only_slash_and_https_upgrade() -> None:
    assert same_page("http://www.example.gov.uk/bins", "https://www.example.gov.uk/bins/")
    assert same_page("https://www.example.gov.uk/bins/", "https://www.example.gov.uk/bins")
    assert same_page("https://WWW.example.gov.uk/bins", "https://www.example.gov.uk/bins")
    assert not same_page("https://www.example.gov.uk/bins", "http://www.example.gov.uk/bins")  # downgrade
    assert not same_page("https://www.example.gov.uk/bins", "https://example.gov.uk/bins")
    assert not same_page("https://www.example.gov.uk/bins", "https://www.example.gov.uk/waste")
    assert not same_page("https://www.example.gov.uk/bins?a=1", "https://www.example.gov.uk/bins?a=2")


def add_service(session, key: str, url: str, active: bool = True) -> None:  # noqa: ANN001
    session.add(
        Service(
            key=key,
            title=key.title(),
            url=url,
            summary="Test",
            phone="0300 123 4567",
            category="test",
            owner="Test team",
            review_by=dt.date(2099, 1, 1),
            active=active,
        )
    )


def test_run_check_stores_a_row_per_service_and_latest_results_are_the_newest(kb_url: str, base: str) -> None:
    with session_scope(kb_url) as session:
        session.execute(update(Service).values(active=False))  # the seed's links point at the real site
        add_service(session, "t.ok", base + "/ok")
        add_service(session, "t.moved", base + "/moved")
        add_service(session, "t.gone", base + "/gone")
        add_service(session, "t.retired", base + "/ok", active=False)

    first = run_check(kb_url, timeout=TIMEOUT_SECONDS, host_delay=0.0, extra=[("extra", base + "/broken")])
    assert [(r.key, r.outcome) for r in first] == [
        ("t.gone", GONE),
        ("t.moved", REDIRECT),
        ("t.ok", OK),
        ("extra", ERROR),
    ]
    with session_scope(kb_url) as session:
        rows = session.execute(select(LinkCheck).order_by(LinkCheck.service_key)).scalars().all()
        assert [(r.service_key, r.outcome, r.status_code, r.final_url) for r in rows] == [
            ("t.gone", GONE, 410, None),
            ("t.moved", REDIRECT, 200, base + "/new-home"),
            ("t.ok", OK, 200, None),
        ]
        assert rows[0].detail == "HTTP 410 Gone"
        # The page at t.moved is fixed and t.ok breaks; an old check of the retired service is about.
        session.execute(update(Service).where(Service.key == "t.moved").values(url=base + "/new-home"))
        session.execute(update(Service).where(Service.key == "t.ok").values(url=base + "/missing"))
        session.add(LinkCheck(service_key="t.retired", url=base + "/ok", outcome=OK))

    run_check(kb_url, timeout=TIMEOUT_SECONDS, host_delay=0.0)
    with session_scope(kb_url) as session:
        assert session.execute(select(func.count()).select_from(LinkCheck)).scalar_one() == 7  # history kept
        latest = latest_results(session)
        assert [(r.service_key, r.outcome) for r in latest] == [("t.gone", GONE), ("t.moved", OK), ("t.ok", GONE)]
        newest_ids = session.execute(select(func.max(LinkCheck.id)).group_by(LinkCheck.service_key)).scalars().all()
        assert {r.id for r in latest} <= set(newest_ids)
        assert "t.retired" in {r.service_key for r in latest_results(session, include_inactive=True)}
