"""What makes the web chat remember: the conversation's history for a page that reloads or comes back,
staff replies signed as from a person, and photos the resident attaches. Routes in `webchat.py`:

- `GET /history?sender=<id>`: the conversation so far (`knowledge.delivery.chat_history`);
- `GET /updates?sender=<id>&after=<message id>`: staff replies since `after`, each signed;
- `POST /photo?sender=<id>`: the photo's bytes as the body (any declared type: the bytes decide).

Each needs the conversation's owner token (`X-Conversation-Token`), except a photo that starts a new
conversation, which is given one like a first message. A wrong, forged or missing token, or a token of
another conversation, gets 403 and the same words whether or not the id exists, so nobody learns which ids
are in use, let alone what was said. Each is rate-limited per network address like the other endpoints.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Optional

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import delete

from bot.channels.handover_gate import intercept
from bot.channels.ratelimit import limiter
from bot.channels.rest import NOT_YOURS, SENDER_RE, TOKEN_HEADER
from knowledge import answers
from knowledge.channels import channel
from knowledge.db import session_scope
from knowledge.delivery import chat_history, uploads
from knowledge.delivery.access import authorize_write, may_read
from knowledge.delivery.conversations import add_attachments, touch_conversation, utcnow
from knowledge.models import Attachment
from knowledge.personal_data.privacy import pseudonym
from knowledge.settings import settings

log = logging.getLogger(__name__)

CHANNEL = "webchat"
SENDER_PREFIX = channel(CHANNEL).id_prefix
BAD_SENDER = "'sender' must be 1-128 letters, digits or :_.@+- characters"
TOO_MANY = "too many requests: wait a minute"

# Decoding a large photo takes a few hundred MB for a moment: only this many at once per process, so a
# burst of uploads queues instead of exhausting memory (messages keep being answered meanwhile).
PHOTO_DECODES = asyncio.Semaphore(2)

# conversation id -> Rasa's tracker events as dicts, every session's (None: no tracker yet)
EventsLookup = Callable[[str], Awaitable[Optional[list[dict[str, Any]]]]]


def tracker_events(app: Any) -> EventsLookup:
    """An EventsLookup on the Rasa app's tracker store. The full tracker, not only the current session:
    a resident coming back the next day starts a new Rasa session but sees the whole conversation."""

    async def lookup(conversation_id: str) -> Optional[list[dict[str, Any]]]:
        store = app.ctx.agent.tracker_store
        tracker = await store.retrieve_full_tracker(conversation_id)
        return None if tracker is None else [event.as_dict() for event in tracker.events]

    return lookup


def _refused(status: int, error: str, retry_after: int = 0) -> HTTPResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return response.json({"error": error}, status=status, headers=headers)


async def _poll_allowed(address: Optional[str]) -> Optional[HTTPResponse]:
    verdict = await limiter().check_poll(address)
    return None if verdict.allowed else _refused(429, TOO_MANY, verdict.retry_after)


async def history_response(
    sender: Optional[str], token: Optional[str], events_of: EventsLookup, address: Optional[str] = None
) -> HTTPResponse:
    """`{"messages": [...], "after": <id>}`: the conversation so far as the page shows it, and the id its
    poll for staff replies continues from. Only for the owner token's holder (403 otherwise)."""
    refused = await _poll_allowed(address)
    if refused is not None:
        return refused
    if not sender or not SENDER_RE.match(sender):
        return _refused(400, BAD_SENDER)
    conversation_id = SENDER_PREFIX + sender
    if not await asyncio.to_thread(may_read, conversation_id, token):
        log.info("web chat history refused for conversation %s (no owner token)", pseudonym(conversation_id))
        return _refused(403, NOT_YOURS)
    events = await events_of(conversation_id) or []
    s = settings()

    def read() -> tuple[list[chat_history.Line], int]:
        with session_scope() as session:
            return chat_history.history(session, conversation_id, events, s.webchat_staff_name, s.webchat_team_name)

    lines, after = await asyncio.to_thread(read)
    return response.json(
        {"messages": [line.as_json() for line in lines], "after": after}, headers={"Cache-Control": "no-store"}
    )


async def updates_response(
    sender: Optional[str], after: Optional[str], token: Optional[str], address: Optional[str] = None
) -> HTTPResponse:
    """Staff replies (signed: `from` staff with a `label`) and the bot's messages about the case since
    message id `after`, for the owner token's holder. The REST channel's poll (`rest.updates_response`)
    gives the same messages without the signature."""
    refused = await _poll_allowed(address)
    if refused is not None:
        return refused
    if not sender or not SENDER_RE.match(sender):
        return _refused(400, BAD_SENDER)
    try:
        since = int(after or 0)
    except ValueError:
        return _refused(400, "'after' must be a message id")
    if not 0 <= since < 2**63:
        return _refused(400, "'after' must be a message id")
    conversation_id = SENDER_PREFIX + sender
    if not await asyncio.to_thread(may_read, conversation_id, token):
        return _refused(403, NOT_YOURS)
    s = settings()

    def read() -> list[dict[str, Any]]:
        with session_scope() as session:
            return chat_history.staff_updates(
                session, conversation_id, since, s.webchat_staff_name, s.webchat_team_name
            )

    return response.json(await asyncio.to_thread(read), headers={"Cache-Control": "no-store"})


