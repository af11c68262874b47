"""What must not be discussed in public: personal details in a message, and sensitive topics.

A public comment or mention that contains either gets only an invitation to a private message in public;
the answer itself goes privately. The checks err on the side of privacy: a false alarm costs the resident
one tap, a miss leaves their address on the council's page.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Optional

from knowledge.settings import settings, var_dir

# Topics the issue and the council's safeguarding policy say never to discuss in public.
SENSITIVE_CATEGORIES = frozenset({"adult_social_care", "safeguarding", "benefits"})
SENSITIVE_INTENTS = frozenset({"crisis", "human_handoff"})

_POSTCODE = re.compile(r"\b[A-Z]{1,2}[0-9][A-Z0-9]?\s*[0-9][A-Z]{2}\b", re.I)
_PHONE = re.compile(r"(?<!\d)(?:\+44\s?\(?0?\)?|0)\s?\d(?:[\s-]?\d){8,9}(?!\d)")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_STREET_WORDS = (
    r"(?:road|rd|street|st|avenue|ave|lane|ln|close|drive|dr|way|crescent|cres|court|ct|place|pl|"
    r"gardens|gdns|terrace|grove|hill|park|row|square|sq|walk|mews|rise|view|green)"
)
# Words that show "<number> ... road" is a count, not an address ("2 potholes on the road").
_NOT_A_STREET_NAME = (
    r"(?:the|a|an|on|in|at|of|and|or|is|are|was|were|for|to|by|my|our|your|this|that|still|"
    r"weeks?|days?|months?|years?|hours?|times?|potholes?|bins?|cars?|lights?|people|of)"
)
_HOUSE = re.compile(
    rf"\b\d{{1,4}}[a-z]?,?\s+(?:(?!{_NOT_A_STREET_NAME}\b)[A-Za-z'-]+\s+){{1,3}}{_STREET_WORDS}\b", re.I
)
_FLAT = re.compile(r"\b(?:flat|apartment|apt|house|unit)\s+(?:no\.?\s*)?\d+[a-z]?\b", re.I)
_HOUSE_NUMBER = re.compile(r"\b(?:number|no\.?|#)\s*\d{1,4}[a-z]?\b", re.I)
# Names: self-introductions, titles and family members followed by a capitalised name.
# The lead-in in any case ("My name is", "my mum"); the name itself capitalised, as people write names.
_NAME = re.compile(
    r"\b(?i:my name is|my name's|i am called|i'm called|this is)\s+[A-Z][a-z]+"
    r"|\b(?:Mr|Mrs|Ms|Miss|Dr|Mx)\.?\s+[A-Z][a-z]+"
    r"|\b(?i:my|our)\s+(?i:mum|mother|dad|father|son|daughter|wife|husband|partner|nan|gran|grandad|"
    r"grandma|grandpa|neighbour|brother|sister|aunt|uncle|friend|child|baby)\s+(?!Is\b|Has\b|Was\b)[A-Z][a-z]+"
)


def personal_details(text: str) -> list[str]:
    """Kinds of personal detail found in `text` (postcode, phone, email, address, name), in that order."""
    found = []
    checks = (
        ("postcode", _POSTCODE),
        ("phone", _PHONE),
        ("email", _EMAIL),
        ("address", _HOUSE),
        ("address", _FLAT),
        ("address", _HOUSE_NUMBER),
        ("name", _NAME),
    )
    # "(0115) 496 0000": brackets around the area code are how many people write a number.
    text = " ".join(text.replace("(", " ").replace(")", " ").split())
    for kind, pattern in checks:
        if kind not in found and pattern.search(text):
            found.append(kind)
    return found


def is_sensitive(intent: Optional[str], category: Optional[str] = None, always_human: bool = False) -> bool:
    """True if a message with this intent (and the service it names) must be answered privately."""
    return intent in SENSITIVE_INTENTS or category in SENSITIVE_CATEGORIES or always_human


_CHANNEL_NAME = re.compile(r"[a-z_]{1,40}")


def pseudonym(conversation_id: str) -> str:
    """A conversation id fit for logs. WhatsApp ids are phone numbers and other platforms' ids identify a
    person too, so logs get the channel and a short keyed hash (HMAC-SHA256 with `pseudonym_key()`):
    enough to follow one conversation through the logs, useless for finding the resident. A plain hash
    would not do: there are few enough phone numbers to hash them all and look the digest up."""
    # Only the first part names the channel: a REST caller chooses everything after "rest:", colons and
    # e-mail addresses included, and none of that may reach a log.
    channel, sep, _ = conversation_id.partition(":")
    digest = hmac.new(pseudonym_key(), conversation_id.encode("utf-8"), hashlib.sha256).hexdigest()[:10]
    if not sep or not _CHANNEL_NAME.fullmatch(channel):
        return f"#{digest}"
    return f"{channel}#{digest}"


class PseudonymKeyError(RuntimeError):
    """The kept pseudonym key is unusable (an empty file): hashing with it would name conversations
    differently from every other process, and erasure would miss their rows."""


# How long to wait for a key file another process has created but not yet filled: a writer from before
# keys were linked into place wrote the file after creating it. Now a key file appears already whole.
_EMPTY_KEY_WAIT_SECONDS = 2.0


@lru_cache(maxsize=1)
def pseudonym_key() -> bytes:
    """The secret behind `pseudonym`: PSEUDONYM_KEY, or a random key made once and kept in var/ (readable
    by its owner only), so every process on this machine names a conversation alike. Replicas on several
    machines must share PSEUDONYM_KEY. Raises PseudonymKeyError rather than hash with an empty key."""
    configured = settings().pseudonym_key
    if configured:
        return configured.encode("utf-8")
    path = var_dir() / "pseudonym.key"
    deadline = time.monotonic() + _EMPTY_KEY_WAIT_SECONDS
    while True:
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            _make_key(path)  # loses quietly to a process that made one first; either way, read it again
            continue
        if key.strip():
            return key
        if time.monotonic() >= deadline:
            raise PseudonymKeyError(
                f"{path} is empty: stop councilbot, delete the file (a new key is made) "
                "or set PSEUDONYM_KEY, and start it again"
            )
        time.sleep(0.05)


def _make_key(path: Path) -> None:
    """Put a new random key at `path` unless one is there. The key is written whole to a private file
    beside it and then linked into place, so no process can ever read a half-written key; linking fails
    if `path` exists, so when several processes start at once exactly one key wins."""
    fd, temporary = tempfile.mkstemp(prefix=".pseudonym.key.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_hex(32).encode("ascii"))
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
