"""The staff console's sign-in, sessions, roles, CSRF and headers, over real HTTP.

`python -m bot.console` runs as a separate process on a free loopback port over a fresh migrated SQLite
database, as in production; the tests talk to it with httpx and look in the database directly.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.console.throttle import ADDRESS_MAX_FAILURES
from knowledge.db import session_scope
from knowledge.models import StaffUser
from knowledge.staff import ADMIN, AGENT, MAX_FAILED_LOGINS, create_user
from tests.bot.console_helpers import (
    ACCOUNTS,
    PASSWORD,
    SESSION_COOKIE,
    client,
    csrf_in,
    error_summary,
    make_db,
    page_csrf,
    post_login,
    running_console,
    shown,
    signed_in,
)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(base URL, database URL, log file) of one console shared by this module's tests."""
    tmp = tmp_path_factory.mktemp("console")
    db_url = make_db(tmp)
    # One trusted proxy, so tests can sign in "from" different networks with X-Forwarded-For.
    with running_console(db_url, tmp / "console.log", env={"CONSOLE_TRUSTED_PROXIES": "1"}) as base:
        yield base, db_url, tmp / "console.log"


@pytest.fixture
def base(console: tuple[str, str, Path]) -> str:
    return console[0]


@pytest.fixture
def db_url(console: tuple[str, str, Path]) -> str:
    return console[1]


# --- Signing in --------------------------------------------------------------------------------------------


def test_anonymous_pages_redirect_to_sign_in_and_api_gets_401(base: str) -> None:
    with client(base) as c:
        home = c.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/login"
        users = c.get("/admin/users")
        assert users.status_code == 303 and users.headers["location"] == "/login?next=%2Fadmin%2Fusers"
        api = c.get("/api/cases")
        assert api.status_code == 401 and api.json() == {"error": "Sign in first."}
        assert c.get("/login").status_code == 200


def test_signing_in_sets_a_strict_httponly_session_cookie(base: str) -> None:
    with client(base) as c:
        resp = post_login(c, "admin", PASSWORD)
        assert resp.status_code == 303 and resp.headers["location"] == "/"
        cookie = next(v for v in resp.headers.get_list("set-cookie") if v.startswith(f"{SESSION_COOKIE}="))
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/"} <= attributes
        assert "secure" not in attributes  # CONSOLE_INSECURE_COOKIES=1 in these plain-http tests
        home = c.get("/")
        assert home.status_code == 200 and "<h1>Cases</h1>" in home.text
        assert "Ada Admin" in home.text


def test_next_page_is_honoured_but_never_another_site(base: str) -> None:
    with client(base) as c:
        assert post_login(c, "admin", PASSWORD, next="/admin/users").headers["location"] == "/admin/users"
    with client(base) as c:
        assert post_login(c, "admin", PASSWORD, next="//evil.example/").headers["location"] == "/"


def test_sign_in_without_the_forms_csrf_token_is_refused(base: str) -> None:
    with client(base) as c:
        c.get("/login")  # has the cookie, but the form field is missing or wrong
        for data in ({}, {"csrf_token": "x" * 43}):
            resp = c.post("/login", data={"username": "admin", "password": PASSWORD, **data})
            assert resp.status_code == 403
            assert SESSION_COOKIE not in resp.headers.get("set-cookie", "")
    with client(base) as fresh:  # a token copied from someone else's form, without their cookie
        with client(base) as other:
            token = csrf_in(other.get("/login").text)
        resp = fresh.post("/login", data={"csrf_token": token, "username": "admin", "password": PASSWORD})
        assert resp.status_code == 403
        assert "sign-in form has expired" in resp.text


def test_wrong_password_and_unknown_user_look_the_same(base: str) -> None:
    with client(base) as c:
        wrong = post_login(c, "agent", "not the password")
        unknown = post_login(c, "nobody-here", "not the password")
    assert wrong.status_code == unknown.status_code == 200
    assert error_summary(wrong.text) == error_summary(unknown.text)
    assert "couldn't sign you in" in html.unescape(error_summary(wrong.text))
    for resp in (wrong, unknown):
        assert SESSION_COOKIE not in resp.headers.get("set-cookie", "")
        assert "not the password" not in resp.text  # the password is never sent back


def test_empty_fields_are_named(base: str) -> None:
    with client(base) as c:
        resp = post_login(c, "", "")
    assert resp.status_code == 400
    assert "Enter your username." in resp.text and "Enter your password." in resp.text


