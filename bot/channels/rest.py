"""The REST webhook (`POST /webhooks/rest/webhook`) with strict input checks.

Rasa's stock RestInput trusts its input: invalid JSON or a missing field gives a 500 and a stack trace in
the log with the resident's text in it. This one answers 400 with a plain message for anything malformed,
never logs message text, and answers an empty message itself without touching the tracker. The web chat
channel (`webchat.py`) answers through the same `answer_webhook`.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import logging
import re
import time
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Optional

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import safety_net
from bot.channels.flood_gate import address_of, rest_refusal
from bot.channels.handover_gate import intercept
from bot.channels.jsonsafe import UnsafeJson, loads
from bot.channels.ratelimit import limiter
from knowledge.casework import cases
from knowledge.channels import channel
from knowledge.db import session_scope
from knowledge.delivery import chat_history
from knowledge.delivery.access import authorize_write, may_read
from knowledge.delivery.conversations import touch_conversation, utcnow
from knowledge.personal_data.privacy import pseudonym
from knowledge.settings import settings
from knowledge.understanding.text import clean_text, for_rasa

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 10_000  # X DMs allow 10,000; Messenger 2,000; WhatsApp 4,096
MAX_BODY_BYTES = 64 * 1024
SENDER_RE = re.compile(r"^[A-Za-z0-9:_.@+\-]{1,128}$")
# REST conversations live in their own namespace: a caller's "messenger:123" becomes "rest:messenger:123",
# which is not the Messenger resident's conversation.
SENDER_PREFIX = channel("rest").id_prefix
# What the actions learn about a REST message. Fixed here: the caller doesn't get to choose it.
METADATA = {"channel": "rest", "origin": channel("rest").origin}
EMPTY_REPLY = 'I didn\'t get any words there. Tell me what you need, like "missed bin" or "pothole".'


class BadRequest(Exception):
    """The request can't be processed; the message says why, in words safe to return to the caller."""


def parse_request(body: bytes) -> tuple[str, str, Optional[dict]]:
    """(sender, message, metadata) from a raw webhook body, or BadRequest."""
    sender, message, metadata, _ = parse_message(body)
    return sender, message, metadata


def parse_message(body: bytes) -> tuple[str, str, Optional[dict], bool]:
    """(sender, message, metadata, choice) from a raw webhook body, or BadRequest. `choice` is true when the
    message is the payload of a button the bot offered (the web chat page says so), not typed text: only
    then may it be an intent command like "/affirm" (knowledge/understanding/text.py `for_rasa`)."""
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(f"request body is larger than {MAX_BODY_BYTES // 1024} KB")
    try:
        payload = loads(body)  # refuses bad UTF-8, deep nesting, NULs and lone surrogates, with a reason
    except UnsafeJson as exc:
        raise BadRequest(str(exc)) from None
    if not isinstance(payload, dict):
        raise BadRequest('expected a JSON object like {"sender": "...", "message": "..."}')
    sender, message, metadata = payload.get("sender"), payload.get("message"), payload.get("metadata")
    if isinstance(sender, int) and not isinstance(sender, bool):
        sender = str(sender)
    if not isinstance(sender, str) or not SENDER_RE.match(sender):
        raise BadRequest("'sender' must be 1-128 letters, digits or :_.@+- characters")
    if not isinstance(message, str):
        raise BadRequest("'message' must be a string")
    if len(message) > MAX_MESSAGE_CHARS:
        raise BadRequest(f"'message' is longer than {MAX_MESSAGE_CHARS} characters")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("'metadata' must be a JSON object")
    choice = payload.get("choice", False)
    if not isinstance(choice, bool):
        raise BadRequest("'choice' must be true or false")
    return sender, message, metadata, choice


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
BotMessage = dict[str, Any]  # one message the bot sent, as CollectingOutputChannel records it
IntentLookup = Callable[[str], Awaitable[Optional[str]]]  # conversation id -> the intent the model chose

