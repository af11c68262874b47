"""Pages of the console: Jinja2 templates from `templates/` and the files in `static/`.

Templates are autoescaped (anything staff or residents typed is shown as text, never markup) and use
StrictUndefined, so a misspelt name fails the tests instead of rendering blank. The CSP forbids inline
script and style: put styles in `static/console.css`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.static_files import Asset, load_assets
from knowledge.casework.business_hours import BusinessHours
from knowledge.staff import ADMIN, AGENT, EDITOR, can

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
# What `GET /static/<name>` may serve, by suffix; nothing else under static/ is reachable.
ASSET_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class NavLink:
    """One entry of the top navigation: shown to roles that `can(role, needed)`; `needed` None means any
    signed-in staff."""

    label: str
    href: str
    needed: Optional[str]


NAV = (
    NavLink("Cases", "/", AGENT),
    NavLink("Reports", "/reports", AGENT),  # issue 13
    NavLink("Figures", "/figures", None),
    NavLink("Content", "/editor", EDITOR),
    NavLink("Users", "/admin/users", ADMIN),
)


def nav_for(role: Optional[str], path: str) -> list[dict[str, Any]]:
    """The links `role` may follow, as {label, href, current}; `current` marks the area `path` is in."""
    links = []
    for link in NAV:
        if link.needed is None and role is None or link.needed is not None and not can(role, link.needed):
            continue
        if link.href == "/":  # the cases area owns / and everything under /cases/
            current = path == "/" or path.startswith("/cases/")
        else:
            current = path == link.href or path.startswith(link.href + "/")
        links.append({"label": link.label, "href": link.href, "current": current})
    return links


def home_for(role: Optional[str]) -> str:
    """Where someone with `role` lands after signing in: the first area they can use."""
    if role is None:
        return "/login"
    return "/" if can(role, AGENT) else "/editor" if can(role, EDITOR) else "/figures"


@lru_cache(maxsize=1)
def assets() -> dict[str, Asset]:
    """The servable static files by name, read once, so no request path ever reaches the file system."""
    return load_assets(STATIC_DIR, ASSET_TYPES)


def static_url(name: str) -> str:
    """The URL of static file `name`, versioned by content so browsers may cache it for good. An unknown
    name raises KeyError: a broken link fails the tests."""
    return f"/static/{name}?v={assets()[name].version}"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(static_url=static_url, can=can, ROLES=(AGENT, EDITOR, ADMIN))
    env.filters["uk_time"] = uk_time
    return env


def uk_time(value: Optional[dt.datetime], fmt: str = "%d %b %Y %H:%M") -> str:
    """A stored time (naive UTC) as the council's local clock shows it (the business hours' time zone):
    staff read "17:30", not "16:30 UTC", in winter and summer alike."""
    if value is None:
        return ""
    return BusinessHours.from_env().local(value).strftime(fmt)


def csrf_token_for(request: Request) -> str:
    """The token forms on this page must send back: the session's, or before sign-in the login form's."""
    staff_session = getattr(request.ctx, "staff_session", None)
    if staff_session is not None:
        return staff_session.csrf_token
    return getattr(request.ctx, "login_csrf", "")


def render(
    request: Request, template: str, *, status: int = 200, headers: Optional[dict[str, str]] = None, **context: Any
) -> HTTPResponse:
    """The page `template` as an HTML response. Besides `context` the template always gets `user` (the
    signed-in StaffUser or None), `csrf_token`, `nav` (links for the user's role), `home` (their landing
    page) and `title` (default "Staff console")."""
    user = getattr(request.ctx, "user", None)
    role = user.role if user is not None else None
    values: dict[str, Any] = {
        "title": "Staff console",
        "user": user,
        "csrf_token": csrf_token_for(request),
        "nav": nav_for(role, request.path),
        "home": home_for(role),
    }
    values.update(context)
    body = environment().get_template(template).render(**values)
    return response.html(body, status=status, headers=headers)
