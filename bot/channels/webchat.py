"""The council's own web chat: an accessible page and its JSON endpoint, served by the Rasa server.

Routes, under `/webhooks/webchat/`:

- `GET /` the chat page (`static/webchat.html`, with the council's name from the knowledge base);
- `GET /static/<name>` the page's CSS and JS, and nothing else;
- `POST /webhook` the REST webhook's JSON contract with the same checks (`rest.answer_webhook`);
- `GET /history`, `GET /updates` and `POST /photo`: the conversation so far, staff replies signed as from
  a person, and a photo the resident attaches (`webchat_memory.py`).

The sender comes from the browser (a random id it made up and keeps on the device), so Rasa gets
it as `web:<sender>`: a page can never write into a Messenger or X conversation by sending that id. The
first reply carries the conversation's owner token (`X-Conversation-Token`), which the page keeps with the
id and sends with every later message and poll; without it, the conversation is closed to the caller.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Optional

from rasa.core.channels.channel import InputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import webchat_memory
from bot.channels.flood_gate import address_of
from bot.channels.rest import (
    TOKEN_HEADER,
    BotMessage,
    IntentLookup,
    OnNewMessage,
    answer_webhook,
    tracker_intent,
)
from bot.static_files import Asset, load_assets
from knowledge.answers import council
from knowledge.channels import channel
from knowledge.db import session_scope
from knowledge.settings import settings

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGE_FILE = "webchat.html"
# What `GET /static/<name>` may serve, by file suffix. The HTML is a template, served only as the page.
ASSET_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}

SENDER_PREFIX = channel("webchat").id_prefix
# What the actions learn about a web chat message. Fixed here: the page doesn't get to choose it.
METADATA = {"channel": "webchat", "origin": channel("webchat").origin}
GENERIC_NAME = "the council"  # heading reads "Ask the council" when the knowledge base can't be read
NAME_TTL_SECONDS = 60.0  # an editor's rename shows within a minute; page loads don't each hit the DB

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
# Only this origin's files: no inline script or style, no other hosts. frame-ancestors is left out on
# purpose so the council can put the page in an iframe on its own site.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'self'"
)
# Versioned asset URLs (`?v=<hash>`) never change content, so browsers may keep them; anything else
# revalidates. The page itself always revalidates: it carries the asset versions and the council's name.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

PLACEHOLDER_RE = re.compile(r"\{\{([\w.]+)\}\}")


@lru_cache(maxsize=1)
def assets() -> dict[str, Asset]:
    """The page's CSS and JS by file name, read once: the only files `GET /static/<name>` serves, so no
    request path ever reaches the file system."""
    return load_assets(STATIC_DIR, ASSET_TYPES)


@lru_cache(maxsize=1)
def page_template() -> str:
    """The page's HTML with `{{council_name}}` and `{{<asset file name>}}` placeholders."""
    return (STATIC_DIR / PAGE_FILE).read_text(encoding="utf-8")


def render_page(council_name: str) -> str:
    """The page for `council_name` (escaped), with each asset linked by its versioned relative URL and the
    photo size limit (so the page can refuse a large photo before uploading it; the server checks again).
    An unknown placeholder raises KeyError, so a typo in the template fails the tests, not a resident."""
    values = {"council_name": escape(council_name), "photo_max_bytes": str(settings().webchat_photo_max_bytes)}
    values.update({name: f"static/{name}?v={a.version}" for name, a in assets().items()})
    return PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], page_template())


def read_council_name(url: Optional[str] = None) -> str:
    """The council's name from the knowledge base at `url` (default `DATABASE_URL`), or GENERIC_NAME if it
    can't be read: the page must still load when the database is down or empty."""
    try:
        with session_scope(url) as session:
            name = (council(session).name or "").strip()
    except Exception as exc:  # noqa: BLE001 - any failure just means a generic heading
        log.warning("web chat page: council name unavailable (%s); using a generic heading", type(exc).__name__)
        return GENERIC_NAME
    return name or GENERIC_NAME


_name_cache: dict[str, tuple[float, str]] = {}  # "name" -> (monotonic time read, name)


async def council_name() -> str:
    """The council's name, read at most once a minute, off the event loop (a database call blocks)."""
    cached = _name_cache.get("name")
    if cached and time.monotonic() - cached[0] < NAME_TTL_SECONDS:
        return cached[1]
    name = await asyncio.to_thread(read_council_name)
    _name_cache["name"] = (time.monotonic(), name)
    return name


