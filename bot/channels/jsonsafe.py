"""JSON from the outside world, parsed so that odd input is a plain refusal, never a crash later on.

`json.loads` accepts things that break code further along: nesting thousands of levels deep (a
RecursionError in the parser, or later in anything that walks the value), and escaped lone surrogates
(`"\\ud800"`), which make a Python string that can't be encoded as UTF-8, so the database driver or a log
handler fails on it long after the request was accepted. `loads` refuses the first and, as asked, refuses or
repairs the second, so the caller can answer 400 at the door.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Webhook bodies nest about eight levels (Meta: entry > changes > value > from > id); 32 leaves room.
MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")
# NUL can't be stored in PostgreSQL text and is never part of a resident's message.
_NUL = "\x00"
# Both can only get into a parsed string through a \u escape (raw ones are invalid JSON or UTF-8), so
# a body without such an escape needs no walk through its strings.
_BAD_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_EMPTY_PAIRS = re.compile(r"\[\]|\{\}")
REPLACEMENT = "\ufffd"


class UnsafeJson(ValueError):
    """The body is not JSON we can safely use; the message says why, in words safe to return to the caller."""


def loads(body: bytes, *, max_depth: int = MAX_DEPTH, repair_text: bool = False) -> Any:
    """The JSON value in `body` (UTF-8), or UnsafeJson.

    Refused: invalid UTF-8, invalid JSON, arrays or objects nested deeper than `max_depth`, and (unless
    `repair_text`) strings or keys holding a lone surrogate or a NUL character. With `repair_text` a lone
    surrogate becomes U+FFFD and NULs are dropped instead, for platform webhooks, where refusing a whole
    batch would lose the good messages in it (the platform would retry the same bytes forever)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise UnsafeJson("request body is not valid UTF-8") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise UnsafeJson(f"request body is nested more than {max_depth} levels deep") from None
    except ValueError:
        raise UnsafeJson("request body is not valid JSON") from None
    if _too_deep(text, max_depth):
        raise UnsafeJson(f"request body is nested more than {max_depth} levels deep")
    return _checked(value, repair_text) if _BAD_ESCAPE.search(text) else value


def _too_deep(text: str, max_depth: int) -> bool:
    """True if valid JSON `text` nests arrays and objects more than `max_depth` deep. Done on the text
    with regular expressions (strings removed, then innermost empty pairs removed once per level), as a
    walk of the parsed value in Python costs several times the parse itself."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    for _ in range(max_depth):
        if not brackets:
            return False
        brackets = _EMPTY_PAIRS.sub("", brackets)
    return bool(brackets)


def _clean(s: str, repair: bool) -> str:
    if _NUL not in s and not _SURROGATE.search(s):
        return s
    if not repair:
        raise UnsafeJson("request body holds a character that is not allowed (a NUL or a lone surrogate)")
    return _SURROGATE.sub(REPLACEMENT, s.replace(_NUL, ""))


def _checked(value: Any, repair: bool) -> Any:
    """`value` with its strings and keys checked (or repaired in place), without recursion."""
    if isinstance(value, str):
        return _clean(value, repair)
    stack: list[Any] = [value] if isinstance(value, (dict, list)) else []
    while stack:
        container = stack.pop()
        if isinstance(container, dict):
            if any(_NUL in k or _SURROGATE.search(k) for k in container):
                fixed = {_clean(k, repair): v for k, v in container.items()}
                container.clear()
                container.update(fixed)
            items: Any = list(container.items())
        else:
            items = list(enumerate(container))
        for key, item in items:
            if isinstance(item, str):
                if _NUL in item or _SURROGATE.search(item):
                    container[key] = _clean(item, repair)
            elif isinstance(item, (dict, list)):
                stack.append(item)
    return value
