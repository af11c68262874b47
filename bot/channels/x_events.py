"""X's Account Activity webhook JSON (mentions and direct messages) as `Incoming` messages.

X sends our own tweets and DMs back to us too; those, likes, follows and typing indicators are skipped.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from bot.channels.events import AttachmentRef, BadPayload, Incoming, as_list, collect, from_epoch
from bot.channels.events import as_dict as _dict
from bot.channels.events import as_str as _str

# "@NorthshireCC @someone the bins weren't collected" -> "the bins weren't collected"
LEADING_MENTIONS = re.compile(r"^(?:\s*@\w{1,15})+\s*")


def parse(payload: Any) -> tuple[list[Incoming], list[str]]:
    """(messages, kinds of event skipped) from one Account Activity body."""
    if not isinstance(payload, dict) or not _str(payload.get("for_user_id")):
        raise BadPayload("expected an object with 'for_user_id'")
    account = _str(payload["for_user_id"])
    messages: list[Incoming] = []
    skipped: list[str] = []
    for tweet in as_list(payload.get("tweet_create_events")):
        collect("x tweet", messages, skipped, _mention, _dict(tweet), account)
    for event in as_list(payload.get("direct_message_events")):
        collect("x dm event", messages, skipped, _direct_message, _dict(event), account)
    for key in payload:
        if key.endswith("_events") and key not in ("tweet_create_events", "direct_message_events"):
            skipped.append(f"x {key[:40]}")
    return messages, skipped


def _mention(tweet: dict, account: Optional[str]) -> Optional[Incoming]:
    tweet_id, author = _str(tweet.get("id_str")), _str(_dict(tweet.get("user")).get("id_str"))
    if not tweet_id or not author or author == account or tweet.get("retweeted_status"):
        return None
    text = _text(_dict(tweet.get("extended_tweet")).get("full_text")) or _text(tweet.get("text"))
    media = as_list(_dict(tweet.get("extended_entities")).get("media"))
    attachments = [
        AttachmentRef(kind="image" if m.get("type") == "photo" else "video", url=_str(m.get("media_url_https")))
        for m in map(_dict, media)
    ]
    return Incoming(
        channel="x_mention",
        platform_id=tweet_id,
        user_id=author,
        text=LEADING_MENTIONS.sub("", text),
        account_id=account,
        reply_to=tweet_id,
        sent_at=from_epoch(tweet.get("timestamp_ms"), millis=True),
        attachments=attachments,
    )


def _direct_message(event: dict, account: Optional[str]) -> Optional[Incoming]:
    create = _dict(event.get("message_create"))
    event_id, sender = _str(event.get("id")), _str(create.get("sender_id"))
    if event.get("type") != "message_create" or not event_id or not sender or sender == account:
        return None
    data = _dict(create.get("message_data"))
    quick = _str(_dict(data.get("quick_reply_response")).get("metadata"))
    media = _dict(_dict(data.get("attachment")).get("media"))
    attachments = []
    if media:
        attachments.append(
            AttachmentRef(
                kind="image" if media.get("type") == "photo" else "video", url=_str(media.get("media_url_https"))
            )
        )
    text = quick or _text(data.get("text"))
    if media and _str(media.get("url")):
        text = text.replace(str(media["url"]), "").strip()  # X appends the media's t.co link to the text
    return Incoming(
        channel="x",
        platform_id=event_id,
        user_id=sender,
        text=text,
        account_id=account,
        sent_at=from_epoch(event.get("created_timestamp"), millis=True),
        attachments=attachments,
        choice=bool(quick),
    )


def _text(value: Any) -> str:
    """A text field as a string; anything else (a number, an object) counts as no text."""
    return value if isinstance(value, str) else ""
