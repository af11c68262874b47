"""A resident's message as every channel hands it on, whatever platform it came from.

Each platform's webhook parser turns its own JSON into `Incoming` messages; from there on (dedupe, the
work queue, the bot, the reply) nothing needs to know the platform's format.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

# What residents may send besides text that reports can use. Everything else gets a polite "can't open".
SUPPORTED_ATTACHMENTS = frozenset({"image", "location"})

# Channel -> is it public? Public channels are comments and mentions; their replies are seen by everyone.
PUBLIC_CHANNELS = frozenset({"facebook_comment", "instagram_comment", "x_mention"})


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

    `channel` is one of messenger, facebook_comment, instagram, instagram_comment, whatsapp, x, x_mention;
    `platform_id` is the platform's id for this message (the dedupe key); `user_id` the resident's id on the
    platform; `account_id` our page, Instagram account, WhatsApp number id or X account that received it;
    `reply_to` the comment or post to answer under (public channels); `sent_at` the platform's timestamp."""

    channel: str
    platform_id: str
    user_id: str
    text: str = ""
    account_id: Optional[str] = None
    reply_to: Optional[str] = None
    sent_at: Optional[dt.datetime] = None
    attachments: list[AttachmentRef] = field(default_factory=list)

    @property
    def public(self) -> bool:
        return self.channel in PUBLIC_CHANNELS

    @property
    def origin(self) -> str:
        return "public" if self.public else "private"

    @property
    def conversation_id(self) -> str:
        """The Rasa sender id: namespaced so two platforms' user ids can never collide."""
        return f"{self.channel}:{self.user_id}"

    @property
    def delivery_key(self) -> str:
        return f"{self.channel}:{self.platform_id}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sent_at"] = self.sent_at.isoformat() if self.sent_at else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Incoming":
        data = dict(data)
        data["attachments"] = [AttachmentRef(**a) for a in data.get("attachments") or []]
        data["sent_at"] = dt.datetime.fromisoformat(data["sent_at"]) if data.get("sent_at") else None
        return cls(**data)


def from_epoch(value: Any, millis: bool = False) -> Optional[dt.datetime]:
    """A platform timestamp (seconds or milliseconds since 1970, number or string) as naive UTC."""
    try:
        seconds = float(value) / (1000 if millis else 1)
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


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
