"""A resident's message as every channel hands it on, whatever platform it came from.

Each platform's webhook parser turns its own JSON into `Incoming` messages; from there on (dedupe, the
work queue, the bot, the reply) nothing needs to know the platform's format.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from knowledge.channels import PUBLIC, channel

# What residents may send besides text that reports can use. Everything else gets a polite "can't open".
SUPPORTED_ATTACHMENTS = frozenset({"image", "location"})

# What a platform id looks like: digits, or letters, digits and ._-:=+/@ (WhatsApp's wamids are base64,
# Facebook comment ids are "<post>_<comment>"). Anything else, or anything longer than our columns hold,
# did not come from a real platform's id space; storing it would fail (PostgreSQL refuses an over-long
# value) on every retry and hold up the good messages delivered with it.
ID_RE = re.compile(r"[A-Za-z0-9._:=+/@-]+")
MAX_USER_ID_CHARS = 150  # conversation ids are "<channel>:<user id>" in String(200) columns
MAX_MESSAGE_ID_CHARS = 250  # delivery keys are "<channel>:<message id>" in a String(300) column
MAX_REF_CHARS = 200  # account_id and reply_to columns are String(200)
MAX_MEDIA_ID_CHARS = 300  # attachments.media_id
MAX_MIME_CHARS = 100  # attachments.mime_type
# Platform timestamps outside these years are nonsense (or an attempt to overflow date arithmetic).
_EARLIEST, _LATEST = dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1)


@dataclass
class AttachmentRef:
    """Something the resident attached, as the platform describes it. Never downloaded here: `url` or
    `media_id` is the platform's reference; a location has coordinates instead."""

    kind: str
    url: Optional[str] = None
    media_id: Optional[str] = None
    mime_type: Optional[str] = None
    latitude: Optional[float] = None
    longitude: Optional[float] = None


@dataclass
class Incoming:
    """One message from a resident.

    `channel` is the name of a platform channel in `knowledge/channels.py` (messenger, x_mention...);
    `platform_id` is the platform's id for this message (the dedupe key); `user_id` the resident's id on the
    platform; `account_id` our page, Instagram account, WhatsApp number id or X account that received it;
    `reply_to` the comment or post to answer under (public channels); `sent_at` the platform's timestamp.
    `choice` is True when `text` is the payload of a button the bot offered (a quick reply, postback or list
    choice), not something the resident typed: only then may it be an intent command like "/affirm"."""

    channel: str
    platform_id: str
    user_id: str
    text: str = ""
    account_id: Optional[str] = None
    reply_to: Optional[str] = None
    sent_at: Optional[dt.datetime] = None
    attachments: list[AttachmentRef] = field(default_factory=list)
    choice: bool = False

    @property
    def public(self) -> bool:
        return self.channel in PUBLIC

    @property
    def origin(self) -> str:
        return "public" if self.public else "private"

    @property
    def conversation_id(self) -> str:
        """The Rasa sender id: namespaced so two platforms' user ids can never collide."""
        return f"{channel(self.channel).id_prefix}{self.user_id}"

    @property
    def delivery_key(self) -> str:
        return f"{self.channel}:{self.platform_id}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sent_at"] = self.sent_at.isoformat() if self.sent_at else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Incoming:
        data = dict(data)
        data["attachments"] = [AttachmentRef(**a) for a in data.get("attachments") or []]
        data["sent_at"] = dt.datetime.fromisoformat(data["sent_at"]) if data.get("sent_at") else None
        return cls(**data)


def from_epoch(value: Any, millis: Optional[bool] = False) -> Optional[dt.datetime]:
    """A platform timestamp (seconds or milliseconds since 1970, number or string) as naive UTC, or None
    if it is missing or not a time between 2000 and 2100. `millis=None`: decide by size (Meta's entry
    `time` is milliseconds for Messenger, seconds for Instagram and the page feed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
        if millis is None:
            millis = abs(number) >= 1e11  # 1e11 seconds is the year 5138; 1e11 ms is 1973
        when = dt.datetime.fromtimestamp(number / (1000 if millis else 1), dt.UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return when if _EARLIEST <= when < _LATEST else None


class BadPayload(ValueError):
    """The body is JSON but not shaped like a webhook from this platform."""


def as_dict(value: Any) -> dict:
    """`value` if it is a JSON object, else an empty one: platforms' optional fields are often absent."""
    return value if isinstance(value, dict) else {}


def as_str(value: Any) -> Optional[str]:
    """A platform id or text as a non-empty string (ids come as numbers or strings), else None."""
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
        return str(value)
    return None


def _usable_id(value: Optional[str], limit: int) -> bool:
    return value is not None and len(value) <= limit and ID_RE.fullmatch(value) is not None


def id_problem(message: Incoming) -> Optional[str]:
    """Which of `message`'s ids can't be stored (too long, or characters no platform uses), or None if all
    can. The answer names the field only, never the value: ids can be phone numbers."""
    if not _usable_id(message.user_id, MAX_USER_ID_CHARS):
        return "user id"
    if not _usable_id(message.platform_id, MAX_MESSAGE_ID_CHARS):
        return "message id"
    for name, value in (("account id", message.account_id), ("reply-to id", message.reply_to)):
        if value is not None and not _usable_id(value, MAX_REF_CHARS):
            return name
    return None


def tidy_attachments(message: Incoming) -> Incoming:
    """`message` with attachment details that wouldn't fit their columns dropped (the attachment itself is
    kept, so the resident still gets the right answer about it)."""
    for a in message.attachments:
        if a.media_id is not None and not _usable_id(a.media_id, MAX_MEDIA_ID_CHARS):
            a.media_id = None
        if a.mime_type is not None and len(a.mime_type) > MAX_MIME_CHARS:
            a.mime_type = None
    return message


def as_list(value: Any) -> list:
    """`value` if it is a JSON array, else an empty one (a platform's optional lists are often absent)."""
    return value if isinstance(value, list) else []


def collect(
    kind: str, messages: list[Incoming], skipped: list[str], parse_one: Callable[..., Optional[Incoming]], *args: Any
) -> None:
    """Parse one event with `parse_one(*args)` and add it to `messages`, or add why not to `skipped` (by kind
    only): not a resident's message, not readable, or with an id we can't store. One bad event costs
    that event only; the rest of the batch is still handled."""
    try:
        parsed = parse_one(*args)
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError):
        # A signed body can still hold a shape we never saw (a field of another type).
        skipped.append(f"unreadable {kind}")
        return
    if parsed is None:
        skipped.append(kind)
        return
    problem = id_problem(parsed)
    if problem:
        skipped.append(f"{kind} with an unusable {problem}")
        return
    messages.append(tidy_attachments(parsed))
