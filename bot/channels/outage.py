"""What a platform webhook does when a delivery can't be stored (the database is down or failing).

Nothing was stored, so the platform is answered 503 and sends the delivery again later, when it will be
stored and answered as usual. Until then the bot can't run (its work queue is in the database), but anyone
who may be in danger must not wait: they get 999 and Samaritans at once, sent straight to the platform,
because the outbound queue is in the database too.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Optional

from sanic import response
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from bot.channels.events import Incoming
from bot.channels.safety_net import council_details, in_danger
from bot.channels.sending import background
from bot.channels.sending.replies import Sender, Understanding, plan
from bot.channels.sending.senders import Target
from knowledge import answers
from knowledge.models import Council
from knowledge.personal_data.privacy import pseudonym

log = logging.getLogger(__name__)

# How long one direct send may take. Short: the platform client's own retries must not keep the next
# resident in danger waiting.
DIRECT_SEND_SECONDS = 10.0
# How long to wait for the council's own numbers before sending the national ones alone.
COUNCIL_LOOKUP_SECONDS = 3.0
# Deliveries (platform delivery keys) already given the crisis lines directly, so the platform's retries
# during a long outage don't send them again and again. Bounded: only the newest are kept.
REMEMBERED = 10_000

_answered: OrderedDict[str, None] = OrderedDict()


def unstored(platform: str, messages: list[Incoming], sender: Sender, exc: Exception) -> HTTPResponse:
    """The webhook's answer when `messages` could not be stored because of `exc`: 503 at once, with the
    crisis lines sent in the background to those of them that name a danger."""
    if isinstance(exc, SQLAlchemyError):
        # The type only: a database error's text quotes the statement, and a driver's may quote values.
        log.error(
            "%s webhook could not store %d message(s): database unavailable (%s); answered 503 so the "
            "platform sends them again",
            platform,
            len(messages),
            type(exc).__name__,
        )
    else:
        log.error(
            "%s webhook could not store %d message(s) (%s); answered 503 so the platform sends them again",
            platform,
            len(messages),
            type(exc).__name__,
        )
    if messages:
        background.spawn(_answer_in_danger(sender, messages))
    return response.json({"error": "temporarily unavailable; send it again later"}, status=503)


def _remember(key: str) -> None:
    _answered[key] = None
    while len(_answered) > REMEMBERED:
        _answered.popitem(last=False)


async def _council() -> Optional[Council]:
    """The council's details if they can be had quickly (the last good copy while the database is down)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(council_details), COUNCIL_LOOKUP_SECONDS)
    except Exception:  # noqa: BLE001 - the national numbers go out without them
        return None


async def _answer_in_danger(sender: Sender, messages: list[Incoming]) -> None:
    # In a thread: the first use of the phrase list loads it, which takes seconds.
    flagged = await asyncio.to_thread(lambda: [m for m in messages if in_danger(m.text)])
    due = [m for m in flagged if m.delivery_key not in _answered]
    if not due:
        return
    for message in due:
        _remember(message.delivery_key)
    council = await _council()
    text = answers.crisis_answer(council).text
    for message in due:
        who = pseudonym(message.conversation_id)
        target = Target(message.channel, message.user_id, message.account_id, message.reply_to)
        try:
            # As the bot would answer it: in private, or an invitation in public and the numbers privately.
            for out in plan(message, [{"text": text}], Understanding("crisis"), council):
                await asyncio.wait_for(sender.send(target, out), DIRECT_SEND_SECONDS)
        except Exception as exc:  # noqa: BLE001 - one failed send must not stop the others
            _answered.pop(message.delivery_key, None)  # the platform's retry gets another chance
            log.error(
                "could not send the crisis lines on %s to conversation %s while the database is down (%s)",
                message.channel,
                who,
                type(exc).__name__,
            )
        else:
            log.warning(
                "sent the crisis lines on %s to conversation %s directly: the database is down", message.channel, who
            )
