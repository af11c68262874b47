"""What makes the web chat remember: the conversation's history for a page that reloads or comes back,
staff replies signed as from a person, and photos the resident attaches. Routes in `webchat.py`:

- `GET /history?sender=<id>`: the conversation so far (`knowledge.delivery.chat_history`);
- `GET /updates?sender=<id>&after=<message id>&seen=<update id>`: staff replies since `after`, each signed,
  and the council's updates on the resident's reports not yet collected (`seen`: the last one the page
  showed, now collected; absent, as from a page older than these updates, collects nothing);
- `POST /photo?sender=<id>`: the photo's bytes as the body (any declared type: the bytes decide).

Each needs the conversation's owner token (`X-Conversation-Token`), except a photo that starts a new
conversation, which is given one like a first message. A wrong, forged or missing token, or a token of
another conversation, gets 403 and the same words whether or not the id exists, so nobody learns which ids
are in use, let alone what was said. Each is rate-limited per network address like the other endpoints;
history has a tighter limit of its own (it reads the whole conversation), and is refused (403, so the page
starts afresh) for a conversation idle longer than WEBCHAT_HISTORY_IDLE_DAYS: a shared device forgets.

A photo's cost is paid in order of cheapness: the rate limits, the owner token, the photo caps and the free
disk space are all checked before its body is read, and only then is it decoded (two at a time).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Optional

from rasa.core.tracker_store import SQLTrackerStore
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import delete, select

from bot.channels.handover_gate import intercept
from bot.channels.ratelimit import digest, limiter
from bot.channels.rest import NOT_YOURS, SENDER_RE, TOKEN_HEADER
from bot.client_address import address_bucket
from knowledge import answers
from knowledge.channels import channel
from knowledge.db import session_scope
from knowledge.delivery import chat_history, uploads
from knowledge.delivery.access import authorize_write, may_read
from knowledge.delivery.conversations import add_attachments, touch_conversation, utcnow
from knowledge.models import Attachment, Conversation
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
# Reads the photo's body, up to the limit given (None: it was over the limit and was not kept).
BodyReader = Callable[[int], Awaitable[Optional[bytes]]]

# Only events that can become one of the page's lines are turned into dicts: the rest (slots, actions,
# session starts) are most of a long tracker.
_SHOWN_EVENTS = ("user", "bot")


def _tracker_events_now(store: Any, conversation_id: str) -> Optional[list[dict[str, Any]]]:
    """The tracker's last MAX_LINES user and bot events as dicts (all the page can show), read on this
    worker thread: Rasa's tracker stores do their database work and event parsing inside their async
    methods, so awaited on the server's loop they would stall every other resident while a long
    conversation loads. From the SQL tracker store only those rows are read (each row's `data` is the
    event's dict); no tracker is rebuilt, which for thousands of events costs seconds of CPU and enough
    objects to set off a long garbage collection that holds every thread."""
    inner = getattr(store, "_tracker_store", store)  # Rasa wraps the configured store to await it
    if isinstance(inner, SQLTrackerStore):
        table = inner.SQLEvent
        with inner.session_scope() as session:
            rows = (
                session.execute(
                    select(table.data)
                    .where(table.sender_id == conversation_id, table.type_name.in_(_SHOWN_EVENTS))
                    .order_by(table.id.desc())
                    .limit(chat_history.MAX_LINES)
                )
                .scalars()
                .all()
            )
        return [json.loads(data) for data in reversed(rows) if data] or None
    # Other stores (Redis, Mongo, DynamoDB) keep a conversation as one record: it is read whole.
    tracker = asyncio.run(store.retrieve_full_tracker(conversation_id))
    if tracker is None:
        return None
    shown = [event for event in tracker.events if getattr(event, "type_name", "") in _SHOWN_EVENTS]
    return [event.as_dict() for event in shown[-chat_history.MAX_LINES :]]


def tracker_events(app: Any) -> EventsLookup:
    """An EventsLookup on the Rasa app's tracker store, read off the event loop. The full tracker, not only
    the current session: a resident coming back the next day starts a new Rasa session but sees the whole
    conversation."""

    async def lookup(conversation_id: str) -> Optional[list[dict[str, Any]]]:
        return await asyncio.to_thread(_tracker_events_now, app.ctx.agent.tracker_store, conversation_id)

    return lookup


def _refused(status: int, error: str, retry_after: int = 0) -> HTTPResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return response.json({"error": error}, status=status, headers=headers)


async def _poll_allowed(address: Optional[str]) -> Optional[HTTPResponse]:
    verdict = await limiter().check_poll(address)
    return None if verdict.allowed else _refused(429, TOO_MANY, verdict.retry_after)


async def _history_allowed(address: Optional[str]) -> Optional[HTTPResponse]:
    """History reads the whole conversation, so on top of the poll limit it has its own, per network
    address a minute (WEBCHAT_HISTORY_PER_ADDRESS_PER_MINUTE): a page asks once per load. Counted in the
    rate limiter's store (Redis when configured, so all replicas share it); fails open like the others."""
    per_minute = settings().webchat_history_per_address_per_minute
    if not address or not per_minute:
        return None
    now = time.time()
    minute = int(now // 60)
    try:
        count = await limiter().backend.hit(f"hi:{digest(address_bucket(address))}:{minute}", 120)
    except Exception as exc:  # noqa: BLE001 - a limiter outage must not take the page's memory away
        log.warning("rate limiter unavailable (%s); history let through", type(exc).__name__)
        return None
    if count <= per_minute:
        return None
    return _refused(429, TOO_MANY, max(1, int((minute + 1) * 60 - now + 0.999)))


async def history_response(
    sender: Optional[str], token: Optional[str], events_of: EventsLookup, address: Optional[str] = None
) -> HTTPResponse:
    """`{"messages": [...], "after": <id>}`: the conversation so far as the page shows it (with the
    council's report updates it has collected), and the id its poll for staff replies continues from. Only
    for the owner token's holder (403 otherwise)."""
    refused = await _poll_allowed(address)
    if refused is None:
        refused = await _history_allowed(address)
    if refused is not None:
        return refused
    if not sender or not SENDER_RE.match(sender):
        return _refused(400, BAD_SENDER)
    conversation_id = SENDER_PREFIX + sender
    if not await asyncio.to_thread(may_read, conversation_id, token):
        log.info("web chat history refused for conversation %s (no owner token)", pseudonym(conversation_id))
        return _refused(403, NOT_YOURS)
    s = settings()

    def idle() -> bool:
        with session_scope() as session:
            return chat_history.idle_too_long(session, conversation_id, utcnow(), s.webchat_history_idle_days)

    if await asyncio.to_thread(idle):
        # The same refusal as a stranger's: the page forgets the conversation and starts a new one.
        log.info("web chat history refused for conversation %s (idle too long)", pseudonym(conversation_id))
        return _refused(403, NOT_YOURS)
    events = await events_of(conversation_id) or []

    def read() -> tuple[list[chat_history.Line], int]:
        with session_scope() as session:
            return chat_history.history(session, conversation_id, events, s.webchat_staff_name, s.webchat_team_name)

    lines, after = await asyncio.to_thread(read)
    return response.json(
        {"messages": [line.as_json() for line in lines], "after": after}, headers={"Cache-Control": "no-store"}
    )


def message_id(value: Optional[str]) -> Optional[int]:
    """A row id the page sent back (absent: 0), or None if it isn't one."""
    try:
        number = int(value or 0)
    except ValueError:
        return None
    return number if 0 <= number < 2**63 else None


async def updates_response(
    sender: Optional[str],
    after: Optional[str],
    token: Optional[str],
    address: Optional[str] = None,
    seen: Optional[str] = None,
) -> HTTPResponse:
    """Staff replies (signed: `from` staff with a `label`) and the bot's messages about the case since
    message id `after` (each with its `id`), then the council's updates on the resident's reports that the
    page hasn't collected (`from` council, `label` and `reference` naming the report, `update` their id),
    for the owner token's holder. `seen` is the last `update` the page showed: it and those before it are
    collected now and not given again. The REST channel's poll (`rest.updates_response`) gives the same
    messages without the signature. A conversation idle longer than WEBCHAT_HISTORY_IDLE_DAYS gets no
    council updates: they wait, as its history does, and the console says they wait."""
    refused = await _poll_allowed(address)
    if refused is not None:
        return refused
    if not sender or not SENDER_RE.match(sender):
        return _refused(400, BAD_SENDER)
    since, shown = message_id(after), message_id(seen)
    if since is None:
        return _refused(400, "'after' must be a message id")
    if shown is None:
        return _refused(400, "'seen' must be an update id")
    conversation_id = SENDER_PREFIX + sender
    if not await asyncio.to_thread(may_read, conversation_id, token):
        return _refused(403, NOT_YOURS)
    s = settings()

    def read() -> list[dict[str, Any]]:
        now = utcnow()
        with session_scope() as session:
            messages = chat_history.staff_updates(
                session, conversation_id, since, s.webchat_staff_name, s.webchat_team_name
            )
            if not chat_history.idle_too_long(session, conversation_id, now, s.webchat_history_idle_days):
                messages += chat_history.council_updates(session, conversation_id, shown, now)
            return messages

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
    read: BodyReader, sender: Optional[str], token: Optional[str], address: Optional[str] = None
) -> HTTPResponse:
    """Keep one photo the resident attached and answer as for a platform photo: the bot's note that it was
    kept, or, while staff have the conversation, onto the case (acknowledged like a message). `read` reads
    the body, called only once the caller has passed every check that costs nothing to make (rate limits,
    owner token, photo caps, free disk). Refusals are worded for the chat: `[{"text": reason}]` with 413
    (too large), 415 (not an image), 429 (as many photos as allowed), 507 (no room on disk) or 503 (the
    disk or database failed: nothing kept, try again); 403 for someone else's conversation, 429 with
    `error` over the message limits."""
    if not sender or not SENDER_RE.match(sender):
        return _refused(400, BAD_SENDER)
    conversation_id = SENDER_PREFIX + sender
    # A photo counts as a message against every limit (sender, address, new conversations, channel).
    verdict = await limiter().check(CHANNEL, conversation_id, address)
    if not verdict.allowed:
        return _refused(429, TOO_MANY, verdict.retry_after)
    now = utcnow()
    access = await asyncio.to_thread(authorize_write, conversation_id, CHANNEL, sender, token, now)
    if not access.allowed:
        log.warning("web chat photo refused for conversation %s without its owner token", pseudonym(conversation_id))
        return _refused(403, NOT_YOURS)
    # From here the caller owns the conversation: a new one's token goes back with any answer, even a refusal.
    headers = {TOKEN_HEADER: access.new_token} if access.new_token else None
    try:
        early = await asyncio.to_thread(_may_keep_more, conversation_id, now)
    except Exception:  # noqa: BLE001 - the uploads folder or the database can't be read: try again later
        log.error("web chat photos: can't check the uploads folder or the caps", exc_info=True)
        early = "not_kept"
    if early is not None:
        # Read to the end keeping nothing (limit 0), so the browser gets this answer, not a cut connection.
        await read(0)
        return _photo_refused(early, conversation_id, headers)
    limit = settings().webchat_photo_max_bytes
    body = await read(limit)
    photo: Optional[uploads.CleanPhoto] = None
    reason = "too_large"  # body None: the upload was over the limit and never read in full
    if body is not None:
        try:
            async with PHOTO_DECODES:
                photo = await asyncio.to_thread(uploads.clean_photo, body, limit)
        except uploads.PhotoRefused as refusal:
            reason = refusal.reason
        del body  # the upload's bytes needn't outlive the decode
    if photo is None:
        return _photo_refused(reason, conversation_id, headers)
    try:
        await asyncio.to_thread(_keep, conversation_id, sender, photo, now)
    except uploads.PhotoRefused as refusal:  # the cap was reached while this one was being decoded
        return _photo_refused(refusal.reason, conversation_id, headers)
    except Exception:  # noqa: BLE001 - disk or database: nothing kept, and the resident may try again
        log.error("could not keep a web chat photo in conversation %s", pseudonym(conversation_id), exc_info=True)
        return _photo_refused("not_kept", conversation_id, headers)
    # The same flow as a platform photo (bot/channels/responder.py): staff have it, or the bot's note.
    instead = await asyncio.to_thread(intercept, conversation_id, "", ["image"], now)
    if instead is None:
        note = answers.attachment_note(["image"], [], asked_something=False)
        instead = [{"text": note}] if note else []
    return response.json([{"text": m.get("text") or ""} for m in instead if m.get("text")], headers=headers)


# PhotoRefused.reason -> HTTP status of the chat-worded refusal
_REFUSAL_STATUS = {"too_large": 413, "not_image": 415, "limit": 429, "no_room": 507, "not_kept": 503}


def _photo_refused(reason: str, conversation_id: str, headers: Optional[dict[str, str]]) -> HTTPResponse:
    log.info("web chat photo refused (%s) in conversation %s", reason, pseudonym(conversation_id))
    text = {
        "too_large": lambda: answers.photo_too_large(settings().webchat_photo_max_bytes),
        "limit": answers.photo_limit_reached,
        "no_room": answers.photo_no_room,
        "not_kept": answers.photo_not_kept,
    }.get(reason, answers.photo_not_an_image)()
    return response.json([{"text": text}], status=_REFUSAL_STATUS.get(reason, 415), headers=headers)


def _may_keep_more(conversation_id: str, now: Any) -> Optional[str]:
    """Why no photo can be kept now ("limit" or "no_room"), or None: checked before the body is read, so
    a refused upload costs nothing. The caps are checked again when the row is inserted (`_keep`)."""
    if not uploads.room_to_keep():
        log.warning("web chat photos refused: the uploads folder's disk is below WEBCHAT_UPLOADS_MIN_FREE_BYTES")
        return "no_room"
    with session_scope() as session:
        return "limit" if uploads.over_cap(session, conversation_id, now) else None


def _keep(conversation_id: str, sender: str, photo: uploads.CleanPhoto, now: Any) -> None:
    """Write the photo's file under a hidden `.part` name, commit its row (the caps checked in the same
    transaction), publish the file under its name, then make sure the row is still there: an erasure that
    ran in between deleted the rows it found and the files they named, but couldn't yet see this file, so it
    goes now. Raises PhotoRefused("limit") with nothing kept when the caps were reached meanwhile. If the
    process dies part-way, what is left is a `.part` file (swept by retention) or a row whose file is
    missing (shown to staff as deleted), never a photo that erasure can't find."""
    media_id = uploads.new_media_id(photo)
    uploads.write_partial(media_id, photo)
    try:
        with session_scope() as session:
            touch_conversation(session, conversation_id, CHANNEL, "private", sender, None, None, now)
            # Lock the conversation's row until commit (PostgreSQL; SQLite lets one writer in at a time), so
            # two uploads into one conversation can't both count the same last free place.
            session.execute(select(Conversation.id).where(Conversation.id == conversation_id).with_for_update())
            if uploads.over_cap(session, conversation_id, now):
                raise uploads.PhotoRefused("limit")
            add_attachments(
                session,
                conversation_id,
                CHANNEL,
                [{"kind": "image", "media_id": media_id, "mime_type": photo.mime_type}],
                ["image"],
                now,
            )
    except BaseException:
        uploads.discard(media_id)
        raise
    try:
        uploads.publish(media_id)
    except BaseException:
        # The row is committed but its file can't be published: the row goes, and so does the file.
        uploads.discard(media_id)
        with session_scope() as session:
            session.execute(delete(Attachment).where(Attachment.media_id == media_id))
        raise
    with session_scope() as session:
        still = session.execute(select(Attachment.id).where(Attachment.media_id == media_id)).first()
    if still is None:
        uploads.discard(media_id)
        log.info("web chat photo in conversation %s erased while it was being kept", pseudonym(conversation_id))
