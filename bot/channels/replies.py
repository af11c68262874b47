"""Turning the bot's answer into what is actually sent: public or private, within each platform's rules.

`plan` decides (a pure function, so the policy is easy to test); `deliver` sends, respecting the
messaging window, and records every attempt.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Optional, Protocol

from bot.channels.events import Incoming
from bot.channels.limits import LIMITS, buttons_as_text, fit_one, split
from bot.channels.senders import Outgoing, Target
from bot.platforms.api import PlatformError
from knowledge import conversations
from knowledge.answers import public_invite
from knowledge.db import session_scope
from knowledge.models import Council
from knowledge.privacy import is_sensitive, personal_details, pseudonym

log = logging.getLogger(__name__)

# Where the private part of a public conversation goes, and what residents call it on that platform.
PRIVATE_SIDE = {"facebook_comment": ("messenger", "private message"),
                "instagram_comment": ("instagram", "direct message"),
                "x_mention": ("x", "DM")}


class Sender(Protocol):
    async def send(self, target: Target, out: Outgoing) -> Optional[str]: ...


@dataclass(frozen=True)
class Understanding:
    """What the bot made of the message: the intent, and for a service intent its category and whether the
    knowledge base says it always goes to a person."""

    intent: Optional[str] = None
    category: Optional[str] = None
    always_human: bool = False

    @property
    def crisis(self) -> bool:
        return self.intent == "crisis"

    @property
    def sensitive(self) -> bool:
        return is_sensitive(self.intent, self.category, self.always_human)


def plan(incoming: Incoming, bot_messages: list[dict], understood: Understanding,
         council: Optional[Council]) -> list[Outgoing]:
    """The messages to send for one bot answer.

    In private: every bot message, split to the platform's length, with its buttons where the platform has
    them (as text lines where it hasn't). In public: one short post with the link; or, if the resident
    shared personal details or the topic is sensitive, only an invitation to a private message in public
    (with 999 and 116 123 for a crisis) and the answer itself privately."""
    texts = [m["text"] for m in bot_messages if m.get("text")]
    buttons = [b for m in bot_messages for b in m.get("buttons") or [] if b.get("title")]
    if incoming.public:
        whole = "\n".join(texts + ([buttons_as_text(buttons)] if buttons else []))
        if not (personal_details(incoming.text) or understood.sensitive):
            return [Outgoing("public_reply", fit_one(whole, LIMITS[incoming.channel]))] if whole else []
        private_channel, word = PRIVATE_SIDE[incoming.channel]
        invite = Outgoing("public_reply", public_invite(council, understood.crisis, word))
        private_limits = LIMITS[private_channel]
        if incoming.channel == "x_mention":  # DMs: as many messages as needed
            return [invite] + [Outgoing("private_reply", chunk) for chunk in split(whole, private_limits)]
        # Meta allows one private reply per comment: it must hold the whole answer.
        return [invite, Outgoing("private_reply", fit_one(whole, private_limits))] if whole else [invite]
    limits = LIMITS.get(incoming.channel, LIMITS["x"])
    has_buttons = bool(limits.quick_replies or limits.reply_buttons)
    out: list[Outgoing] = []
    for message in bot_messages:
        text, choices = message.get("text") or "", [b for b in message.get("buttons") or [] if b.get("title")]
        if choices and not has_buttons:
            text, choices = f"{text}\n{buttons_as_text(choices)}".strip(), []
        chunks = split(text, limits) or ([""] if choices else [])
        if choices and limits.interactive_chars and len(chunks[-1]) > limits.interactive_chars:
            # The buttons ride on the last chunk, whose text limit is shorter: split that one again.
            chunks = chunks[:-1] + split(chunks[-1], limits, max_chars=limits.interactive_chars)
        for i, chunk in enumerate(chunks):
            out.append(Outgoing("message", chunk or "Choose one:", choices if i == len(chunks) - 1 else []))
    return out


async def deliver(sender: Sender, target: Target, conversation_id: str, outgoing: list[Outgoing],
                  last_inbound_at: Optional[dt.datetime], now: Optional[dt.datetime] = None) -> list[str]:
    """Send each message in order; returns each one's status (sent, failed, outside_window), also recorded
    in `outbound_messages`. Outside the platform's window nothing free-form is sent: the platform would
    refuse it, and repeated refusals put the page's messaging at risk."""
    statuses = []
    for out in outgoing:
        now_ = now or conversations.utcnow()
        window = None if out.kind == "public_reply" or target.channel == "x_mention" else LIMITS[target.channel].window
        if window is not None and (last_inbound_at is None or now_ - last_inbound_at > window):
            status, msg_id, error = "outside_window", None, f"last message from resident over {window} ago"
            log.warning("not sending on %s to conversation %s: outside the messaging window",
                        target.channel, pseudonym(conversation_id))
        else:
            try:
                msg_id, status, error = await sender.send(target, out), "sent", None
            except PlatformError as exc:  # already logged by the client, without content
                msg_id, status, error = None, "failed", str(exc)
        await asyncio.to_thread(_record, conversation_id, target.channel, out.kind, status, msg_id, error)
        statuses.append(status)
    return statuses


def _record(conversation_id: str, channel: str, kind: str, status: str, msg_id: Optional[str],
            error: Optional[str]) -> None:
    with session_scope() as session:
        conversations.record_outbound(session, conversation_id, channel, kind, status, msg_id, error)
