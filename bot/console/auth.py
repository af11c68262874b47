"""Signing in and out, the session cookie, CSRF checks and `require(role)`.

The session cookie `councilbot_session` holds the raw token from `knowledge.staff.start_session` (the
database keeps only its hash). It is HttpOnly, SameSite=Strict, Path=/, and Secure unless
`CONSOLE_INSECURE_COOKIES=1` (only for a console on loopback over plain http: `councilbot run` sets it;
anywhere else the console is served over HTTPS). It has no Max-Age: closing the browser signs out, which
suits shared council PCs; the server ends the session after `knowledge.staff.SESSION_TTL` regardless.

CSRF. Signed-in forms send the session's own random token (`StaffSession.csrf_token`). The login form
has no session yet, so it uses a double-submit cookie: `GET /login` sets a random `councilbot_login_csrf`
cookie (HttpOnly, SameSite=Strict, Path=/login) and puts the same value in the form; `POST /login` must
send both and they must match. Another site can neither read that cookie nor make the browser send it
(SameSite=Strict), so it can't sign a member of staff in to an account of its choosing. This needs no
server-side secret, which a signed token would. Both comparisons are constant-time.

Every request passes `load_user` first: it sets `request.ctx.user` / `request.ctx.staff_session`, sends
anonymous visitors of non-public paths to /login (401 JSON under /api/), and refuses unsafe methods
without the right token with 403.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, Optional
from urllib.parse import quote

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.orm import Session

from bot.console.data import in_db
from bot.console.templating import home_for, render
from bot.console.throttle import ADDRESS_WINDOW, client_address
from knowledge.staff import (
    LoginRefused,
    LoginResult,
    authenticate,
    can,
    end_session,
    normalise_username,
    purge_expired_sessions,
    session_for,
    start_session,
    utcnow,
)

log = logging.getLogger(__name__)

SESSION_COOKIE = "councilbot_session"
LOGIN_CSRF_COOKIE = "councilbot_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PUBLIC_PATHS = frozenset({"/login", "/healthz"})
PUBLIC_PREFIXES = ("/static/",)
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,100}")  # what secrets.token_urlsafe makes

# One message for every refused sign-in: saying "locked" or "no such user" would tell a guesser which
# usernames exist.
LOGIN_REFUSED = (
    "We couldn't sign you in with that username and password. Check them and try again. "
    "If you still can't sign in, ask an administrator."
)
# For an address that has failed too often (bot/console/throttle.py). Says nothing about any account.
THROTTLED = (
    f"There have been too many failed sign-ins from your network. Wait "
    f"{int(ADDRESS_WINDOW.total_seconds() // 60)} minutes and try again, or ask an administrator."
)

Handler = Callable[..., Coroutine[Any, Any, HTTPResponse]]


def is_api(request: Request) -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _same(sent: Optional[str], expected: Optional[str]) -> bool:
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))


def _sent_csrf(request: Request) -> Optional[str]:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    try:
        return request.form.get(CSRF_FIELD) if request.form else None
    except Exception:  # noqa: BLE001 - an unparseable body simply carries no token
        return None


def _set_cookie(resp: HTTPResponse, request: Request, name: str, value: str, path: str) -> None:
    resp.cookies[name] = value
    cookie = resp.cookies[name]
    cookie["path"] = path
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    if request.app.ctx.secure_cookies:
        cookie["secure"] = True


def _expire_cookie(resp: HTTPResponse, request: Request, name: str, path: str) -> None:
    _set_cookie(resp, request, name, "", path)
    resp.cookies[name]["max-age"] = 0


def safe_next(target: Optional[str]) -> Optional[str]:
    """`target` if it is a path on this site to return to after signing in, else None: never another
    host (`//evil`, `/\\evil`, `https:`), never the sign-in page itself."""
    if not target or len(target) > 500 or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(c in target for c in "\r\n\t\\") or target.split("?")[0] in ("/login", "/logout"):
        return None
    return target


# --- Answers for requests that may not go on ---------------------------------------------------------------


def unauthenticated(request: Request) -> HTTPResponse:
    """Not signed in: 401 JSON under /api/, else back to /login (remembering a page asked for by GET)."""
    if is_api(request):
        return response.json({"error": "Sign in first."}, status=401)
    target = safe_next(request.path + (f"?{request.query_string}" if request.query_string else ""))
    if request.method == "GET" and target and target != "/":
        return response.redirect(f"/login?next={quote(target, safe='')}", status=303)
    return response.redirect("/login", status=303)


def forbidden(request: Request, message: str, title: str = "You can't use this page") -> HTTPResponse:
    """403, as JSON under /api/, else as a page that says why."""
    if is_api(request):
        return response.json({"error": message}, status=403)
    return render(request, "error.html", status=403, title=title, message=message)


def require(role: Optional[str] = None) -> Callable[[Handler], Handler]:
    """Decorator for a view: only signed-in staff whose role `can(role, …)`; `require()` admits any
    signed-in staff. Put it under the route decorator: `@app.get(...)` then `@require(AGENT)`."""

    def decorate(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            user = getattr(request.ctx, "user", None)
            if user is None:
                return unauthenticated(request)
            if role is not None and not can(user.role, role):
                return forbidden(
                    request,
                    f"Your account's role ({user.role}) doesn't include this page. "
                    "Ask an administrator if you need it for your work.",
                )
            return await handler(request, *args, **kwargs)

        return guarded

    return decorate


# --- Middleware --------------------------------------------------------------------------------------------


def _over_limit(request: Request) -> Optional[int]:
    """The body limit if the request declares a body over it (the import form has a higher one)."""
    limit = getattr(request.stream, "request_max_size", None) or request.app.config.REQUEST_MAX_SIZE
    length = request.headers.get("content-length") or "0"
    return limit if length.isdigit() and int(length) > limit else None


async def load_user(request: Request) -> Optional[HTTPResponse]:
    """Request middleware: who is signed in, and whether this request may go on (see module docstring)."""
    if getattr(request.ctx, "auth_checked", False):
        return None  # Sanic runs request middleware again while handling a view's exception
    request.ctx.auth_checked = True
    request.ctx.user = None
    request.ctx.staff_session = None
    if request.path.startswith(PUBLIC_PREFIXES):
        return None
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        found = await in_db(request, lambda s: session_for(s, raw, utcnow()))
        if found is not None:
            request.ctx.user, request.ctx.staff_session = found
    if request.ctx.user is None and not is_public(request.path):
        return unauthenticated(request)
    if request.method in UNSAFE_METHODS:
        too_big = _over_limit(request)
        if too_big:
            # Sanic won't read a body over its limit, so the CSRF token can't be checked either: say what
            # actually happened rather than "form expired".
            return render(
                request,
                "error.html",
                status=413,
                title="That was too large to send",
                message=f"What you sent is larger than {too_big / 1_000_000:g} MB. Send a smaller "
                f"file or shorter text.",
            )
        if request.path == "/login":
            expected = request.cookies.get(LOGIN_CSRF_COOKIE)
            why = (
                "This sign-in form has expired or your browser blocked its cookie. Go back to the sign-in "
                "page and try again. The console needs cookies switched on."
            )
        else:
            expected = request.ctx.staff_session.csrf_token if request.ctx.staff_session else None
            why = "This form has expired or was sent from somewhere else. Go back, reload the page and try again."
        if not _same(_sent_csrf(request), expected):
            log.warning("console: %s %s refused, CSRF token missing or wrong", request.method, request.path)
            return forbidden(request, why, title="Your form couldn't be sent")
    return None


# --- Routes ------------------------------------------------------------------------------------------------


def _login_page(request: Request, *, status: int = 200, **context: Any) -> HTTPResponse:
    # Reuse the browser's login token if it has one, so a second tab's form doesn't spoil the first's.
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    if not TOKEN_RE.fullmatch(token):
        token = secrets.token_urlsafe(32)
    request.ctx.login_csrf = token
    values: dict[str, Any] = {
        "title": "Sign in",
        "errors": {},
        "username": "",
        "error_summary": None,
        "signed_out": False,
        "next": None,
    }
    values.update(context)
    if values["errors"] and not values["error_summary"]:
        values["error_summary"] = list(values["errors"].items())
    resp = render(request, "login.html", status=status, **values)
    _set_cookie(resp, request, LOGIN_CSRF_COOKIE, token, "/login")
    return resp


async def login_form(request: Request) -> HTTPResponse:
    """GET /login: the sign-in form (signed-in staff go straight to their home page)."""
    if request.ctx.user is not None:
        return response.redirect(home_for(request.ctx.user.role), status=303)
    return _login_page(
        request, next=safe_next(request.args.get("next")), signed_out=request.args.get("signed_out") == "1"
    )


async def login_submit(request: Request) -> HTTPResponse:
    """POST /login: check the username and password; on success start a session and go on."""
    form = request.form
    username = (form.get("username") or "").strip()
    password = form.get("password") or ""
    target = safe_next(form.get("next"))
    errors = {}
    if not username:
        errors["username"] = "Enter your username."
    if not password:
        errors["password"] = "Enter your password."
    if errors:
        return _login_page(request, status=400, errors=errors, username=username, next=target)

    old_token = request.cookies.get(SESSION_COOKIE)
    throttle = request.app.ctx.sign_in_throttle
    address = client_address(request.ip, request.headers.get("X-Forwarded-For"), request.app.ctx.trusted_proxies)
    now = utcnow()
    if throttle.blocked(address, now):
        # Refused before the password is checked: it costs no account a failure and teaches nothing.
        log.info("console: sign-in refused (address throttled)")
        return _login_page(request, status=429, error_summary=THROTTLED, username=username, next=target)
    known = throttle.known(normalise_username(username), address, now)

    def attempt(session: Session) -> tuple[LoginResult, Optional[tuple[str, str]]]:
        result = authenticate(session, username, password, now, trusted_address=known)
        if result.user is None:
            return result, None
        # A fresh token at every sign-in, so a token planted before it (session fixation) is worthless.
        end_session(session, old_token)
        purge_expired_sessions(session, now)
        return result, start_session(session, result.user, now)

    result, tokens = await in_db(request, attempt)
    if result.refused in (LoginRefused.INVALID, LoginRefused.LOCKED):
        throttle.failed(address, now)
    if result.user is None or tokens is None:
        # The reason goes to the log only; the username doesn't (people type passwords into that box).
        log.info("console: sign-in refused (%s)", result.refused.value if result.refused else "unknown")
        return _login_page(request, status=200, error_summary=LOGIN_REFUSED, username=username, next=target)
    throttle.succeeded(result.user.username, address, now)
    log.info("console: staff user %s signed in", result.user.id)
    resp = response.redirect(target or home_for(result.user.role), status=303)
    _set_cookie(resp, request, SESSION_COOKIE, tokens[0], "/")
    _expire_cookie(resp, request, LOGIN_CSRF_COOKIE, "/login")
    return resp


async def logout(request: Request) -> HTTPResponse:
    """POST /logout: end this browser's session for good (the old cookie no longer works anywhere)."""
    raw = request.cookies.get(SESSION_COOKIE)
    await in_db(request, lambda s: end_session(s, raw))
    resp = response.redirect("/login?signed_out=1", status=303)
    _expire_cookie(resp, request, SESSION_COOKIE, "/")
    return resp


def install(app: Sanic) -> None:
    """Add the middleware and the /login and /logout routes to `app`."""
    app.register_middleware(load_user, "request")
    app.add_route(login_form, "/login", methods=["GET"], name="auth_login_form")
    app.add_route(login_submit, "/login", methods=["POST"], name="auth_login_submit")
    app.add_route(logout, "/logout", methods=["POST"], name="auth_logout")