# The owner token of a REST or web chat conversation travels in this header both ways (knowledge/delivery/access.py).
TOKEN_HEADER = "X-Conversation-Token"
NOT_YOURS = (
    "this conversation was started by someone else: send the X-Conversation-Token you were given "
    "with its first reply, or use a new sender id"
)


async def answer_webhook(
    body: bytes,
    on_new_message: OnNewMessage,
    input_channel: str,
    *,
    sender_prefix: str,
    metadata: dict[str, Any],
    token: Optional[str] = None,
    intent_of: Optional[IntentLookup] = None,
    shape: Callable[[BotMessage], BotMessage] = lambda message: message,
    address: Optional[str] = None,
) -> HTTPResponse:
    """Answer one webhook request: validate `body`, run the message through Rasa, return the bot's messages.

    `input_channel` is the channel's name, as Rasa records it and as the log names it. `sender_prefix` is put
    in front of the caller's sender to make Rasa's conversation id: each caller-named channel has its own
    namespace ("rest:", "web:"), so no caller can write into a Messenger or X conversation. `token` is the
    caller's owner token: a new conversation gets one (in the TOKEN_HEADER of the answer), an existing one
    needs it (403 otherwise, and nothing is recorded). `metadata` replaces whatever the caller sent: callers
    must not choose what the actions believe about the channel. `intent_of` reads what the model understood,
    for the safety net. `shape` turns each collected message into what the caller gets back. `address` is
    the caller's network address, for the rate limits (`flood_gate`): over one, 429.
    Malformed input gets 400 with a plain `error`. If the bot fails or times out, the resident still gets
    the safety net's answer (the phone number; the crisis lines if in danger), never a stack trace; message
    text is never logged.
    """
    try:
        sender, text, _, choice = parse_message(body)
    except BadRequest as exc:
        log.info("%s webhook rejected a request: %s", input_channel, exc)
        return response.json({"error": str(exc)}, status=400)
    sender_id = sender_prefix + sender
    refused = await rest_refusal(input_channel, sender_id, text, address, shape)
    if refused is not None:  # over a rate limit: a polite 429 (or, for a crisis, the emergency numbers)
        return refused
    # Typed text that starts with "/" is words, never an intent command; a button's payload may be one.
    for_bot = for_rasa(clean_text(text), choice)
    if not for_bot:
        # Nothing to understand: answer here rather than record an empty turn in the tracker.
        return response.json([shape({"recipient_id": sender_id, "text": EMPTY_REPLY})])
    now = utcnow()
    try:
        access = await asyncio.to_thread(authorize_write, sender_id, input_channel, sender, token, now)
    except Exception:  # noqa: BLE001 - can't check the owner: don't run the bot, but don't leave them silent
        log.error("%s webhook could not check conversation %s", input_channel, pseudonym(sender_id), exc_info=True)
        return response.json([shape({"recipient_id": sender_id, **m}) for m in safety_net.complete(text, [])])
    if not access.allowed:
        log.warning(
            "%s webhook refused a message for conversation %s without its owner token",
            input_channel,
            pseudonym(sender_id),
        )
        return response.json({"error": NOT_YOURS}, status=403)
    headers = {TOKEN_HEADER: access.new_token} if access.new_token else None
    instead = await asyncio.to_thread(_before_bot, sender_id, input_channel, sender, text, now)
    if instead is not None:  # a person has this conversation, or it was a satisfaction score
        messages = safety_net.complete(text, instead, silent_ok=True)
        return response.json([shape({"recipient_id": sender_id, **message}) for message in messages], headers=headers)
    collector = CollectingOutputChannel()
    try:
        await on_new_message(
            UserMessage(for_bot, collector, sender_id, input_channel=input_channel, metadata=dict(metadata))
        )
    except CancelledError:
        log.error("%s webhook timed out for conversation %s", input_channel, pseudonym(sender_id))
        messages = safety_net.complete(text, [])
        return response.json([shape({"recipient_id": sender_id, **m}) for m in messages], headers=headers)
    except Exception:  # noqa: BLE001 - log without the text, answer without a trace
        log.error("%s webhook failed for conversation %s", input_channel, pseudonym(sender_id), exc_info=True)
        messages = safety_net.complete(text, [])
        return response.json([shape({"recipient_id": sender_id, **m}) for m in messages], headers=headers)
    # The model's intent only matters to the safety net when the bot said nothing: a `crisis` it understood
    # is otherwise answered by action_crisis with 999 already. Reading the tracker again on every message
    # would repeat work Rasa has just done.
    intent = await _intent(intent_of, sender_id) if not collector.messages else None
    messages = safety_net.complete(text, list(collector.messages), intent)
    return response.json([shape({"recipient_id": sender_id, **m}) for m in messages], headers=headers)


