"""Messages that start with staff, not with a resident's message: replies from the console and the
satisfaction question. They go out on the channel the resident used, within the same platform rules.

Web chat and REST residents can't be pushed to: their messages wait in the case timeline and the page
polls for them (`GET /webhooks/webchat/updates`), so "queued" is their success.

On the platforms, a staff reply goes through the same durable queue as the bot's answers (in order with
them): it is written down first, then sent at once if the platform answers; if not, the Rasa server's
sender keeps trying and the case page shows the row's status as it changes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Optional

from sqlalchemy import select

from bot.channels.config import DeliveryConfig, MetaConfig, XConfig
from bot.channels.sending.dispatch import Dispatcher
from bot.channels.sending.limits import split
from bot.channels.sending.replies import Sender, deliver, planned
from bot.channels.sending.senders import MetaSender, Outgoing, Target, XSender
from knowledge.channels import HUMAN_AGENT_TAG, META, TEMPLATE_ONLY, Reach, X, private_side, staff_reach, text_limits
from knowledge.channels import channel as channel_of
from knowledge.db import session_scope
from knowledge.delivery import invitations, outbox
from knowledge.delivery.claims import Claimer
from knowledge.delivery.conversations import utcnow
from knowledge.models import Conversation
from knowledge.personal_data.privacy import pseudonym
from knowledge.settings import settings

log = logging.getLogger(__name__)


def _sender_for(name: str) -> Optional[Sender]:
    platform = channel_of(name).platform
    if platform == META:
        meta = MetaConfig.from_env()
        return None if meta.missing() else MetaSender(meta.graph(), meta.whatsapp())
    if platform == X:
        x = XConfig.from_env()
        return None if x.missing() else XSender(x.api())
    return None


_claimer: Optional[Claimer] = None


def _console_claimer(config: DeliveryConfig) -> Claimer:
    """This process's claimer for the messages it sends (one per process, so a claim names one sender)."""
    global _claimer
    if _claimer is None:
        _claimer = Claimer(config.replica_for(None, role="console"))
    return _claimer


async def send_to_resident(
    conversation_id: str,
    channel: str,
    text: str,
    buttons: Optional[list[dict[str, str]]] = None,
    case_message_id: Optional[int] = None,
    from_staff: bool = False,
) -> str:
    """Send `text` into the conversation. Returns the status to show staff: queued (web chat/REST: the
    page collects it; platforms: waiting for a retry or for earlier messages), sent, failed, unknown (no
    answer from the platform: it may have arrived), outside_window (the platform's messaging window has
    closed) or too_long (a private reply to a comment must be one message within the limit of the inbox it
    lands in: 2,000 characters for a Facebook comment's, 1,000 for an Instagram comment's).
    `case_message_id`: the case timeline line that shows this reply's status as it changes. `from_staff`: a
    person wrote it, so on Messenger and Instagram it carries the HUMAN_AGENT tag and may go up to 7 days after
    the resident's last message (the bot's own messages keep the 24-hour window); on WhatsApp past 24 hours,
    with a template configured (WHATSAPP_REPLY_TEMPLATE), the template invites the resident back and the
    reply waits for their answer: awaiting_resident (the bot's own messages never use the template)."""
    if channel_of(channel).polled:
        return "queued"
    sender = _sender_for(channel)
    conv = await asyncio.to_thread(_conversation, conversation_id)
    if sender is None or conv is None:
        log.error(
            "can't send to conversation %s on %s: channel not configured or conversation unknown",
            pseudonym(conversation_id),
            channel,
        )
        return "failed"
    here = channel_of(channel)
    if from_staff and here.after_window == TEMPLATE_ONLY:
        template = settings().whatsapp_reply_template
        reach = staff_reach(channel, conv.last_inbound_at, utcnow(), template_ready=bool(template))
        if reach == Reach.TEMPLATE:
            held = await _invite_then_hold(sender, conversation_id, conv, text, buttons, case_message_id)
            if held is not None:
                return held
            # The resident wrote meanwhile: their window is open again, so the reply goes as usual.
            conv = await asyncio.to_thread(_conversation, conversation_id) or conv
    # A public conversation's follow-ups go privately (the comment or post is not the place for a case),
    # held to the limits of the inbox they land in.
    kind = (
        "private_reply"
        if here.public
        else "human_agent"
        if from_staff and here.after_window == HUMAN_AGENT_TAG
        else "message"
    )
    chunks = split(text, text_limits(private_side(channel).name))
    if here.one_private_reply and len(chunks) > 1:
        # Meta allows one private reply per comment: never send part of what staff wrote and call it sent.
        return "too_long"
    outgoing = [
        Outgoing(kind, chunk, (buttons or []) if i == len(chunks) - 1 else []) for i, chunk in enumerate(chunks)
    ]
    target = Target(channel, conv.platform_user_id, conv.account_id, conv.reply_to)
    config = DeliveryConfig.from_env()
    dispatcher = Dispatcher(sender, [channel], config, _console_claimer(config), wake_for_retries=False)
    statuses = await deliver(dispatcher, target, conversation_id, outgoing, conv.last_inbound_at, case_message_id)
    return next((s for s in statuses if s != "sent"), "sent")


