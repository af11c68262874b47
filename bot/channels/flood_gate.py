"""The rate limits at each channel's door: what a caller or resident gets when they send too fast.

- REST and web chat callers over a limit get 429, a `Retry-After` header and a polite message in the usual
  reply shape; the bot never sees the message.
- Platform webhooks still answer 200 (a platform that is refused retries, and keeps refusing pages that
  fail), but messages over a limit are not stored or run through the bot. The resident is told to slow
  down at most once per window, and never in public.
- A message about danger (the reviewed danger lexicon in `knowledge/danger/lexicon.py`) over a limit still gets
  999 and Samaritans 116 123, without the bot, so no limit can silence it and no flood of fake crisis
  messages can open cases.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Optional

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.config import RateLimits
from bot.channels.events import Incoming
from bot.channels.ratelimit import Verdict, limiter
from bot.channels.safety_net import council_details, in_danger
from bot.channels.sending import background
from bot.channels.sending.dispatch import Dispatcher
from bot.channels.sending.replies import Understanding, deliver, plan
from bot.channels.sending.senders import Target
from bot.client_address import client_address
from knowledge import answers
from knowledge.delivery.conversations import utcnow
from knowledge.personal_data.privacy import pseudonym

log = logging.getLogger(__name__)


def address_of(request: Request) -> Optional[str]:
    """The caller's address, trusting X-Forwarded-For only as far as TRUSTED_PROXY_COUNT says."""
    forwarded = ",".join(request.headers.getall("x-forwarded-for", []))
    return client_address(request.ip or None, forwarded, RateLimits.from_env().trusted_proxies)


def _log_refusal(channel: str, conversation_id: str, verdict: Verdict) -> None:
    if verdict.notify:  # once per sender and window: a flood must not flood the log as well
        log.info(
            "%s: messages from conversation %s are over the %s rate limit",
            channel,
            pseudonym(conversation_id),
            verdict.scope,
        )


async def rest_refusal(
    channel: str, conversation_id: str, text: str, address: Optional[str], shape: Callable[[dict], dict]
) -> Optional[HTTPResponse]:
    """For REST and web chat: None if the message may go to the bot, else the response to send instead
    (429 with a polite message, or the crisis lines for a message about danger)."""
    verdict = await limiter().check(channel, conversation_id, address)
    if verdict.allowed:
        return None
    _log_refusal(channel, conversation_id, verdict)
    if in_danger(text):
        council = await asyncio.to_thread(council_details)
        return response.json([shape({"recipient_id": conversation_id, "text": answers.crisis_answer(council).text})])
    return response.json(
        [shape({"recipient_id": conversation_id, "text": answers.slow_down_text()})],
        status=429,
        headers={"Retry-After": str(verdict.retry_after)},
    )


async def admit(messages: list[Incoming], dispatcher: Callable[[], Dispatcher]) -> list[Incoming]:
    """For platform webhooks: the messages that may go to the bot. The rest are answered here, in the
    background, if they need an answer (a crisis message; the first refusal of a private conversation),
    through the durable outbound queue of the channel's `dispatcher` (asked for only when there is
    something to send)."""
    allowed: list[Incoming] = []
    to_answer: list[tuple[Incoming, bool]] = []
    for message in messages:
        verdict = await limiter().check(message.channel, message.conversation_id)
        if verdict.allowed:
            allowed.append(message)
            continue
        _log_refusal(message.channel, message.conversation_id, verdict)
        crisis = in_danger(message.text)
        if crisis or (verdict.notify and not message.public):
            to_answer.append((message, crisis))
    if to_answer:
        background.spawn(_answer_limited(dispatcher(), to_answer))
    return allowed


async def _answer_limited(dispatcher: Dispatcher, due: list[tuple[Incoming, bool]]) -> None:
    council = await asyncio.to_thread(council_details) if any(crisis for _, crisis in due) else None
    for message, crisis in due:
        text = answers.crisis_answer(council).text if crisis else answers.slow_down_text()
        understood = Understanding("crisis" if crisis else None)
        target = Target(message.channel, message.user_id, message.account_id, message.reply_to)
        at = min(message.sent_at, utcnow()) if message.sent_at else utcnow()
        try:
            await deliver(
                dispatcher, target, message.conversation_id, plan(message, [{"text": text}], understood, council), at
            )
        except Exception:  # noqa: BLE001 - one failed reply must not stop the others
            log.error(
                "could not answer a rate-limited %s message in conversation %s",
                message.channel,
                pseudonym(message.conversation_id),
                exc_info=True,
            )
