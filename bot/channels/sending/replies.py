"""Turning the bot's answer into what is actually sent: public or private, within each platform's rules.

`plan` decides (a pure function, so the policy is easy to test); `planned` turns the decision into rows for
the durable outbound queue with their messaging-window limits; `deliver` queues and sends at once (staff
replies).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Protocol

from bot.channels.events import Incoming
from bot.channels.sending.limits import buttons_as_text, fit_one, split
from bot.channels.sending.senders import Outgoing, Target
from knowledge.answers import public_invite
from knowledge.channels import channel, private_side, text_limits
from knowledge.db import session_scope
from knowledge.delivery import conversations, outbox
from knowledge.models import Council
from knowledge.personal_data.privacy import is_sensitive, personal_details

if TYPE_CHECKING:
    from bot.channels.sending.dispatch import Dispatcher

log = logging.getLogger(__name__)


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


def plan(
    incoming: Incoming, bot_messages: list[dict], understood: Understanding, council: Optional[Council]
) -> list[Outgoing]:
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
            return [Outgoing("public_reply", fit_one(whole, text_limits(incoming.channel)))] if whole else []
        here, private = channel(incoming.channel), private_side(incoming.channel)
        invite = Outgoing("public_reply", public_invite(council, understood.crisis, here.private_word or "message"))
        if not here.one_private_reply:  # X DMs: as many messages as needed
            return [invite] + [Outgoing("private_reply", chunk) for chunk in split(whole, text_limits(private.name))]
        # Meta allows one private reply per comment: it must hold the whole answer.
        return [invite, Outgoing("private_reply", fit_one(whole, text_limits(private.name)))] if whole else [invite]
    limits = text_limits(incoming.channel)
    has_buttons = limits.has_buttons
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


def planned(
    target: Target,
    outgoing: list[Outgoing],
    last_inbound_at: Optional[dt.datetime],
    now: dt.datetime,
    retry_for: dt.timedelta,
) -> list[outbox.Planned]:
    """The messages as rows for the outbound queue, each with where it goes, when the platform's messaging
    window closes for it (public replies and X have none; no message from the resident yet: closed) and
    when retrying stops (the window's end, or `retry_for` from now if sooner)."""
    rows = []
    for out in outgoing:
        # A public reply has no window, nor has WhatsApp's approved template (it exists to reach a resident
        # after the window); a private one follows the channel's (a comment's: its private reply's).
        here = channel(target.channel)
        window = (
            None
            if out.kind in ("public_reply", "template")
            else here.staff_window
            if out.kind == "human_agent"
            else here.window
        )
        ends = None if window is None else (last_inbound_at or dt.datetime.min) + window
        give_up = now + retry_for if ends is None else min(ends, now + retry_for)
        where = {"user_id": target.user_id, "account_id": target.account_id, "reply_to": target.reply_to}
        if out.language:
            where["language"] = out.language  # a template's language travels with the row
        rows.append(
            outbox.Planned(
                out.kind,
                out.text,
                where,
                give_up,
                ends,
                list(out.buttons),
            )
        )
    return rows


async def deliver(
    dispatcher: Dispatcher,
    target: Target,
    conversation_id: str,
    outgoing: list[Outgoing],
    last_inbound_at: Optional[dt.datetime],
    case_message_id: Optional[int] = None,
) -> list[str]:
    """Queue the messages, then send what can go now. Returns each one's status as staff see it (sent,
    queued: waiting for a retry or for earlier messages, failed, unknown, outside_window). Outside the
    platform's window nothing free-form is sent: the platform would refuse it, and repeated refusals put
    the page's messaging at risk."""
    now = conversations.utcnow()
    rows = planned(target, outgoing, last_inbound_at, now, dispatcher.config.retry_for)

    def store() -> list[int]:
        with session_scope() as session:
            return outbox.queue(session, conversation_id, target.channel, rows, now, case_message_id=case_message_id)

    ids = await asyncio.to_thread(store)
    await dispatcher.send_now(conversation_id)

    def read() -> list[str]:
        with session_scope() as session:
            return [outbox.staff_status(s) for s in outbox.statuses(session, ids)]

    return await asyncio.to_thread(read)
