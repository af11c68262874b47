"""X API v2 timeline pages (the mentions timeline and DM events) as `Incoming` messages, for polling mode.

The same channels and ids as the Account Activity webhook (`x_events.py`): a mention is `x_mention` keyed by
its post id, a DM is `x` keyed by its DM event id, so a message that arrives both ways is answered once.

Shapes used (X API v2 reference, docs.x.com: "GET /2/users/:id/mentions" and "GET /2/dm_events"):
- a page is `{"data": [...], "includes": {"media": [...]}, "meta": {"next_token", "newest_id", ...}}`;
  `data` is absent when there is nothing new;
- a post has `id`, `text`, `author_id`, `created_at` (ISO 8601, "2024-01-15T10:30:00.000Z"),
  `attachments.media_keys` and `referenced_tweets` (`type` retweeted, quoted or replied_to);
- a DM event has `id`, `event_type` (MessageCreate), `text`, `sender_id`, `dm_conversation_id`,
  `created_at` and `attachments.media_keys`;
- `includes.media[]` has `media_key`, `type` (photo, video, animated_gif), `url` (photos) and
  `preview_image_url` (videos).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from bot.channels.events import AttachmentRef, Incoming, as_list, collect, from_epoch
from bot.channels.events import as_dict as _dict
from bot.channels.events import as_str as _str
from bot.channels.x_events import LEADING_MENTIONS

# X appends the media's t.co link to the text of a post or DM carrying a photo or video.
_TRAILING_TCO = re.compile(r"\s*https://t\.co/\w+\s*$")


@dataclass
class Page:
    """One page of a timeline: the residents' messages on it, what was skipped (by kind only), every id
    on it (ours and skipped ones too: they have been seen, so the cursor moves past them) and the token
    of the next (older) page."""

    messages: list[Incoming] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    next_token: Optional[str] = None


def numeric_id(value: Any) -> Optional[int]:
    """An X id as a number (ids are snowflakes: a later post has a larger id), or None if it isn't one."""
    text = _str(value)
    return int(text) if text is not None and text.isascii() and text.isdigit() and len(text) <= 25 else None


def mentions_page(payload: Any, account: str) -> Page:
    """A page of `GET /2/users/{account}/mentions`."""
    return _page(payload, account, "x mention", _mention)


def dm_page(payload: Any, account: str) -> Page:
    """A page of `GET /2/dm_events` (newest first)."""
    return _page(payload, account, "x dm event", _direct_message)


def _page(payload: Any, account: str, kind: str, parse_one: Any) -> Page:
    body = _dict(payload)
    media = {_str(m.get("media_key")): m for m in map(_dict, as_list(_dict(body.get("includes")).get("media")))}
    page = Page(next_token=_str(_dict(body.get("meta")).get("next_token")))
    for item in map(_dict, as_list(body.get("data"))):
        number = numeric_id(item.get("id"))
        if number is None:
            page.skipped.append(f"{kind} with an unusable id")
            continue
        page.ids.append(number)
        collect(kind, page.messages, page.skipped, parse_one, item, account, media)
    return page


def _mention(post: dict, account: str, media: dict) -> Optional[Incoming]:
    post_id, author = _str(post.get("id")), _str(post.get("author_id"))
    retweet = any(_dict(r).get("type") == "retweeted" for r in as_list(post.get("referenced_tweets")))
    if not post_id or not author or author == account or retweet:
        return None  # our own posts (replies to residents mention us too) and retweets are not questions
    attachments = _attachments(post, media)
    text = _str(post.get("text")) or ""
    if attachments:
        text = _TRAILING_TCO.sub("", text)
    return Incoming(
        channel="x_mention",
        platform_id=post_id,
        user_id=author,
        text=LEADING_MENTIONS.sub("", text),
        account_id=account,
        reply_to=post_id,
        sent_at=_when(post.get("created_at")),
        attachments=attachments,
    )


def _direct_message(event: dict, account: str, media: dict) -> Optional[Incoming]:
    event_id, sender = _str(event.get("id")), _str(event.get("sender_id"))
    if event.get("event_type") != "MessageCreate" or not event_id or not sender or sender == account:
        return None
    conversation = _str(event.get("dm_conversation_id"))
    if conversation is not None and conversation not in (f"{sender}-{account}", f"{account}-{sender}"):
        # A group conversation: our replies go to the sender one to one, which would take what the group
        # said into a private thread. Group DMs are not a way residents reach the council.
        return None
    attachments = _attachments(event, media)
    text = _str(event.get("text")) or ""
    if attachments:
        text = _TRAILING_TCO.sub("", text)
    return Incoming(
        channel="x",
        platform_id=event_id,
        user_id=sender,
        text=text.strip(),
        account_id=account,
        sent_at=_when(event.get("created_at")),
        attachments=attachments,
    )


def _attachments(item: dict, media: dict) -> list[AttachmentRef]:
    found = []
    for key in as_list(_dict(item.get("attachments")).get("media_keys")):
        m = media.get(_str(key))
        if m is None:
            continue
        photo = m.get("type") == "photo"
        url = _str(m.get("url")) if photo else _str(m.get("preview_image_url"))
        found.append(AttachmentRef(kind="image" if photo else "video", url=url))
    return found


def _when(value: Any) -> Optional[dt.datetime]:
    """X's ISO 8601 `created_at` as naive UTC (None if missing or not a time between 2000 and 2100)."""
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return from_epoch(when.timestamp())