async def _intent(intent_of: Optional[IntentLookup], conversation_id: str) -> Optional[str]:
    if intent_of is None:
        return None
    try:
        return await intent_of(conversation_id)
    except Exception:  # noqa: BLE001 - the phrase list alone still decides
        log.warning("could not read the model's intent for the safety net", exc_info=True)
        return None


def tracker_intent(app: Any) -> IntentLookup:
    """An IntentLookup reading the latest message's intent from the Rasa app's tracker store."""

    async def lookup(conversation_id: str) -> Optional[str]:
        tracker = await app.ctx.agent.tracker_store.retrieve(conversation_id)
        if tracker is None or tracker.latest_message is None:
            return None
        return ((tracker.latest_message.parse_data or {}).get("intent") or {}).get("name")

    return lookup


async def updates_response(
    prefix: str,
    sender: Optional[str],
    after: Optional[str],
    token: Optional[str],
    shape: Callable[[BotMessage], BotMessage] = lambda message: message,
    address: Optional[str] = None,
    seen: Optional[str] = None,
) -> HTTPResponse:
    """Staff replies (and the bot's messages about the case) for a conversation since message id `after`.
    Channels that can't be pushed to, the web chat and REST callers, poll this. Only the conversation's
    owner may: the request must carry the owner token given with the conversation's first reply. Polls
    from one network `address` are limited (each costs database reads), apart from messages.

    A caller that sends `seen` (an update id; 0 at first) also gets the council's updates on the
    resident's reports it hasn't collected, after the staff messages: {"update": id, "text", "reference"}.
    Those up to `seen` count as collected and aren't given again (`chat_history.council_updates`). Without
    `seen` the answer is as before, with `id` on every item, so callers written before these updates
    keep working; the updates wait for them, and the console says so."""
    verdict = await limiter().check_poll(address)
    if not verdict.allowed:
        return response.json(
            {"error": "too many requests: wait a minute"}, status=429, headers={"Retry-After": str(verdict.retry_after)}
        )
    if not sender or not SENDER_RE.match(sender):
        return response.json({"error": "'sender' must be 1-128 letters, digits or :_.@+- characters"}, status=400)
    try:
        since = int(after or 0)
    except ValueError:
        return response.json({"error": "'after' must be a message id"}, status=400)
    if not 0 <= since < 2**63:
        return response.json({"error": "'after' must be a message id"}, status=400)
    shown: Optional[int] = None
    if seen is not None:
        try:
            shown = int(seen)
        except ValueError:
            shown = -1
        if not 0 <= shown < 2**63:
            return response.json({"error": "'seen' must be an update id"}, status=400)
    if not await asyncio.to_thread(may_read, prefix + sender, token):
        return response.json({"error": NOT_YOURS}, status=403)
    rows = await asyncio.to_thread(_staff_messages, prefix + sender, since)
    answer = [{"id": row_id, **shape(message)} for row_id, message in rows]
    if shown is not None:
        answer += await asyncio.to_thread(_report_updates, prefix + sender, shown)
    return response.json(answer)