async def read_body(request: Request, limit: int) -> Optional[bytes]:
    """The streamed request body, or None if it is over `limit` bytes (declared or read): a large upload is
    never held in memory."""
    declared = request.headers.get("content-length") or ""
    if request.stream is None:  # not a streamed route (a test app): the body is already read
        body = request.body or b""
        return None if len(body) > limit else body
    chunks: list[bytes] = []
    size, over = 0, declared.isdigit() and int(declared) > limit
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            return None if over else b"".join(chunks)
        size += len(chunk)
        over = over or size > limit
        if over:
            # Read to the end without keeping it (Sanic's REQUEST_MAX_SIZE still caps it): a browser that
            # is cut off mid-upload reports a network error instead of our reason.
            chunks.clear()
        else:
            chunks.append(chunk)


async def photo_response(
    body: Optional[bytes], sender: Optional[str], token: Optional[str], address: Optional[str] = None
) -> HTTPResponse:
    """Keep one photo the resident attached and answer as for a platform photo: the bot's note that it was
    kept, or, while staff have the conversation, onto the case (acknowledged like a message). `body` None
    means it was over the size limit. Refusals are worded for the chat: `[{"text": reason}]` with 413 (too
    large) or 415 (not an image); 403 for someone else's conversation, 429 over the message limits."""
    if not sender or not SENDER_RE.match(sender):
        return _refused(400, BAD_SENDER)
    conversation_id = SENDER_PREFIX + sender
    # A photo counts as a message against every limit (sender, address, new conversations, channel).
    verdict = await limiter().check(CHANNEL, conversation_id, address)
    if not verdict.allowed:
        return _refused(429, TOO_MANY, verdict.retry_after)
    limit = settings().webchat_photo_max_bytes
    photo: Optional[uploads.CleanPhoto] = None
    reason = "too_large"  # body None: the upload was over the limit and never read in full
    if body is not None:
        try:
            async with PHOTO_DECODES:
                photo = await asyncio.to_thread(uploads.clean_photo, body, limit)
        except uploads.PhotoRefused as refusal:
            reason = refusal.reason
    if photo is None:
        log.info("web chat photo refused (%s) in conversation %s", reason, pseudonym(conversation_id))
        text = answers.photo_too_large(limit) if reason == "too_large" else answers.photo_not_an_image()
        return response.json([{"text": text}], status=413 if reason == "too_large" else 415)
    now = utcnow()
    access = await asyncio.to_thread(authorize_write, conversation_id, CHANNEL, sender, token, now)
    if not access.allowed:
        log.warning("web chat photo refused for conversation %s without its owner token", pseudonym(conversation_id))
        return _refused(403, NOT_YOURS)
    headers = {TOKEN_HEADER: access.new_token} if access.new_token else None
    try:
        await asyncio.to_thread(_keep, conversation_id, sender, photo, now)
    except Exception:  # noqa: BLE001 - disk or database: nothing kept, and the resident may try again
        log.error("could not keep a web chat photo in conversation %s", pseudonym(conversation_id), exc_info=True)
        return response.json([{"text": answers.photo_not_kept()}], status=503, headers=headers)
    # The same flow as a platform photo (bot/channels/responder.py): staff have it, or the bot's note.
    instead = await asyncio.to_thread(intercept, conversation_id, "", ["image"], now)
    if instead is None:
        note = answers.attachment_note(["image"], [], asked_something=False)
        instead = [{"text": note}] if note else []
    return response.json([{"text": m.get("text") or ""} for m in instead if m.get("text")], headers=headers)


def _keep(conversation_id: str, sender: str, photo: uploads.CleanPhoto, now: Any) -> None:
    """Record the photo's row, then write its file (so no file ever exists that no row leads to, and erasure
    finds every one). If the file can't be written the row goes again; if the process dies in between, the
    row names a missing file, which the console shows as deleted."""
    media_id = uploads.new_media_id(photo)
    with session_scope() as session:
        touch_conversation(session, conversation_id, CHANNEL, "private", sender, None, None, now)
        add_attachments(
            session,
            conversation_id,
            CHANNEL,
            [{"kind": "image", "media_id": media_id, "mime_type": photo.mime_type}],
            ["image"],
            now,
        )
    try:
        uploads.write(media_id, photo)
    except BaseException:
        with session_scope() as session:
            session.execute(delete(Attachment).where(Attachment.media_id == media_id))
        raise
