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
import os
import logging
import re
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Optional

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.flood_gate import address_of, rest_refusal
from bot.channels.handover_gate import intercept
from knowledge import cases
from knowledge.conversations import touch_conversation, utcnow
from knowledge.db import session_scope
from knowledge.privacy import pseudonym
from knowledge.text import clean_text

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 10_000   # X DMs allow 10,000; Messenger 2,000; WhatsApp 4,096
MAX_BODY_BYTES = 64 * 1024
SENDER_RE = re.compile(r"^[A-Za-z0-9:_.@+\-]{1,128}$")
EMPTY_REPLY = "I didn't get any words there. Tell me what you need, like \"missed bin\" or \"pothole\"."


class BadRequest(Exception):
    """The request can't be processed; the message says why, in words safe to return to the caller."""


def parse_request(body: bytes) -> tuple[str, str, Optional[dict]]:
    """(sender, message, metadata) from a raw webhook body, or BadRequest."""
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(f"request body is larger than {MAX_BODY_BYTES // 1024} KB")
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("request body is not valid UTF-8") from None
    except ValueError:
        raise BadRequest("request body is not valid JSON") from None
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
    return sender, message, metadata


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
BotMessage = dict[str, Any]  # one message the bot sent, as CollectingOutputChannel records it


async def answer_webhook(body: bytes, on_new_message: OnNewMessage, input_channel: str, *,
                         sender_prefix: str = "", metadata: Optional[dict] = None,
                         shape: Callable[[BotMessage], BotMessage] = lambda message: message,
                         address: Optional[str] = None) -> HTTPResponse:
    """Answer one webhook request: validate `body`, run the message through Rasa, return the bot's messages.

    `input_channel` is the channel's name, as Rasa records it and as the log names it. `sender_prefix` is put
    in front of the caller's sender to make Rasa's conversation id ("web:" keeps browser-made ids apart
    from every other channel's). `metadata`, if given, replaces whatever the caller sent, for channels
    whose callers must not choose it. `shape` turns each collected message into what the caller gets back.
    `address` is the caller's network address, for the rate limits (`flood_gate`): over one, 429.
    Malformed input gets 400, a timeout 503 and any other failure 500, each with a plain `error` and no
    stack trace; message text is never logged.
    """
    try:
        sender, text, sent_metadata = parse_request(body)
    except BadRequest as exc:
        log.info("%s webhook rejected a request: %s", input_channel, exc)
        return response.json({"error": str(exc)}, status=400)
    sender_id = sender_prefix + sender
    refused = await rest_refusal(input_channel, sender_id, text, address, shape)
    if refused is not None:  # over a rate limit: a polite 429 (or, for a crisis, the emergency numbers)
        return refused
    if not clean_text(text):
        # Nothing to understand: answer here rather than record an empty turn in the tracker.
        return response.json([shape({"recipient_id": sender_id, "text": EMPTY_REPLY})])
    instead = await asyncio.to_thread(_before_bot, sender_id, input_channel, sender, text)
    if instead is not None:  # a person has this conversation, or it was a satisfaction score
        return response.json([shape({"recipient_id": sender_id, **message}) for message in instead])
    collector = CollectingOutputChannel()
    try:
        await on_new_message(UserMessage(text, collector, sender_id, input_channel=input_channel,
                                         metadata=sent_metadata if metadata is None else metadata))
    except CancelledError:
        log.error("%s webhook timed out for conversation %s", input_channel, pseudonym(sender_id))
        return response.json({"error": "the bot took too long to answer; try again"}, status=503)
    except Exception:  # noqa: BLE001 - log without the text, answer without a trace
        log.error("%s webhook failed for conversation %s", input_channel, pseudonym(sender_id), exc_info=True)
        return response.json({"error": "the bot could not answer; try again"}, status=500)
    return response.json([shape(message) for message in collector.messages])


async def updates_response(prefix: str, sender: Optional[str], after: Optional[str],
                           shape: Callable[[BotMessage], BotMessage] = lambda message: message) -> HTTPResponse:
    """Staff replies (and the bot's messages about the case) for a conversation since message id `after`.
    Channels that can't be pushed to, the web chat and REST callers, poll this. The sender id is the only
    credential, as for the webhook itself: it is random and known only to the resident's browser."""
    if not sender or not SENDER_RE.match(sender):
        return response.json({"error": "'sender' must be 1-128 letters, digits or :_.@+- characters"}, status=400)
    try:
        since = int(after or 0)
    except ValueError:
        return response.json({"error": "'after' must be a message id"}, status=400)
    rows = await asyncio.to_thread(_staff_messages, prefix + sender, since)
    return response.json([{"id": row_id, **shape(message)} for row_id, message in rows])


def _staff_messages(conversation_id: str, after: int) -> list[tuple[int, BotMessage]]:
    with session_scope() as session:
        return [(m.id, {"text": m.text, "buttons": (m.meta or {}).get("buttons") or []})
                for m in cases.staff_messages_for(session, conversation_id, after)]


def _before_bot(conversation_id: str, channel: str, user_id: str, text: str) -> Optional[list[dict]]:
    """Remember the conversation (for the figures' containment rate) and let the handover gate decide
    whether the bot answers, in one transaction."""
    return intercept(conversation_id, text, first=lambda session: touch_conversation(
        session, conversation_id, channel, "private", user_id, None, None, utcnow()))


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
            token = os.environ.get("COUNCILBOT_INTERNAL_TOKEN") or ""
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
            return response.json({"intent": intent.get("name"), "confidence": intent.get("confidence"),
                                  "entities": [{"entity": e.get("entity"), "value": e.get("value")}
                                               for e in result.get("entities") or []]})

        @webhook.route("/updates", methods=["GET"])
        async def updates(request: Request) -> HTTPResponse:
            return await updates_response("", request.args.get("sender"), request.args.get("after"))

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await answer_webhook(request.body or b"", on_new_message, self.name(), address=address_of(request))

        return webhook
