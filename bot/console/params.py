"""Numbers and text from the console's query strings and forms, checked at the door.

A value typed into the address bar can be anything: `²` (a digit to `str.isdigit`, not to `int`), thirty
nines (too big for the database's integer columns: SQLite raises OverflowError, PostgreSQL "out of
range"), or a NUL character (PostgreSQL refuses it in text). Each of those used to reach the database and
give a 500. Here they are a 400 with a plain message instead (`BadValue`, shown by the error handler).
"""

from __future__ import annotations

import re
from typing import Optional

from sanic.exceptions import SanicException
from sanic.request import Request

# Ids are INTEGER columns: 32-bit on PostgreSQL.
MAX_ID = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")


class BadValue(SanicException):
    """A query or form value can't be used; the message says which and why, in words staff can act on."""

    status_code = 400
    quiet = True


def parse_int(
    raw: Optional[str], name: str, default: Optional[int] = None, *, low: int = 0, high: int = MAX_ID
) -> Optional[int]:
    """`raw` as a whole number from `low` to `high`; `default` if it is missing or empty; else BadValue."""
    if raw is None or raw == "":
        return default
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadValue(f"The {name} in the address must be a whole number from {low} to {high}. Go back and try again.")
    return int(raw)


def int_arg(
    request: Request, name: str, default: Optional[int] = None, *, low: int = 0, high: int = MAX_ID
) -> Optional[int]:
    """The query string's `name` as a whole number (see `parse_int`)."""
    return parse_int(request.args.get(name), f"‘{name}’ value", default, low=low, high=high)


def check_id(value: int, what: str = "number") -> int:
    """A number from the path (`<n:int>` routes accept any length) that must fit an id column."""
    if not 0 < value <= MAX_ID:
        raise BadValue(f"There is no {what} {value}. Go back and try again.")
    return value


def has_nul(raw: bytes) -> bool:
    """True if URL-encoded `raw` (a query string or form body) holds a NUL character, which no one types
    and PostgreSQL can't store."""
    return b"\x00" in raw or b"%00" in raw.lower()