def page_response(name: str) -> HTTPResponse:
    """The chat page for a council called `name`, with its security headers."""
    return response.html(
        render_page(name),
        headers={**SECURITY_HEADERS, "Content-Security-Policy": PAGE_CSP, "Cache-Control": REVALIDATE},
    )


def asset_response(name: str, version: Optional[str]) -> HTTPResponse:
    """The static file called `name` (404 unless it is one of `assets()`); cacheable for good when the
    request names its current `version`."""
    asset = assets().get(name)
    if asset is None:
        return response.text("Not found", status=404, headers=SECURITY_HEADERS)
    cache = IMMUTABLE if version == asset.version else REVALIDATE
    return response.raw(
        asset.body, content_type=asset.content_type, headers={**SECURITY_HEADERS, "Cache-Control": cache}
    )


def page_message(message: BotMessage) -> BotMessage:
    """What the page gets for one bot message: `text` (plain text; the page makes links of any URLs in it)
    and, if the bot offered choices, `buttons` as [{title, payload}]. Nothing else (no recipient id)."""
    shown: BotMessage = {"text": message.get("text") or ""}
    buttons = [
        {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
        for b in message.get("buttons") or []
        if isinstance(b, dict)
    ]
    if buttons:
        shown["buttons"] = buttons
    return shown


class WebChatInput(InputChannel):
    """The web chat page and its endpoint, at `/webhooks/webchat/`."""

    @classmethod
    def name(cls) -> str:
        return "webchat"

    async def answer(
        self,
        body: bytes,
        on_new_message: OnNewMessage,
        token: Optional[str] = None,
        intent_of: Optional[IntentLookup] = None,
        address: Optional[str] = None,
    ) -> HTTPResponse:
        """Answer one `POST /webhook` body: the REST contract, in the `web:` namespace, shaped for the page.
        `token` is the conversation's owner token the page was given with its first reply; `address` the
        caller's network address, for the rate limits."""
        return await answer_webhook(
            body,
            on_new_message,
            self.name(),
            sender_prefix=SENDER_PREFIX,
            metadata=METADATA,
            token=token,
            intent_of=intent_of,
            shape=page_message,
            address=address,
        )

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        module = inspect.getmodule(self)
        webchat = Blueprint(f"custom_webhook_{type(self).__name__}", module.__name__ if module else None)

        @webchat.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            if not request.path.endswith("/"):
                # The page's URLs are relative ("webhook", "static/..."): without the slash they'd resolve
                # one level up, outside this channel.
                query = f"?{request.query_string}" if request.query_string else ""
                return response.redirect(f"{request.path}/{query}", status=308)
            return page_response(await council_name())

        @webchat.route("/static/<name:str>", methods=["GET"])
        async def static(request: Request, name: str) -> HTTPResponse:
            return asset_response(name, request.args.get("v"))

        @webchat.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self.answer(
                request.body or b"",
                on_new_message,
                request.headers.get(TOKEN_HEADER),
                tracker_intent(request.app),
                address_of(request),
            )

        @webchat.route("/updates", methods=["GET"])
        async def updates(request: Request) -> HTTPResponse:
            """Messages staff sent since `after`, and report updates after `seen` (the page polls, slower
            while the tab is hidden)."""
            return await webchat_memory.updates_response(
                request.args.get("sender"),
                request.args.get("after"),
                request.headers.get(TOKEN_HEADER),
                address=address_of(request),
                seen=request.args.get("seen"),
            )

        @webchat.route("/history", methods=["GET"])
        async def history(request: Request) -> HTTPResponse:
            """The conversation so far, for a page that reloads or comes back."""
            return await webchat_memory.history_response(
                request.args.get("sender"),
                request.headers.get(TOKEN_HEADER),
                webchat_memory.tracker_events(request.app),
                address=address_of(request),
            )

        @webchat.route("/photo", methods=["POST"], stream=True)
        async def photo(request: Request) -> HTTPResponse:
            """A photo the resident attaches; streamed, so one over the limit is never read in full, and read
            only after the cheap checks (rate limits, owner token, caps) have passed."""

            async def read(limit: int) -> Optional[bytes]:
                return await webchat_memory.read_body(request, limit)

            return await webchat_memory.photo_response(
                read, request.args.get("sender"), request.headers.get(TOKEN_HEADER), address=address_of(request)
            )

        return webchat
