"""What happens to one resident message after it has been acknowledged: keep the conversation's details
and attachments, run the bot, and plan its answer the way the platform and the privacy policy require.
The inbox queues the planned replies durably and the dispatcher sends them."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Optional

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from sqlalchemy.orm import Session

from bot.channels import safety_net
from bot.channels.events import SUPPORTED_ATTACHMENTS, Incoming
from bot.channels.handover_gate import intercept
from bot.channels.rest import EMPTY_REPLY
from bot.channels.sending.replies import Understanding, plan, planned
from bot.channels.sending.senders import Target
from knowledge import answers
from knowledge.channels import channel
from knowledge.db import session_scope
from knowledge.delivery import conversations, invitations, outbox
from knowledge.models import Council
from knowledge.personal_data.privacy import pseudonym
from knowledge.understanding.text import clean_text, for_rasa

log = logging.getLogger(__name__)

# Rasa runs the NLU pipeline on the event loop that also answers webhooks. Letting only this many messages
# through the bot at once keeps acknowledgements fast under a burst; throughput is CPU-bound either way.
BOT_CONCURRENCY = 2

# Reads what the model understood from the tracker (conversation id -> parse data), once the bot answered.
ParseLookup = Callable[[str], Awaitable[Optional[dict[str, Any]]]]


class Responder:
    """Handles `Incoming` messages for the inbox: one instance per input channel."""

    def __init__(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        latest_parse: ParseLookup,
        retry_for: dt.timedelta,
    ):
        self.on_new_message = on_new_message
        self.latest_parse = latest_parse
        self.retry_for = retry_for
        self._bot_slots = asyncio.Semaphore(BOT_CONCURRENCY)

    async def __call__(self, incoming: Incoming) -> list[outbox.Planned]:
        """The replies to queue for one message. Never none when the bot ran: if it said nothing (the action
        server is down, say), the safety net answers with the phone number, and 999 for danger, at once,
        rather than leave the resident waiting for a retry that may be an hour away."""
        now = conversations.utcnow()
        # The window starts when the resident wrote; a clock-skewed platform time can't move it forward.
        at = min(incoming.sent_at, now) if incoming.sent_at else now
        supported = [a.kind for a in incoming.attachments if a.kind in SUPPORTED_ATTACHMENTS]
        unsupported = [a.kind for a in incoming.attachments if a.kind not in SUPPORTED_ATTACHMENTS]
        text = clean_text(incoming.text)
        intent: Optional[str] = None
        bot_messages: list[dict] = []
        instead = await asyncio.to_thread(
            intercept,
            incoming.conversation_id,
            text,
            [a.kind for a in incoming.attachments],
            now,
            lambda session: self._remember(session, incoming, at, now),
        )
        if instead is not None:  # a person has this conversation, or it was a satisfaction score
            # Staff have it, but someone in danger still gets the numbers at once.
            bot_messages, text = safety_net.complete(text, instead, silent_ok=True), ""
            supported = unsupported = []
        # What Rasa gets: typed text is never an intent command; a pin or photo on its own is a synthetic intent
        # message, so it reaches the report form (the actions read it from `attachments`, stored above).
        for_bot = for_rasa(text, incoming.choice) if instead is None else ""
        if instead is None and not text and not incoming.public:
            for_bot = attachment_only(supported)
        if for_bot:
            collector = CollectingOutputChannel()
            metadata = {
                "channel": incoming.channel,
                "origin": incoming.origin,
                "attachments": [a.kind for a in incoming.attachments],
            }
            async with self._bot_slots:
                try:
                    await self.on_new_message(
                        UserMessage(
                            for_bot,
                            collector,
                            incoming.conversation_id,
                            input_channel=incoming.channel,
                            metadata=metadata,
                        )
                    )
                except Exception:  # noqa: BLE001 - the tracker or lock store is down, say
                    # Answer now (the safety net's phone number, and 999 for danger) rather than retry:
                    # a retry would leave the resident waiting, and answer twice if it then worked.
                    log.error(
                        "the bot failed on a %s message in conversation %s",
                        incoming.channel,
                        pseudonym(incoming.conversation_id),
                        exc_info=True,
                    )
                    collector.messages.clear()
                intent = await self._intent(incoming.conversation_id)
            # With the action server down Rasa answers nothing: the net adds the phone number (and 999).
            bot_messages = safety_net.complete(text, list(collector.messages), intent)
        elif text and instead is None:  # only slashes ("/", "//"): nothing to understand, but never silence
            bot_messages = [{"text": EMPTY_REPLY}]
        if supported or unsupported:
            # The bot has answered a pin or photo on its own itself ("What would you like to report there?").
            note = answers.attachment_note(supported, unsupported, asked_something=bool(for_bot))
            if note:
                bot_messages.append({"text": note})
        if not bot_messages:
            return []  # a person has the conversation and was told recently: silence is the answer
        # Only a public reply depends on the topic and the council's numbers: private ones skip the lookups.
        understood, council = (
            await asyncio.to_thread(_public_context, intent) if incoming.public else (Understanding(intent), None)
        )
        outgoing = plan(incoming, bot_messages, understood, council)
        target = Target(incoming.channel, incoming.user_id, incoming.account_id, incoming.reply_to)
        return planned(target, outgoing, at, now, self.retry_for)

    async def _intent(self, conversation_id: str) -> Optional[str]:
        """The intent the model chose for the latest message, or None if the tracker can't be read."""
        try:
            parse = await self.latest_parse(conversation_id) or {}
        except Exception:  # noqa: BLE001 - the crisis phrase list alone still decides
            log.warning("could not read what the model understood", exc_info=True)
            return None
        return (parse.get("intent") or {}).get("name")

    def _remember(self, session: Session, incoming: Incoming, at: dt.datetime, now: dt.datetime) -> None:
        """Keep the conversation's details (for staff replies and the messaging window) and references to
        what the resident attached; release staff replies that were waiting for the resident to write
        (WhatsApp past 24 hours), within the window this message opens. The inbox then kicks the sender."""
        conversations.touch_conversation(
            session,
            incoming.conversation_id,
            incoming.channel,
            incoming.origin,
            incoming.user_id,
            incoming.account_id,
            incoming.reply_to,
            at,
        )
        conversations.add_attachments(
            session,
            incoming.conversation_id,
            incoming.channel,
            [vars(a) for a in incoming.attachments],
            SUPPORTED_ATTACHMENTS,
            at,
        )
        window = channel(incoming.channel).window
        ends = None if window is None else at + window
        give_up = now + self.retry_for if ends is None else min(ends, now + self.retry_for)
        released = invitations.release(session, incoming.conversation_id, ends, give_up, now)
        if released:
            log.info(
                "released %d staff repl%s held for conversation %s",
                released,
                "y" if released == 1 else "ies",
                pseudonym(incoming.conversation_id),
            )


# The synthetic messages for a message that is only a pin or only a photo (intents in domain.yml, reports).
SHARED_LOCATION = "/shared_location"
SHARED_PHOTO = "/shared_photo"


def attachment_only(kinds: list[str]) -> str:
    """The synthetic intent message for attachments sent without words: a location wins over a photo (it
    answers "where?"; the photo is kept either way). Empty when there is nothing the report form can use."""
    if "location" in kinds:
        return SHARED_LOCATION
    if "image" in kinds:
        return SHARED_PHOTO
    return ""


def _public_context(intent: Optional[str]) -> tuple[Understanding, Optional[Council]]:
    """For a public reply: the intent with its service's category and "always a person" flag, and the
    council's details. If the knowledge base can't be read, the intent alone and None (replies then use
    the default emergency numbers)."""
    try:
        with session_scope() as session:
            svc = answers.service_for_intent(session, intent)
            understood = Understanding(intent, svc.category, bool(svc.always_human)) if svc else Understanding(intent)
            return understood, answers.council(session)
    except Exception:  # noqa: BLE001 - without the knowledge base, decide on the intent alone
        log.warning("could not read the knowledge base for a public reply (intent %s)", intent, exc_info=True)
        return Understanding(intent), None
