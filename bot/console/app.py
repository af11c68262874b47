"""The console's Sanic app: `create_app(database_url)` wires sign-in, the areas in `views/`, static files,
error pages and the security headers every response carries."""

from __future__ import annotations

import itertools
import logging
from typing import Any, Optional

from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.handlers import ErrorHandler
from sanic.request import Request
from sanic.response import BaseHTTPResponse, HTTPResponse

from bot.console import auth
from bot.console.params import BadValue, has_nul
from bot.console.templating import assets, render
from bot.console.throttle import SignInThrottle
from bot.console.views import AREAS
from bot.platforms.api import close_shared_client
from knowledge.settings import database_url as default_database_url
from knowledge.settings import settings

log = logging.getLogger(__name__)

# Only this origin's files: no inline script or style, nothing from other hosts, never inside a frame.
CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Pages show residents' personal details: never keep them in a browser or proxy cache.
NO_STORE = "no-store"
# Versioned static URLs never change content; an unversioned request revalidates.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# Forms are small; a huge body is an attack or a mistake.
MAX_BODY_BYTES = 1_000_000

# Sanic keeps a registry of app names and refuses a second app with the same one.
_apps_created = itertools.count()


class ConsoleErrorHandler(ErrorHandler):
    """Error pages in the console's style (JSON under /api/), never the exception's text."""

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        status = exception.status_code if isinstance(exception, SanicException) else 500
        if status >= 500:
            # The path only: query strings and bodies may hold personal details.
            log.error("console: error handling %s %s", request.method, request.path, exc_info=exception)
            title, message = "Sorry, something went wrong", "Try again in a moment. If it keeps happening, tell IT."
        elif status == 404:
            title, message = "Page not found", "Check the address, or go back to the console's home page."
        elif status == 405:
            title, message = "That didn't work", "This page can't be used that way."
        elif isinstance(exception, BadValue):
            title, message = "That didn't work", str(exception)  # written for staff; names no data
        else:
            title, message = "That didn't work", "The request couldn't be handled."
        if auth.is_api(request):
            return response.json({"error": message}, status=status)
        try:
            return render(request, "error.html", status=status, title=title, message=message)
        except Exception:  # noqa: BLE001 - the error page itself failed: plain text, still no details
            log.exception("console: error page failed")
            return response.text(message, status=status)

    @staticmethod
    def log(request: Request, exception: Exception) -> None:
        # `default` logs what matters; Sanic's version would log the full URL with its query string.
        return None


async def _security_headers(request: Request, resp: BaseHTTPResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        resp.headers[name] = value
    if "Cache-Control" not in resp.headers:
        resp.headers["Cache-Control"] = NO_STORE
    if request.app.ctx.secure_cookies:
        resp.headers["Strict-Transport-Security"] = "max-age=31536000"


async def _refuse_nul(request: Request) -> None:
    """Request middleware: a NUL in the query string or a form body is a 400, before any view sees it
    (PostgreSQL can't store one in text, so it would otherwise be a 500 deep in a view)."""
    body = request.body if request.content_type.startswith("application/x-www-form-urlencoded") else b""
    if has_nul(request.query_string.encode("utf-8", "replace")) or (body and has_nul(body)):
        raise BadValue("What you sent holds a character that isn't allowed (a NUL). Go back and try again.")


async def _static(request: Request, name: str) -> HTTPResponse:
    asset = assets().get(name)
    if asset is None:
        return response.text("Not found", status=404)
    cache = IMMUTABLE if request.args.get("v") == asset.version else REVALIDATE
    return response.raw(asset.body, content_type=asset.content_type, headers={"Cache-Control": cache})


async def _health(request: Request) -> HTTPResponse:
    return response.text("ok")


async def _close_platform_client(_app: Sanic, _loop: Any) -> None:
    """After the last request: close the connections staff replies opened to the platforms."""
    await close_shared_client()


def secure_cookies() -> bool:
    """Cookies are `Secure` (sent only over HTTPS) unless CONSOLE_INSECURE_COOKIES=1, which is only for a
    console on loopback over plain http (`councilbot run` on a developer's machine). Secure by default, so
    a deployment that forgets a setting fails safe: sign-in stops working over http rather than session
    tokens travelling in clear."""
    return not settings().console_insecure_cookies


def trusted_proxies() -> int:
    """How many reverse proxies in front of the console append to X-Forwarded-For
    (CONSOLE_TRUSTED_PROXIES, default 0: the header is ignored and the connection's peer is the client).
    Anything but a whole number from 0 to 10 stops the console at start, naming the setting."""
    return settings().console_trusted_proxies


def create_app(database_url: Optional[str] = None) -> Sanic:
    """The console over the knowledge base at `database_url` (default `DATABASE_URL`). The database must
    already be migrated (`councilbot db upgrade`)."""
    n = next(_apps_created)  # tests and tools may build several apps in one process
    app = Sanic("councilbot_console" if n == 0 else f"councilbot_console_{n}", error_handler=ConsoleErrorHandler())
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    app.config.ACCESS_LOG = False  # access lines would carry query strings; we log what matters ourselves
    app.ctx.database_url = database_url or default_database_url()
    app.ctx.secure_cookies = secure_cookies()
    app.ctx.trusted_proxies = trusted_proxies()
    app.ctx.sign_in_throttle = SignInThrottle()

    app.register_middleware(_refuse_nul, "request")
    auth.install(app)
    app.add_route(_static, "/static/<name:str>", methods=["GET"], name="static_file")
    app.add_route(_health, "/healthz", methods=["GET"], name="health")
    for area in AREAS:
        area.register(app)
    app.register_middleware(_security_headers, "response")
    app.register_listener(_close_platform_client, "after_server_stop")
    return app
