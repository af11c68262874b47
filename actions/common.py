"""What every action shares: a knowledge-base session and a way to send a `Reply`."""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from knowledge.answers import Reply
from knowledge.db import session_scope
from knowledge.privacy import pseudonym

log = logging.getLogger(__name__)

# Said when the knowledge base itself is unreachable: no council details to quote, so keep it general.
UNAVAILABLE = "Sorry, something went wrong on our side. Please try again in a few minutes."


def send(dispatcher: CollectingDispatcher, reply: Reply) -> None:
    """Send one reply, with buttons where there are any."""
    dispatcher.utter_message(text=reply.text, buttons=reply.buttons or None)


def answer(dispatcher: CollectingDispatcher, tracker: Tracker, action: str,
           build: Callable[[Session], Optional[Reply]]) -> list[dict[str, Any]]:
    """Run `build` in a read-only session and send its reply. Failures are logged by action and
    conversation only (never the resident's text) and the resident still gets an answer."""
    try:
        with session_scope() as session:
            reply = build(session)
    except Exception:  # noqa: BLE001 - the resident must never be left without a reply
        log.exception("action %s failed in conversation %s", action, pseudonym(tracker.sender_id))
        reply = Reply(text=UNAVAILABLE)
    if reply is not None:
        send(dispatcher, reply)
    return []


def entity(tracker: Tracker, name: str) -> Optional[str]:
    """First value of entity `name` in the latest message."""
    value = next(tracker.get_latest_entity_values(name), None)
    return value if isinstance(value, str) else None
