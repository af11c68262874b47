"""A resident on the REST or web chat channel, as a real client behaves: it keeps the owner token the
first reply hands back and sends it with every later message and poll."""

from __future__ import annotations

from typing import Any

import httpx

from bot.channels.rest import TOKEN_HEADER

# (endpoint base, sender) -> owner token
_tokens: dict[tuple[str, str], str] = {}


def _base(url: str) -> str:
    return url.rsplit("/", 1)[0]


def post(url: str, sender: str, text: str, timeout: float = 60, **extra: Any) -> httpx.Response:
    """POST a message to a REST-style `.../webhook` URL as `sender`, with its token once it has one."""
    key = (_base(url), sender)
    headers = {TOKEN_HEADER: _tokens[key]} if key in _tokens else {}
    response = httpx.post(url, json={"sender": sender, "message": text, **extra}, headers=headers, timeout=timeout)
    if response.headers.get(TOKEN_HEADER):
        _tokens[key] = response.headers[TOKEN_HEADER]
    return response


def updates(base: str, sender: str, after: int = 0) -> httpx.Response:
    """GET `<base>/updates` (staff replies) as `sender`'s owner."""
    token = _tokens.get((base.rstrip("/"), sender))
    return httpx.get(
        f"{base.rstrip('/')}/updates",
        params={"sender": sender, "after": after},
        headers={TOKEN_HEADER: token} if token else {},
        timeout=10,
    )
