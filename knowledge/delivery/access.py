"""Who may use a conversation on the channels that callers name themselves (REST and the web chat).

The platforms' webhooks are signed, so their conversation ids can be trusted. A REST or web chat caller
chooses its own sender id, so the id alone proves nothing: anyone who learns it could read the staff
replies meant for that resident, or write into their case. So the first request of a new conversation is
given a random owner token (only its SHA-256 is stored); every later message and every poll for staff
replies must carry it. A caller without it is refused and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Optional

from sqlalchemy.exc import IntegrityError

from knowledge.db import session_scope
from knowledge.models import Conversation

TOKEN_BYTES = 32
# Tokens are url-safe base64 of TOKEN_BYTES: anything longer or with other characters is not one of ours.
MAX_TOKEN_CHARS = 64


@dataclass(frozen=True)
class Access:
    """The outcome of a check. `allowed` False: refuse the request. `new_token` is set only when this
    request created the conversation: return it to the caller, who must send it from now on."""

    allowed: bool
    new_token: Optional[str] = None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _matches(stored_hash: Optional[str], token: Optional[str]) -> bool:
    if not stored_hash or not token or len(token) > MAX_TOKEN_CHARS:
        return False
    return hmac.compare_digest(stored_hash, _digest(token))


def authorize_write(
    conversation_id: str, channel: str, user_id: str, token: Optional[str], now: dt.datetime, url: Optional[str] = None
) -> Access:
    """May this caller write into `conversation_id`? A new conversation is created here with a fresh owner
    token (so two callers racing for one new id can't both own it: the primary key decides). An existing
    one needs its token. A conversation made before tokens existed is handed to the first caller with its
    id; such ids were random and private to the resident's browser."""
    fresh = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        with session_scope(url) as session:
            conv = session.get(Conversation, conversation_id)
            if conv is None:
                session.add(
                    Conversation(
                        id=conversation_id,
                        channel=channel,
                        origin="private",
                        platform_user_id=user_id,
                        created_at=now,
                        access_token_hash=_digest(fresh),
                    )
                )
                session.flush()
                return Access(True, fresh)
            if conv.channel != channel:
                return Access(False)  # another channel's conversation: never writable from here
            if conv.access_token_hash is None:
                conv.access_token_hash = _digest(fresh)
                return Access(True, fresh)
            return Access(_matches(conv.access_token_hash, token))
    except IntegrityError:
        # Someone else created it between our read and our insert: they own it, unless we hold the token.
        return Access(may_read(conversation_id, token, url))


def may_read(conversation_id: str, token: Optional[str], url: Optional[str] = None) -> bool:
    """May this caller read `conversation_id` (staff replies)? Only with its owner token."""
    with session_scope(url) as session:
        conv = session.get(Conversation, conversation_id)
        return conv is not None and _matches(conv.access_token_hash, token)
