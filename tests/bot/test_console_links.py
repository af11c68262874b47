"""The editors' links and review page over real HTTP: problems first, review due by owner, escaping, roles,
CSRF, "Check links now" and the scheduled check, against a local web server standing in for the council's
site."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from knowledge.db import session_scope
from knowledge.models import LinkCheck, Service
from tests.bot.console_helpers import client, csrf_in, make_db, running_console, shown, signed_in
from tests.conftest import free_port

TODAY = dt.date.today()


class Site(BaseHTTPRequestHandler):
    """The council's site: /gone is 404, everything else is fine."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        pass

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib's name
        self.send_response(404 if self.path == "/gone" else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Site)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def add_service(
    db_url: str, key: str, title: str, url: str, owner: str = "Waste team", review_by: dt.date = dt.date(2099, 1, 1)
) -> None:
    with session_scope(db_url) as session:
        session.add(
            Service(
                key=key,
                title=title,
                url=url,
                summary="x",
                phone="0300 123 4567",
                category="test",
                owner=owner,
                review_by=review_by,
            )
        )


def checks(db_url: str, key: str) -> list[LinkCheck]:
    with session_scope(db_url) as session:
        return list(session.execute(select(LinkCheck).where(LinkCheck.service_key == key)).scalars())


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, site: str) -> Iterator[tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("links")
    db_url = make_db(tmp)
    add_service(db_url, "bins.ok", "Aardvark bins", site + "/ok")
    add_service(db_url, "bins.gone", "Zebra collections", site + "/gone", review_by=TODAY - dt.timedelta(days=2))
    add_service(
        db_url, "bins.moved", "<b>Bold</b> bins", site + "/moved", owner="<i>Parks</i> & Waste", review_by=TODAY
    )
    add_service(db_url, "bins.new", "Middle service", site + "/ok")  # never checked
    with session_scope(db_url) as session:
        session.add_all(
            [
                LinkCheck(service_key="bins.ok", url=site + "/ok", outcome="ok", status_code=200),
                LinkCheck(service_key="bins.gone", url=site + "/gone", outcome="ok", status_code=200),  # older
                LinkCheck(
                    service_key="bins.gone",
                    url=site + "/gone",
                    outcome="gone",
                    status_code=404,
                    detail="HTTP 404 Not Found",
                ),
                LinkCheck(
                    service_key="bins.moved",
                    url=site + "/moved",
                    outcome="redirect",
                    status_code=200,
                    final_url="https://www.example.gov.uk/new-bins",
                ),
            ]
        )
    with running_console(db_url, tmp / "console.log", env={"LINK_CHECK_HOURS": "0"}) as base:
        yield base, db_url


def test_editor_sees_problems_first_and_reviews_due_by_owner(console: tuple[str, str]) -> None:
    base, _ = console
    resp = signed_in(base, "editor").get("/editor/links")
    assert resp.status_code == 200
    page = shown(resp)
    assert "<h1>Links and reviews</h1>" in page
    links, review = page.split('id="review"')
    # Gone, then moved, then fine, then never checked: whatever the titles' alphabetical order.
    order = [links.index(t) for t in ("Zebra collections", "<b>Bold</b> bins", "Aardvark bins", "Middle service")]
    assert order == sorted(order)
    assert '<a href="/editor/services/bins.gone">' in links
    assert "HTTP 404 Not Found" in links and "https://www.example.gov.uk/new-bins" in links
    assert "2 links need attention" in links and "Not checked yet" in links
    # Resident-facing text typed by editors is shown as text, never markup.
    assert "&lt;b&gt;Bold&lt;/b&gt; bins" in resp.text and "<b>Bold</b>" not in resp.text
    assert "&lt;i&gt;Parks&lt;/i&gt; &amp; Waste" in resp.text
    assert "<h3><i>Parks</i> & Waste</h3>" in review and "<h3>Waste team</h3>" in review
    assert "Zebra collections" in review and "Overdue" in review
    assert "Aardvark bins" not in review  # due in 2099


def test_agent_is_refused(console: tuple[str, str]) -> None:
    base, _ = console
    with signed_in(base, "agent") as c:
        assert c.get("/editor/links").status_code == 403
        token = csrf_in(c.get("/figures").text)
        assert c.post("/editor/links/check", data={"csrf_token": token}).status_code == 403


def test_check_now_needs_the_csrf_token_then_runs_in_the_background(console: tuple[str, str]) -> None:
    base, db_url = console
    with signed_in(base, "editor") as c:
        before = len(checks(db_url, "bins.new"))
        assert c.post("/editor/links/check", data={}).status_code == 403
        assert c.post("/editor/links/check", data={"csrf_token": "x" * 43}).status_code == 403
        assert len(checks(db_url, "bins.new")) == before == 0

        token = csrf_in(c.get("/editor/links").text)
        resp = c.post("/editor/links/check", data={"csrf_token": token})
        assert resp.status_code == 303 and resp.headers["location"].startswith("/editor/links?check=")
        assert "Reload this page" in shown(c.get(resp.headers["location"]))
        assert wait_for(lambda: len(checks(db_url, "bins.new")) == 1)
        assert wait_for(lambda: len(checks(db_url, "bins.moved")) == 2)  # all stored in one transaction
        page = shown(c.get("/editor/links"))
    assert "Middle service" in page and "Not checked yet" not in page
    latest_moved = max(checks(db_url, "bins.moved"), key=lambda r: r.id)
    assert latest_moved.outcome == "ok"  # the local site answers 200 at /moved


def test_scheduled_check_runs_after_the_first_delay(tmp_path: Path, site: str) -> None:
    db_url = make_db(tmp_path)
    add_service(db_url, "bins.gone", "Gone", site + "/gone")
    env = {"LINK_CHECK_HOURS": "24", "LINK_CHECK_FIRST_DELAY_SECONDS": "0.5", "LINK_CHECK_TIMEOUT_SECONDS": "5"}
    with running_console(db_url, tmp_path / "console.log", env=env) as base:
        assert wait_for(lambda: len(checks(db_url, "bins.gone")) == 1)
        assert checks(db_url, "bins.gone")[0].outcome == "gone"
        time.sleep(1)
        assert len(checks(db_url, "bins.gone")) == 1  # once, then not again for a day
        assert client(base).get("/healthz").status_code == 200
    assert "link check failed" not in (tmp_path / "console.log").read_text()