async def _invite_then_hold(
    sender: Sender,
    conversation_id: str,
    conv: Conversation,
    text: str,
    buttons: Optional[list[dict[str, str]]],
    case_message_id: Optional[int],
) -> Optional[str]:
    """WhatsApp past 24 hours with a template configured: queue the approved template inviting the resident
    back (once until they answer, however many replies staff send meanwhile) and hold the reply itself in
    the queue until the resident writes again (`knowledge.delivery.invitations`). Returns the reply's
    status: awaiting_resident, or failed if the platform refused the template at once; None if the resident
    wrote since `conv` was read (nothing queued: the reply may go as usual)."""
    s = settings()
    config = DeliveryConfig.from_env()
    now = utcnow()
    target = Target(conv.channel, conv.platform_user_id, conv.account_id, conv.reply_to)
    chunks = split(text, text_limits(conv.channel))
    reply = [
        Outgoing("message", chunk, (buttons or []) if i == len(chunks) - 1 else []) for i, chunk in enumerate(chunks)
    ]
    invite = [Outgoing(invitations.TEMPLATE, s.whatsapp_reply_template, language=s.whatsapp_template_language)]
    # The reply's window is set again when it is released: it starts with the resident's answer.
    held_rows = planned(target, reply, conv.last_inbound_at, now, config.retry_for)
    invite_rows = planned(target, invite, conv.last_inbound_at, now, config.retry_for)

    def store() -> Optional[tuple[bool, list[int]]]:
        with session_scope() as session:
            # One transaction: the template is queued ahead of the reply it stands for, or neither is.
            # The conversation row is locked first (PostgreSQL; SQLite has one writer at a time anyway), so
            # a resident's message being recorded right now either lands first, and we see its new window
            # below, or waits for us and then releases what we hold: never a reply held after its release.
            session.execute(select(Conversation.id).where(Conversation.id == conversation_id).with_for_update())
            invited = invitations.invite_once(session, conversation_id, now)
            last = session.execute(
                select(Conversation.last_inbound_at).where(Conversation.id == conversation_id)
            ).scalar_one_or_none()
            if staff_reach(conv.channel, last, now, template_ready=True) != Reach.TEMPLATE:
                session.rollback()
                return None
            if invited:
                outbox.queue(session, conversation_id, conv.channel, invite_rows, now)
            held = invitations.hold(session, conversation_id, conv.channel, held_rows, now, case_message_id)
            return invited, held

    stored = await asyncio.to_thread(store)
    if stored is None:
        return None
    invited, held = stored
    if invited:
        log.info("inviting conversation %s back with the WhatsApp template", pseudonym(conversation_id))
        dispatcher = Dispatcher(sender, [conv.channel], config, _console_claimer(config), wake_for_retries=False)
        await dispatcher.send_now(conversation_id)

    def read() -> list[str]:
        with session_scope() as session:
            return [outbox.staff_status(st) for st in outbox.statuses(session, held)]

    statuses = await asyncio.to_thread(read)
    return next((st for st in statuses if st != invitations.AWAITING), invitations.AWAITING)


def _conversation(conversation_id: str) -> Optional[Conversation]:
    with session_scope() as session:
        return session.get(Conversation, conversation_id)
