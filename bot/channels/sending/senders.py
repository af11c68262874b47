"""How a reply goes out on each platform: the API call and its JSON, and nothing else.

`send` takes one planned message (`Outgoing`) for one conversation and returns the platform's id for what
it sent. Limits and policy were applied before: these functions only speak each platform's dialect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from bot.channels.sending.limits import shorten
from bot.platforms.api import ApiClient
from knowledge.channels import channel, text_limits


@dataclass
class Outgoing:
    """One message to send. `kind`: message (in a private conversation), human_agent (a staff member's message
    in a private Messenger or Instagram conversation: sent with Meta's HUMAN_AGENT tag, so it may go up to 7
    days after the resident's last message), public_reply (under the comment or post), private_reply
    (privately to the author of a public comment or post), template (WhatsApp past 24 hours: the approved
    template inviting the resident back; `text` is its name and `language` its language code)."""

    kind: str
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)
    language: Optional[str] = None


@dataclass
class Target:
    """Where a conversation's replies go: the resident's id on the platform, the account that received the
    message (page, Instagram account, WhatsApp number id, X account) and the public post to answer under."""

    channel: str
    user_id: str
    account_id: Optional[str] = None
    reply_to: Optional[str] = None


class MetaSender:
    """Messenger, Facebook comments, Instagram and WhatsApp through the Graph API."""

    def __init__(self, graph: ApiClient, whatsapp: Optional[ApiClient] = None):
        self.graph = graph
        self.whatsapp = whatsapp or graph

    async def send(self, target: Target, out: Outgoing) -> Optional[str]:
        ch, account = target.channel, target.account_id or "me"
        if ch == "whatsapp":
            wa = (
                whatsapp_template(target.user_id, out.text, out.language or "")
                if out.kind == "template"
                else whatsapp_message(target.user_id, out)
            )
            return _id(await self.whatsapp.post(f"{account}/messages", wa))
        if ch in ("messenger", "instagram"):
            body: dict[str, Any] = {"recipient": {"id": target.user_id}, "message": messenger_message(out, ch)}
            if out.kind == "human_agent":
                body.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
            else:
                body["messaging_type"] = "RESPONSE"
            return _id(await self.graph.post(f"{account}/messages", body))
        if channel(ch).one_private_reply and out.kind == "private_reply":
            # One private reply per comment: it lands in the resident's inbox and the conversation
            # continues there (Messenger or Instagram Direct).
            body = {"recipient": {"comment_id": target.reply_to}, "message": {"text": out.text}}
            return _id(await self.graph.post(f"{account}/messages", body))
        if ch == "facebook_comment":
            return _id(await self.graph.post(f"{target.reply_to}/comments", {"message": out.text}))
        if ch == "instagram_comment":
            return _id(await self.graph.post(f"{target.reply_to}/replies", {"message": out.text}))
        raise ValueError(f"MetaSender can't send on channel {ch!r}")


class XSender:
    """Replies to mentions as threaded posts, and direct messages, through the X API v2."""

    def __init__(self, api: ApiClient):
        self.api = api

    async def send(self, target: Target, out: Outgoing) -> Optional[str]:
        if target.channel == "x_mention" and out.kind == "public_reply":
            body = {"text": out.text, "reply": {"in_reply_to_tweet_id": target.reply_to}}
            return _id(await self.api.post("2/tweets", body))
        if target.channel in ("x", "x_mention"):
            data = await self.api.post(f"2/dm_conversations/with/{target.user_id}/messages", {"text": out.text})
            return _id(data, "dm_event_id")
        raise ValueError(f"XSender can't send on channel {target.channel!r}")


def messenger_message(out: Outgoing, channel_name: str) -> dict[str, Any]:
    """Send API message: text, with buttons as quick replies (13 at most, titles of 20 characters)."""
    limits = text_limits(channel_name)
    message: dict[str, Any] = {"text": out.text}
    if out.buttons and limits.quick_replies:
        message["quick_replies"] = [
            {
                "content_type": "text",
                "title": shorten(b["title"], limits.quick_reply_chars),
                "payload": b.get("payload") or b["title"],
            }
            for b in out.buttons[: limits.quick_replies]
        ]
    return message


def whatsapp_template(to: str, name: str, language: str) -> dict[str, Any]:
    """Cloud API template message: the council's approved template `name` in `language` (e.g. en_GB), with
    no placeholders, so nothing the resident or staff wrote goes into it. `deterministic`: Meta's only
    language policy, the template in exactly that language or an error."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {"name": name, "language": {"policy": "deterministic", "code": language}},
    }


def whatsapp_message(to: str, out: Outgoing) -> dict[str, Any]:
    """Cloud API message: plain text, or with choices as up to 3 reply buttons, or a list of up to 10."""
    limits = text_limits("whatsapp")
    base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    if not out.buttons:
        return {**base, "type": "text", "text": {"body": out.text, "preview_url": True}}
    # `plan` already keeps text that carries buttons within the limit; this cut is only a last guard
    # against a message the platform would refuse outright.
    body = {"text": out.text[: limits.interactive_chars]}
    choices = out.buttons[: limits.list_rows]
    if len(choices) <= limits.reply_buttons:
        action: dict[str, Any] = {
            "buttons": [
                {
                    "type": "reply",
                    "reply": {
                        "id": (b.get("payload") or b["title"])[:256],
                        "title": shorten(b["title"], limits.button_chars),
                    },
                }
                for b in choices
            ]
        }
        return {**base, "type": "interactive", "interactive": {"type": "button", "body": body, "action": action}}
    rows = [
        {"id": (b.get("payload") or b["title"])[:200], "title": shorten(b["title"], limits.row_chars)} for b in choices
    ]
    action = {"button": "Choose", "sections": [{"title": "Options", "rows": rows}]}
    return {**base, "type": "interactive", "interactive": {"type": "list", "body": body, "action": action}}


def _id(data: dict[str, Any], key: str = "id") -> Optional[str]:
    """The id of what was sent, wherever this API puts it."""
    for candidate in (
        data.get("message_id"),
        data.get(key),
        (data.get("data") or {}).get(key) if isinstance(data.get("data"), dict) else None,
        (data.get("messages") or [{}])[0].get("id") if isinstance(data.get("messages"), list) else None,
    ):
        if candidate:
            return str(candidate)
    return None
