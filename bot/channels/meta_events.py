"""Meta's webhook JSON (Messenger, Facebook page feed, Instagram, WhatsApp Cloud API) as `Incoming` messages.

One Meta app can deliver all four products to one callback URL; `object` says which. Events that are not
a resident's new message (delivery and read receipts, our own echoes, edits, WhatsApp statuses) are
skipped and counted, so the webhook can log what it ignored without logging content.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, Optional

from bot.channels.events import AttachmentRef, BadPayload, Incoming, from_epoch
from bot.channels.events import as_dict as _dict
from bot.channels.events import as_list as _list
from bot.channels.events import as_str as _str
from bot.channels.events import collect as _collect
from knowledge.channels import for_webhook

_NAME = re.compile(r"[a-z_]{1,40}")


def _text(value: object) -> str:
    """A message's text as the platform sent it, or "" if it sent none (or something that isn't text)."""
    return value if isinstance(value, str) else ""


def parse(payload: Any) -> tuple[list[Incoming], list[str]]:
    """(messages, kinds of event skipped) from one Meta webhook body. One event we can't use (a field of
    the wrong type, an id no platform would send, no time to tell a replay by) is skipped and counted; the
    rest of the batch is still handled."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise BadPayload("expected an object with an 'entry' list")
    obj = payload.get("object")
    messages: list[Incoming] = []
    skipped: list[str] = []
    for entry in payload["entry"]:
        entry = _dict(entry)
        account = _str(entry.get("id"))
        entry_time = from_epoch(entry.get("time"), millis=None)
        if obj in ("page", "instagram"):
            private_channel = for_webhook(obj, public=False).name  # messenger or instagram
            for item in _list(entry.get("messaging")):
                _collect(
                    f"{private_channel} event",
                    messages,
                    skipped,
                    _messaging,
                    _dict(item),
                    private_channel,
                    account,
                    entry_time,
                )
            for change in _list(entry.get("changes")):
                change = _dict(change)
                kind = f"{obj} {_label(change.get('field'), 'change')}"
                if obj == "page":
                    _collect(kind, messages, skipped, _page_comment, change, account, entry_time)
                else:
                    _collect(kind, messages, skipped, _instagram_comment, change, account, entry_time)
        elif obj == "whatsapp_business_account":
            for change in _list(entry.get("changes")):
                value = _dict(_dict(change).get("value"))
                phone_id = _str(_dict(value.get("metadata")).get("phone_number_id"))
                for msg in _list(value.get("messages")):
                    _collect("whatsapp message", messages, skipped, _whatsapp, _dict(msg), phone_id)
                if value.get("statuses"):
                    skipped.append("whatsapp status")
        else:
            skipped.append(f"object {_label(obj, 'unnamed')}")
    return messages, skipped


def _label(value: Any, default: str) -> str:
    """A field or object name from the body for the log: a plain name, else `default` (the log names
    kinds of event, never content)."""
    return value if isinstance(value, str) and _NAME.fullmatch(value) else default


def _messaging(
    item: dict, channel: str, account: Optional[str], entry_time: Optional[dt.datetime]
) -> Optional[Incoming]:
    """A Messenger or Instagram direct message, quick reply or button postback."""
    sender = _str(_dict(item.get("sender")).get("id"))
    sent_at = from_epoch(item.get("timestamp"), millis=True) or entry_time
    message, postback = _dict(item.get("message")), _dict(item.get("postback"))
    if not sender or sender == account:
        return None
    if message and not message.get("is_echo") and not message.get("is_deleted"):
        mid = _str(message.get("mid"))
        if not mid:
            return None
        payload = _str(_dict(message.get("quick_reply")).get("payload"))
        text = payload or _text(message.get("text"))
        attachments = [a for a in (_meta_attachment(_dict(x)) for x in _list(message.get("attachments"))) if a]
        return Incoming(
            channel=channel,
            platform_id=mid,
            user_id=sender,
            text=text,
            account_id=account,
            sent_at=sent_at,
            attachments=attachments,
            choice=bool(payload),
        )
    if postback:
        pid = _str(postback.get("mid")) or f"postback-{sender}-{item.get('timestamp')}"
        text = _str(postback.get("payload")) or _str(postback.get("title")) or ""
        return Incoming(
            channel=channel,
            platform_id=pid,
            user_id=sender,
            text=text,
            account_id=account,
            sent_at=sent_at,
            choice=bool(_str(postback.get("payload"))),
        )
    return None


