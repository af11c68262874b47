"""Webhook bodies shaped as Meta and X document them, for one resident message each."""

from __future__ import annotations

import time
from itertools import count
from typing import Any, Optional

PAGE_ID = "1000001"
IG_ID = "17841400000001"
PHONE_NUMBER_ID = "106540352242922"
X_ACCOUNT = "2244994945"
_seq = count(1)


def _uid(prefix: str) -> str:
    return f"{prefix}{next(_seq)}-{time.time_ns()}"


def _now_ms(offset_s: float = 0) -> int:
    return int((time.time() + offset_s) * 1000)


def messenger(
    psid: str,
    text: Optional[str] = None,
    mid: Optional[str] = None,
    attachments: Optional[list] = None,
    quick_reply: Optional[str] = None,
    offset_s: float = 0,
    obj: str = "page",
    account: str = PAGE_ID,
) -> dict[str, Any]:
    message: dict[str, Any] = {"mid": mid or _uid("m_")}
    if text is not None:
        message["text"] = text
    if attachments:
        message["attachments"] = attachments
    if quick_reply:
        message["quick_reply"] = {"payload": quick_reply}
    return {
        "object": obj,
        "entry": [
            {
                "id": account,
                "time": _now_ms(offset_s),
                "messaging": [
                    {
                        "sender": {"id": psid},
                        "recipient": {"id": account},
                        "timestamp": _now_ms(offset_s),
                        "message": message,
                    }
                ],
            }
        ],
    }


def instagram_dm(igsid: str, text: str, mid: Optional[str] = None) -> dict[str, Any]:
    return messenger(igsid, text, mid=mid, obj="instagram", account=IG_ID)


def page_comment(
    user_id: str, text: str, comment_id: Optional[str] = None, name: str = "Sam Resident", offset_s: float = 0
) -> dict[str, Any]:
    comment_id = comment_id or _uid(f"{PAGE_ID}_")
    return {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "time": int(time.time()),
                "changes": [
                    {
                        "field": "feed",
                        "value": {
                            "from": {"id": user_id, "name": name},
                            "post_id": f"{PAGE_ID}_555",
                            "comment_id": comment_id,
                            "parent_id": f"{PAGE_ID}_555",
                            "item": "comment",
                            "verb": "add",
                            "message": text,
                            "created_time": int(time.time() + offset_s),
                        },
                    }
                ],
            }
        ],
    }


def instagram_comment(user_id: str, text: str, comment_id: Optional[str] = None) -> dict[str, Any]:
    return {
        "object": "instagram",
        "entry": [
            {
                "id": IG_ID,
                "time": int(time.time()),
                "changes": [
                    {
                        "field": "comments",
                        "value": {
                            "from": {"id": user_id, "username": "resident"},
                            "media": {"id": "1790000", "media_product_type": "FEED"},
                            "id": comment_id or _uid("1800"),
                            "text": text,
                        },
                    }
                ],
            }
        ],
    }


def whatsapp(wa_id: str, message: dict[str, Any], offset_s: float = 0) -> dict[str, Any]:
    """`message` is the type-specific part, e.g. {"type": "text", "text": {"body": "hi"}}."""
    msg = {
        "from": wa_id,
        "id": message.pop("id", None) or _uid("wamid.HBg"),
        "timestamp": str(int(time.time() + offset_s)),
        **message,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "441234567890", "phone_number_id": PHONE_NUMBER_ID},
                            "contacts": [{"profile": {"name": "Resident"}, "wa_id": wa_id}],
                            "messages": [msg],
                        },
                    }
                ],
            }
        ],
    }


def whatsapp_text(wa_id: str, text: str, wamid: Optional[str] = None, offset_s: float = 0) -> dict[str, Any]:
    return whatsapp(wa_id, {"id": wamid, "type": "text", "text": {"body": text}}, offset_s=offset_s)


def x_mention(user_id: str, text: str, tweet_id: Optional[str] = None) -> dict[str, Any]:
    tweet_id = tweet_id or str(time.time_ns())
    return {
        "for_user_id": X_ACCOUNT,
        "tweet_create_events": [
            {
                "created_at": "Sun Nov 22 09:00:00 +0000 2026",
                "id_str": tweet_id,
                "text": f"@NorthshireCC {text}",
                "user": {"id_str": user_id, "screen_name": "resident"},
                "timestamp_ms": str(_now_ms()),
                "entities": {"user_mentions": [{"id_str": X_ACCOUNT, "screen_name": "NorthshireCC"}]},
            }
        ],
    }


def x_dm(user_id: str, text: str, event_id: Optional[str] = None) -> dict[str, Any]:
    return {
        "for_user_id": X_ACCOUNT,
        "direct_message_events": [
            {
                "type": "message_create",
                "id": event_id or str(time.time_ns()),
                "created_timestamp": str(_now_ms()),
                "message_create": {
                    "target": {"recipient_id": X_ACCOUNT},
                    "sender_id": user_id,
                    "message_data": {"text": text, "entities": {}},
                },
            }
        ],
        "users": {user_id: {"id": user_id, "screen_name": "resident"}},
    }
