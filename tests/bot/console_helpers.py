"""Shared by the staff console's tests: a real `python -m bot.console` process on a free loopback port
over a fresh SQLite database with one account per role, and an httpx client that signs in like a browser."""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import httpx
import pytest

from knowledge.catalogue.content import load
from knowledge.db import session_scope
from knowledge.migrations import upgrade
from knowledge.settings import CONTENT_DIR
from knowledge.staff import ADMIN, AGENT, EDITOR, create_user
from tests.conftest import free_port
from tests.servers import running_server

PASSWORD = "correct horse battery"
SESSION_COOKIE = "councilbot_session"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
SUMMARY_RE = re.compile(r'<div class="error-summary".*?</div>', re.S)
# Every account the tests sign in as; each test that changes an account has its own.
ACCOUNTS = {
    "admin": (ADMIN, "Ada Admin"),
    "agent": (AGENT, "Aggie Agent"),
    "editor": (EDITOR, "Eddie Editor"),
    "locked": (AGENT, "Lou Locked"),
    "leaver": (AGENT, "Lee Leaver"),
    "tricky": (AGENT, "<script>alert('x')</script> & <b>Bold</b>"),
}


@contextmanager
def running_console(db_url: str, log_path: Path, env: Optional[dict[str, str]] = None) -> Iterator[str]:
    """`python -m bot.console` on a free port over `db_url`; yields its base URL, stops it afterwards."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # These tests speak plain http to loopback, where a Secure cookie would never be sent back.
    child_env = {"CONSOLE_INSECURE_COOKIES": "1", "DATABASE_URL": db_url, **(env or {})}
    with running_server(
        [sys.executable, "-m", "bot.console", "--host", "127.0.0.1", "--port", str(port)],
        child_env,
        log_path,
        f"{base}/healthz",
        "console",
    ):
        yield base


def make_db(tmp: Path) -> str:
    """A migrated SQLite database holding ACCOUNTS, all with PASSWORD."""
    url = f"sqlite:///{tmp / 'console.db'}"
    upgrade(url)
    with session_scope(url) as session:
        for username, (role, name) in ACCOUNTS.items():
            create_user(session, username, name, role, PASSWORD)
    return url


class WebClient(httpx.Client):
    """An httpx client that may be used in a `with` block after its first request (httpx refuses)."""

    def __enter__(self) -> WebClient:
        return self


def client(base: str) -> WebClient:
    return WebClient(base_url=base, follow_redirects=False, timeout=10)


def csrf_in(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


def post_login(c: httpx.Client, username: str, password: str, **extra: str) -> httpx.Response:
    """Open the sign-in page (getting its CSRF cookie and field) and submit it."""
    token = csrf_in(c.get("/login").text)
    return c.post("/login", data={"csrf_token": token, "username": username, "password": password, **extra})


def signed_in(base: str, username: str) -> WebClient:
    c = client(base)
    resp = post_login(c, username, PASSWORD)
    assert resp.status_code == 303, resp.text
    return c


def page_csrf(c: httpx.Client, path: str = "/figures") -> str:
    return csrf_in(c.get(path).text)


def shown(resp: httpx.Response) -> str:
    """The page's HTML with entities decoded, to look for messages as people read them."""
    return html.unescape(resp.text)


def error_summary(page: str) -> str:
    match = SUMMARY_RE.search(page)
    assert match, "no error summary on the page"
    return match.group(0)


@contextmanager
def seeded_console(
    tmp_path_factory: pytest.TempPathFactory, name: str, env: Optional[dict[str, str]] = None
) -> Iterator[tuple[str, str]]:
    """(base URL, database URL) of a console over the shipped seed content and the test accounts."""
    tmp = tmp_path_factory.mktemp(name)
    db_url = make_db(tmp)
    with session_scope(db_url) as session:
        load(session, CONTENT_DIR)
    with running_console(db_url, tmp / "console.log", env=env) as base:
        yield base, db_url


def claimed_case(
    base: str, db_url: str, channel: str, user: str, hours_ago: float, account_id: str = "page-1"
) -> tuple[WebClient, str]:
    """A resident on `channel` (platform id `user`) who last wrote `hours_ago`, with an open case an agent
    has claimed: (the agent's signed-in client, the case reference). A comment channel's conversation
    answers under comment-1."""
    import datetime as dt

    from knowledge.casework import cases
    from knowledge.delivery.conversations import utcnow
    from knowledge.models import Conversation

    public = channel.endswith("_comment")
    conversation_id = f"{channel}:{user}"
    with session_scope(db_url) as session:
        session.add(
            Conversation(
                id=conversation_id,
                channel=channel,
                origin="public" if public else "private",
                platform_user_id=user,
                account_id=account_id,
                reply_to="comment-1" if public else None,
                last_inbound_at=utcnow() - dt.timedelta(hours=hours_ago),
            )
        )
        case, _ = cases.open_case(
            session,
            conversation_id,
            channel,
            "asked",
            [{"author": "resident", "text": "My bin was missed", "meta": {}}],
        )
        reference = case.reference
    agent = signed_in(base, "agent")
    token = csrf_in(agent.get(f"/cases/{reference}").text)
    assert agent.post(f"/cases/{reference}/claim", data={"csrf_token": token}).status_code == 303
    return agent, reference


def staff_reply(agent: WebClient, reference: str, text: str) -> str:
    """Send `text` from the case page's reply form, as an agent does; the notice staff are shown next."""
    from urllib.parse import unquote_plus

    page = agent.get(f"/cases/{reference}").text
    nonce = re.search(r'name="nonce" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    resp = agent.post(f"/cases/{reference}/reply", data={"csrf_token": csrf_in(page), "nonce": nonce, "text": text})
    assert resp.status_code == 303
    return unquote_plus(resp.headers["location"])