def _meta_attachment(att: dict) -> Optional[AttachmentRef]:
    kind = att.get("type")
    payload = _dict(att.get("payload"))
    if kind == "location":
        coords = _dict(payload.get("coordinates"))
        return AttachmentRef(kind="location", latitude=_float(coords.get("lat")), longitude=_float(coords.get("long")))
    if payload.get("sticker_id"):
        return AttachmentRef(kind="sticker", url=_str(payload.get("url")))
    if kind in ("image", "video", "audio", "file"):
        return AttachmentRef(kind=kind, url=_str(payload.get("url")))
    if kind:
        return AttachmentRef(kind="file", url=_str(payload.get("url")))
    return None


def _page_comment(change: dict, page_id: Optional[str], entry_time: Optional[dt.datetime]) -> Optional[Incoming]:
    """A new comment (or reply) on one of the page's posts. The page's own comments are our replies.
    Like an Instagram comment, one with no usable time is skipped (see `_instagram_comment`)."""
    value = _dict(change.get("value"))
    if change.get("field") != "feed" or value.get("item") != "comment" or value.get("verb") != "add":
        return None
    comment_id = _str(value.get("comment_id"))
    author = _str(_dict(value.get("from")).get("id"))
    if not comment_id or not author or author == page_id:
        return None
    sent_at = from_epoch(value.get("created_time")) or entry_time
    if sent_at is None:
        return None
    attachments = [AttachmentRef(kind="image", url=_str(value["photo"]))] if _str(value.get("photo")) else []
    return Incoming(
        channel="facebook_comment",
        platform_id=comment_id,
        user_id=author,
        text=_text(value.get("message")),
        account_id=page_id,
        reply_to=comment_id,
        sent_at=sent_at,
        attachments=attachments,
    )


def _instagram_comment(change: dict, ig_id: Optional[str], entry_time: Optional[dt.datetime]) -> Optional[Incoming]:
    """A comment on the council's Instagram media (residents' @mentions of us there arrive the same way).

    Instagram's comment webhook carries no time of its own, so the entry's `time` (when Meta sent the
    batch) stands in: without one, a signed body replayed after the dedupe window could not be told from
    a new comment and would be answered again, so a comment without a usable time is skipped."""
    value = _dict(change.get("value"))
    if change.get("field") not in ("comments", "live_comments"):
        return None
    comment_id = _str(value.get("id"))
    author = _str(_dict(value.get("from")).get("id"))
    if not comment_id or not author or author == ig_id:
        return None
    sent_at = from_epoch(value.get("timestamp"), millis=None) or entry_time
    if sent_at is None:
        return None
    return Incoming(
        channel="instagram_comment",
        platform_id=comment_id,
        user_id=author,
        text=_text(value.get("text")),
        account_id=ig_id,
        reply_to=comment_id,
        sent_at=sent_at,
    )


def _whatsapp(msg: dict, phone_id: Optional[str]) -> Optional[Incoming]:
    """A WhatsApp Cloud API message: text, a reply button or list choice, or media/location."""
    wamid, sender, kind = _str(msg.get("id")), _str(msg.get("from")), msg.get("type")
    if not wamid or not sender or not isinstance(kind, str) or kind in ("reaction", "system", "ephemeral"):
        return None
    text, attachments, chosen = "", [], kind in ("interactive", "button")
    if kind == "text":
        text = _str(_dict(msg.get("text")).get("body")) or ""
    elif kind == "interactive":
        inter = _dict(msg.get("interactive"))
        choice = _dict(inter.get("button_reply")) or _dict(inter.get("list_reply"))
        text = _str(choice.get("id")) or _str(choice.get("title")) or ""
    elif kind == "button":
        button = _dict(msg.get("button"))
        text = _str(button.get("payload")) or _str(button.get("text")) or ""
    elif kind == "location":
        loc = _dict(msg.get("location"))
        attachments.append(
            AttachmentRef(kind="location", latitude=_float(loc.get("latitude")), longitude=_float(loc.get("longitude")))
        )
    else:
        media = _dict(msg.get(kind))
        text = _str(media.get("caption")) or ""
        ref_kind = {"image": "image", "video": "video", "audio": "audio", "voice": "audio", "sticker": "sticker"}.get(
            str(kind), "file"
        )
        attachments.append(
            AttachmentRef(kind=ref_kind, media_id=_str(media.get("id")), mime_type=_str(media.get("mime_type")))
        )
    return Incoming(
        channel="whatsapp",
        platform_id=wamid,
        user_id=sender,
        text=text,
        account_id=phone_id,
        sent_at=from_epoch(msg.get("timestamp")),
        attachments=attachments,
        choice=chosen,
    )


def _float(value: Any) -> Optional[float]:
    """A coordinate as a finite number, else None (NaN or infinity can't be stored as JSON)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