def _report_updates(conversation_id: str, seen: int) -> list[dict[str, Any]]:
    with session_scope() as session:
        return [
            {"update": u["update"], "text": u["text"], "reference": u["reference"]}
            for u in chat_history.council_updates(session, conversation_id, seen, utcnow())
        ]


def _staff_messages(conversation_id: str, after: int) -> list[tuple[int, BotMessage]]:
    with session_scope() as session:
        return [
            (m.id, {"text": m.text, "buttons": (m.meta or {}).get("buttons") or []})
            for m in cases.staff_messages_for(session, conversation_id, after)
        ]


def _before_bot(conversation_id: str, channel: str, user_id: str, text: str, now: Any) -> Optional[list[dict]]:
    """Remember the conversation (for the figures' containment rate) and let the handover gate decide
    whether the bot answers, in one transaction."""
    return intercept(
        conversation_id,
        text,
        now=now,
        first=lambda session: touch_conversation(
            session, conversation_id, channel, "private", user_id, None, None, now
        ),
    )


class CouncilRestInput(InputChannel):
    """Drop-in replacement for Rasa's `rest` channel, at the same URL."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        module = inspect.getmodule(self)
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", module.__name__ if module else None)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/parse", methods=["POST"])
        async def parse(request: Request) -> HTTPResponse:
            """What the model makes of a text, for the editors' preview. Only for our own processes: it
            needs the per-run internal token (absent: the route doesn't exist)."""
            token = settings().internal_token or ""
            given = request.headers.get("X-Internal-Token") or ""
            if not token or not hmac.compare_digest(token.encode(), given.encode()):
                return response.json({"error": "not found"}, status=404)
            try:
                text = json.loads(request.body or b"{}").get("text")
            except (ValueError, AttributeError):
                text = None
            if not isinstance(text, str) or not text.strip() or len(text) > MAX_MESSAGE_CHARS:
                return response.json({"error": "'text' must be a non-empty string"}, status=400)
            result = await request.app.ctx.agent.parse_message(text)
            intent = result.get("intent") or {}
            return response.json(
                {
                    "intent": intent.get("name"),
                    "confidence": intent.get("confidence"),
                    "entities": [
                        {"entity": e.get("entity"), "value": e.get("value")} for e in result.get("entities") or []
                    ],
                }
            )

        @webhook.route("/model", methods=["POST"])
        async def load_model(request: Request) -> HTTPResponse:
            """Swap in a newly trained model (bot/model_swap.py). Only for our own processes, like /parse.
            The old model answers every message while the new one loads; the swap is one assignment."""
            token = settings().internal_token or ""
            given = request.headers.get("X-Internal-Token") or ""
            if not token or not hmac.compare_digest(token.encode(), given.encode()):
                return response.json({"error": "not found"}, status=404)
            try:
                path = Path(str(json.loads(request.body or b"{}").get("model") or ""))
            except (ValueError, AttributeError):
                path = Path("")
            models = settings().models_dir.resolve()
            if path.suffixes[-2:] != [".tar", ".gz"] or not path.is_file() or models not in path.resolve().parents:
                return response.json({"error": f"'model' must be a trained model file in {models}"}, status=400)
            started = time.monotonic()
            agent = request.app.ctx.agent
            await asyncio.to_thread(agent.load_model, str(path))
            log.info("model swapped in: %s", path.name)
            return response.json({"model": path.name, "seconds": round(time.monotonic() - started, 1)})

        @webhook.route("/updates", methods=["GET"])
        async def updates(request: Request) -> HTTPResponse:
            return await updates_response(
                SENDER_PREFIX,
                request.args.get("sender"),
                request.args.get("after"),
                request.headers.get(TOKEN_HEADER),
                address=address_of(request),
                seen=request.args.get("seen"),
            )

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await answer_webhook(
                request.body or b"",
                on_new_message,
                self.name(),
                sender_prefix=SENDER_PREFIX,
                metadata=METADATA,
                token=request.headers.get(TOKEN_HEADER),
                intent_of=tracker_intent(request.app),
                address=address_of(request),
            )

        return webhook
