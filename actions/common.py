"""What every action shares: a knowledge-base session, a way to send a `Reply`, and noting what the bot
couldn't answer well for editors (`note_unanswered`)."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from knowledge import answers
from knowledge.answers import Reply
from knowledge.casework.handover import Handover, HandoverReason, request_handover
from knowledge.catalogue import unanswered

# The channel table is a plain module (no Rasa, no database) and the one home of the platforms' windows;
# the action server reads it rather than keep a second copy of those rules.
from knowledge.db import session_scope
from knowledge.personal_data.privacy import pseudonym

log = logging.getLogger(__name__)

# Said when the knowledge base itself is unreachable: no council details to quote, so keep it general.
UNAVAILABLE = "Sorry, something went wrong on our side. Please try again in a few minutes."
URL = re.compile(r"https?://\S+")


def send(dispatcher: CollectingDispatcher, reply: Reply) -> None:
    """Send one reply, with buttons where there are any."""
    dispatcher.utter_message(text=reply.text, buttons=reply.buttons or None)


def answer(
    dispatcher: CollectingDispatcher, tracker: Tracker, action: str, build: Callable[[Session], Optional[Reply]]
) -> list[dict[str, Any]]:
    """Run `build` in a read-only session and send its reply. Failures are logged by action and
    conversation only (never the resident's text) and the resident still gets an answer."""
    try:
        with session_scope() as session:
            reply = build(session)
    except Exception:  # noqa: BLE001 - the resident must never be left without a reply
        log.exception("action %s failed in conversation %s", action, pseudonym(tracker.sender_id))
        reply = Reply(text=UNAVAILABLE)
    if reply is not None:
        if uneasy(tracker):  # the danger net isn't sure: the numbers go with the answer
            reply = Reply(
                text=f"{reply.text}\n{answers.caution_line(_council_or_none())}",
                buttons=reply.buttons,
                service_key=reply.service_key,
            )
        send(dispatcher, reply)
    return []


def uneasy(tracker: Tracker) -> bool:
    """The danger net flagged the latest message below its alarm threshold (bot/nlu/danger.py)."""
    danger = tracker.latest_message.get("danger")
    return isinstance(danger, dict) and danger.get("urgent") is False


def _council_or_none() -> Optional[Any]:
    try:
        with session_scope() as session:
            c = answers.council(session)
            session.expunge(c)
            return c
    except Exception:  # noqa: BLE001 - the national numbers still go out
        return None


def top_guess(tracker: Tracker) -> tuple[Optional[str], Optional[float]]:
    """The model's likeliest real intent for the latest message and its confidence: the best of the ranking
    that isn't `nlu_fallback` (which says only that nothing was likely enough)."""
    ranking = tracker.latest_message.get("intent_ranking") or [tracker.latest_message.get("intent") or {}]
    best = next((r for r in ranking if r.get("name") and r.get("name") != "nlu_fallback"), None)
    return (best.get("name"), best.get("confidence")) if best else (None, None)


def note_unanswered(tracker: Tracker, kind: str) -> None:
    """Record the latest message as one the bot couldn't answer well (`kind`: fallback, low_confidence or
    handover) for the editors' list, in its own transaction. Never raises: the resident's reply matters
    more. On failure only the exception's type is logged: SQL errors quote their parameters, and those
    include what the resident typed."""
    try:
        intent, confidence = top_guess(tracker)
        with session_scope() as session:
            unanswered.record(
                session,
                tracker.latest_message.get("text") or "",
                kind,
                intent=intent,
                confidence=confidence,
                channel=tracker.get_latest_input_channel(),
                conversation_id=tracker.sender_id,
            )
    except Exception as exc:  # noqa: BLE001 - a lost note must never cost the resident their answer
        log.warning(
            "could not note an unanswered %s message in conversation %s: %s",
            kind,
            pseudonym(tracker.sender_id),
            type(exc).__name__,
        )


def entity(tracker: Tracker, name: str) -> Optional[str]:
    """First value of entity `name` in the latest message."""
    value = next(tracker.get_latest_entity_values(name), None)
    return value if isinstance(value, str) else None


def transcript(tracker: Tracker, limit: int = 100) -> list[dict[str, Any]]:
    """The conversation so far as case timeline lines: what the resident said with what the bot understood
    (intent, confidence), and what the bot said with the links it sent."""
    lines: list[dict[str, Any]] = []
    for event in tracker.events[-limit:]:
        kind = event.get("event")
        at = _when(event.get("timestamp"))
        if kind == "user":
            intent = (event.get("parse_data") or {}).get("intent") or {}
            lines.append(
                {
                    "author": "resident",
                    "text": event.get("text") or "",
                    "at": at,
                    "meta": {"intent": intent.get("name"), "confidence": intent.get("confidence")},
                }
            )
        elif kind == "bot":
            text = event.get("text") or ""
            lines.append({"author": "bot", "text": text, "at": at, "meta": {"links": URL.findall(text)}})
    return lines


def _when(timestamp: Any) -> Optional[dt.datetime]:
    try:
        return dt.datetime.fromtimestamp(float(timestamp), dt.UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError):
        return None


def hand_over(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    reason: HandoverReason,
    said_just_now: Optional[list[str]] = None,
    topic: Optional[str] = None,
    phone_if_failed: bool = True,
) -> Optional[Handover]:
    """Open (or find) the conversation's case and tell the resident its reference and when they'll hear
    back. `said_just_now` is what this action already sent (not yet in the tracker), for the timeline. If
    the case can't be opened the resident still gets the phone number (unless `phone_if_failed` is False:
    the crisis answer already gave every number that matters)."""
    lines = transcript(tracker) + [
        {"author": "bot", "text": t, "meta": {"links": URL.findall(t)}} for t in said_just_now or []
    ]
    origin = (tracker.latest_message.get("metadata") or {}).get("origin", "private")
    try:
        with session_scope() as session:
            council = answers.council(session)
        handover = request_handover(
            tracker.sender_id,
            tracker.get_latest_input_channel(),
            reason,
            lines,
            origin=origin,
            topic=topic,
            reply_for=lambda h: answers.handover_answer(
                council, h.reference, h.created, h.urgent, h.expectation, h.offer_contact, h.contact_saved
            ),
            offer_contact=True,
            said=tracker.latest_message.get("text") or "",
        )
    except Exception:  # noqa: BLE001 - without a case, a phone number is still a way to a person
        log.exception("handover failed in conversation %s", pseudonym(tracker.sender_id))
        if not phone_if_failed:
            return None
        try:
            with session_scope() as session:
                send(dispatcher, answers.person_answer(answers.council(session)))
        except Exception:  # noqa: BLE001
            send(dispatcher, Reply(text=UNAVAILABLE))
        return None
    if handover.capped:  # the caps allow no new case: the phone number instead
        send(
            dispatcher,
            answers.case_cap_answer(
                council, busy=handover.capped == "channel_hour", reference=handover.reference or None
            ),
        )
        log.info("handover capped (%s) in conversation %s", handover.capped, pseudonym(tracker.sender_id))
        return handover
    dispatcher.utter_message(text=handover.reply)
    return handover