def _from(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def test_a_guessers_address_is_throttled_and_the_real_user_still_signs_in(base: str) -> None:
    attacker, real_user = _from("203.0.113.9"), _from("198.51.100.7")
    with client(base) as c:
        c.headers.update(attacker)
        for _ in range(ADDRESS_MAX_FAILURES):
            assert post_login(c, "locked", "wrong password!").status_code == 200
        # The guesser's address is now paused, whatever it sends: even the right password isn't checked.
        for username, password in (("locked", PASSWORD), ("agent", PASSWORD), ("nobody-here", "x" * 12)):
            throttled = post_login(c, username, password)
            assert throttled.status_code == 429 and SESSION_COOKIE not in throttled.headers.get("set-cookie", "")
            assert "too many failed sign-ins from your network" in shown(throttled)
    # The real member of staff, somewhere else, is not locked out of their account.
    with client(base) as c:
        c.headers.update(real_user)
        assert post_login(c, "locked", PASSWORD).status_code == 303


def test_x_forwarded_for_is_ignored_unless_proxies_are_trusted(tmp_path: Path) -> None:
    """Without CONSOLE_TRUSTED_PROXIES a guesser can't pick a fresh address for every try."""
    with running_console(make_db(tmp_path), tmp_path / "console.log") as base, client(base) as c:
        for n in range(ADDRESS_MAX_FAILURES):
            c.headers["X-Forwarded-For"] = f"192.0.2.{n}"
            assert post_login(c, "agent", "wrong password!").status_code == 200
        c.headers["X-Forwarded-For"] = "192.0.2.200"
        assert post_login(c, "agent", PASSWORD).status_code == 429


def test_many_guessing_addresses_lock_the_account_only_for_addresses_it_never_used(base: str, db_url: str) -> None:
    with session_scope(db_url) as session:
        create_user(session, "targeted", "Tara Targeted", AGENT, PASSWORD)
    with client(base) as c:  # the real user signs in from the office once
        c.headers.update(_from("198.51.100.20"))
        assert post_login(c, "targeted", PASSWORD).status_code == 303
    for n in range(MAX_FAILED_LOGINS):  # a botnet: a few guesses from each of many addresses
        with client(base) as c:
            c.headers.update(_from(f"203.0.113.{100 + n // 4}"))
            assert post_login(c, "targeted", f"guess number {n}").status_code == 200
    with session_scope(db_url) as session:
        assert session.execute(select(StaffUser).where(StaffUser.username == "targeted")).scalar_one().locked_until
    with client(base) as c:  # a new address, right password: still locked (and told only the usual message)
        c.headers.update(_from("203.0.113.250"))
        refused = post_login(c, "targeted", PASSWORD)
        assert refused.status_code == 200 and SESSION_COOKIE not in refused.headers.get("set-cookie", "")
        unknown = post_login(c, "nobody-here", PASSWORD)
        assert error_summary(refused.text) == error_summary(unknown.text)  # "locked" is not revealed
    with client(base) as c:  # the office: in
        c.headers.update(_from("198.51.100.20"))
        assert post_login(c, "targeted", PASSWORD).status_code == 303


def test_cookies_are_secure_unless_insecure_cookies_are_asked_for(tmp_path: Path) -> None:
    with (
        running_console(make_db(tmp_path), tmp_path / "console.log", env={"CONSOLE_INSECURE_COOKIES": ""}) as base,
        client(base) as c,
    ):
        page = c.get("/login")
        assert "secure" in {part.strip().lower() for part in page.headers["set-cookie"].split(";")[1:]}
        assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
        # httpx (like a browser) won't send a Secure cookie back over plain http, so signing in here fails
        # safe: the session token never travels in clear.
        resp = c.post(
            "/login",
            data={"csrf_token": csrf_in(page.text), "username": "admin", "password": PASSWORD},
            headers={"Cookie": f"councilbot_login_csrf={page.cookies.get('councilbot_login_csrf')}"},
        )
        assert resp.status_code == 303
        cookie = next(v for v in resp.headers.get_list("set-cookie") if v.startswith(f"{SESSION_COOKIE}="))
        assert "secure" in {part.strip().lower() for part in cookie.split(";")[1:]}


# --- Roles -------------------------------------------------------------------------------------------------


def test_agent_cannot_open_users_or_content_and_sees_no_link_to_them(base: str) -> None:
    with signed_in(base, "agent") as c:
        home = c.get("/")
        assert home.status_code == 200
        assert 'href="/admin/users"' not in home.text and 'href="/editor"' not in home.text
        assert 'href="/figures"' in home.text
        for path in ("/admin/users", "/editor"):
            resp = c.get(path)
            assert resp.status_code == 403, path
            assert "doesn't include this page" in shown(resp)
        token = page_csrf(c)
        resp = c.post(
            "/admin/users",
            data={"csrf_token": token, "username": "sneaky", "display_name": "S", "role": ADMIN, "password": PASSWORD},
        )
        assert resp.status_code == 403
        assert c.get("/figures").status_code == 200


def test_editor_cannot_open_cases_and_lands_on_content(base: str) -> None:
    with client(base) as c:
        assert post_login(c, "editor", PASSWORD).headers["location"] == "/editor"
        assert c.get("/").status_code == 403
        assert c.get("/admin/users").status_code == 403
        editor = c.get("/editor")
        assert editor.status_code == 200 and '<a href="/">' not in editor.text


def test_admin_sees_every_area(base: str) -> None:
    with signed_in(base, "admin") as c:
        home = c.get("/").text
        for label, href in (("Cases", "/"), ("Figures", "/figures"), ("Content", "/editor"), ("Users", "/admin/users")):
            assert f'<a href="{href}"' in home and f">{label}</a>" in home
        for path in ("/", "/figures", "/editor", "/admin/users"):
            assert c.get(path).status_code == 200, path


# --- Managing accounts ---------------------------------------------------------------------------------------


def test_admin_creates_a_user_through_the_page(base: str, db_url: str) -> None:
    with signed_in(base, "admin") as c:
        token = page_csrf(c, "/admin/users")
        resp = c.post(
            "/admin/users",
            data={
                "csrf_token": token,
                "username": "New.Starter",
                "display_name": "Nia Starter",
                "role": AGENT,
                "password": "a long enough passphrase",
            },
        )
        assert resp.status_code == 303 and resp.headers["location"].startswith("/admin/users?created=")
        listing = c.get(resp.headers["location"]).text
        assert "Account created for Nia Starter (new.starter)." in listing
    with client(base) as newcomer:
        assert post_login(newcomer, "new.starter", "a long enough passphrase").status_code == 303


def test_creating_a_user_without_csrf_is_refused(base: str, db_url: str) -> None:
    with signed_in(base, "admin") as c:
        form = {"username": "no.token", "display_name": "No Token", "role": AGENT, "password": PASSWORD}
        assert c.post("/admin/users", data=form).status_code == 403
        assert c.post("/admin/users", data={**form, "csrf_token": "forged"}).status_code == 403
        assert c.post("/admin/users", data=form, headers={"X-CSRF-Token": "forged"}).status_code == 403
        with signed_in(base, "admin") as other:  # another session's token is not this session's
            foreign = page_csrf(other)
        assert c.post("/admin/users", data={**form, "csrf_token": foreign}).status_code == 403
    with session_scope(db_url) as session:
        assert session.execute(select(StaffUser).where(StaffUser.username == "no.token")).first() is None


def test_problems_creating_a_user_are_shown_beside_the_field(base: str) -> None:
    with signed_in(base, "admin") as c:
        token = page_csrf(c, "/admin/users")
        resp = c.post(
            "/admin/users",
            data={
                "csrf_token": token,
                "username": "shorty",
                "display_name": "Sho Rty",
                "role": AGENT,
                "password": "tooshort",
            },
        )
        assert resp.status_code == 400
        assert "There is a problem" in resp.text and "Password must be at least 12 characters." in resp.text
        assert 'value="shorty"' in resp.text and "tooshort" not in resp.text
        taken = c.post(
            "/admin/users",
            data={"csrf_token": token, "username": "agent", "display_name": "Dup", "role": AGENT, "password": PASSWORD},
        )
        assert taken.status_code == 400 and "The username agent is already taken." in taken.text


def test_disabling_a_user_signs_them_out(base: str) -> None:
    leaver = signed_in(base, "leaver")
    assert leaver.get("/").status_code == 200
    with signed_in(base, "admin") as admin:
        listing = admin.get("/admin/users").text
        user_id = re.search(
            r'action="/admin/users/(\d+)/disable"[^>]*>\s*<input[^>]*>\s*<button[^>]*>Disable'
            r'<span class="visually-hidden"> leaver</span>',
            listing,
        ).group(1)
        resp = admin.post(f"/admin/users/{user_id}/disable", data={"csrf_token": csrf_in(listing)})
        assert resp.status_code == 303
        assert "Lee Leaver (leaver) can no longer sign in." in admin.get(resp.headers["location"]).text
    assert leaver.get("/").status_code == 303
    leaver.close()
    with client(base) as again:
        assert post_login(again, "leaver", PASSWORD).status_code == 200


def test_admin_cannot_disable_their_own_account(base: str, db_url: str) -> None:
    with session_scope(db_url) as session:
        admin_id = session.execute(select(StaffUser.id).where(StaffUser.username == "admin")).scalar_one()
    with signed_in(base, "admin") as c:
        listing = c.get("/admin/users").text
        assert f"/admin/users/{admin_id}/disable" not in listing
        resp = c.post(f"/admin/users/{admin_id}/disable", data={"csrf_token": csrf_in(listing)})
        assert resp.status_code == 400 and "You can't disable your own account." in shown(resp)
        assert c.get("/").status_code == 200


def test_accounts_made_and_disabled_on_the_command_line_work_in_the_console(
    base: str, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main as councilbot

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setattr("sys.stdin", io.StringIO("a passphrase from the shell\n"))
    assert (
        councilbot(["users", "add", "Shell.User", "--role", "editor", "--name", "Shell User", "--password-stdin"]) == 0
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("too short\n"))
    assert councilbot(["users", "add", "other", "--role", "agent", "--password-stdin"]) == 1
    assert "password: Password must be at least 12 characters." in capsys.readouterr().err
    assert councilbot(["users", "list"]) == 0
    assert re.search(r"shell\.user +editor +active +never +Shell User", capsys.readouterr().out)
    with client(base) as c:
        resp = post_login(c, "shell.user", "a passphrase from the shell")
        assert resp.status_code == 303 and resp.headers["location"] == "/editor"
        assert councilbot(["users", "disable", "shell.user"]) == 0
        assert c.get("/editor").status_code == 303  # signed out at once


# --- Signing out, headers, escaping ------------------------------------------------------------------------


def test_sign_out_ends_the_session_for_good(base: str) -> None:
    c = signed_in(base, "agent")
    old = c.cookies.get(SESSION_COOKIE)
    assert old
    assert c.post("/logout").status_code == 403  # no token: still signed in
    assert c.get("/").status_code == 200
    resp = c.post("/logout", headers={"X-CSRF-Token": page_csrf(c)})
    assert resp.status_code == 303 and resp.headers["location"] == "/login?signed_out=1"
    assert "You have signed out." in c.get(resp.headers["location"]).text
    c.close()
    with httpx.Client(base_url=base, cookies={SESSION_COOKIE: old}) as replay:
        assert replay.get("/").status_code == 303


def test_security_headers_on_every_kind_of_response(base: str) -> None:
    with client(base) as c:
        responses = [c.get("/login"), c.get("/"), c.get("/no-such-page"), c.post("/login", data={}), c.get("/healthz")]
    with signed_in(base, "agent") as c:
        responses += [c.get("/"), c.get("/no-such-page"), c.get("/admin/users")]
    for resp in responses:
        h = resp.headers
        assert "default-src 'self'" in h["content-security-policy"], resp.url
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert "unsafe-inline" not in h["content-security-policy"]
        assert h["x-frame-options"] == "DENY"
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "same-origin"
        assert h["cache-control"] == "no-store", resp.url
    assert responses[-2].status_code == 404 and "Page not found" in responses[-2].text


def test_pages_have_no_inline_script_or_style_and_the_stylesheet_is_served(base: str) -> None:
    with client(base) as c:
        page = c.get("/login").text
        assert "<script" not in page and "<style" not in page and " style=" not in page
        href = re.search(r'<link rel="stylesheet" href="([^"]+)"', page).group(1)
        css = c.get(href)
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert "immutable" in css.headers["cache-control"]
        assert c.get("/static/..%2Fapp.py").status_code == 404
        assert c.get("/static/nothing.css").status_code == 404


def test_html_in_a_display_name_is_shown_as_text(base: str) -> None:
    raw = ACCOUNTS["tricky"][1]
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;Bold&lt;/b&gt;"
    with signed_in(base, "tricky") as c:
        page = c.get("/").text
        assert escaped in page and raw not in page and "<script" not in page
    with signed_in(base, "admin") as c:
        token = page_csrf(c, "/admin/users")
        c.post(
            "/admin/users",
            data={
                "csrf_token": token,
                "username": "typed.html",
                "display_name": '"><img src=x onerror=alert(1)>',
                "role": AGENT,
                "password": PASSWORD,
            },
        )
        listing = c.get("/admin/users").text
        assert escaped in listing and raw not in listing
        assert "<img" not in listing and "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in listing


def test_the_log_never_holds_passwords_or_tokens(console: tuple[str, str, Path]) -> None:
    base, _, log_path = console
    with client(base) as c:
        post_login(c, "agent", "typo in the password")
        post_login(c, "agent", PASSWORD)
        token = c.cookies.get(SESSION_COOKIE)
        csrf = page_csrf(c)
    log = log_path.read_text()
    assert "sign-in refused (invalid)" in log
    for secret in (PASSWORD, "typo in the password", token, csrf):
        assert secret and secret not in log
