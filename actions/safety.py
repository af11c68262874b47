"""The danger answer: the line for the kind of danger first (999; Samaritans; Childline; the domestic abuse
helpline; the gas emergency line), then any service question asked in the same message, then an urgent case
so a person follows up. Only the danger net (bot/nlu/danger.py) sends a message here."""

from __future__ import annotations

import re
from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.common import hand_over, send
from knowledge import answers
from knowledge.casework.handover import HandoverReason
from knowledge.catalogue.search import search_services
from knowledge.danger.kinds import DangerKind
from knowledge.danger.lexicon import default_lexicon
from knowledge.db import session_scope
from knowledge.models import Service
from knowledge.understanding.intents import is_service_intent

# A service the classifier ranks at least this high in a message about danger was asked about too
# ("my neighbour's house is on fire, and when is bin day" gets the bin day answer after 999).
ALSO_ASKED_CONFIDENCE = 0.5


_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")


def also_asked(tracker: Tracker) -> Optional[str]:
    """The service intent the message also asks about, if the classifier is sure enough."""
    for entry in tracker.latest_message.get("intent_ranking") or []:
        name, confidence = entry.get("name"), entry.get("confidence") or 0
        if name == "crisis":
            continue
        return name if is_service_intent(name) and confidence >= ALSO_ASKED_CONFIDENCE else None
    return None


def other_sentences(text: str) -> str:
    """The sentences of a message that name no danger, when the lexicon can tell which one does: what is
    left is a question of its own ("...not breathing. Also when is my bin day?")."""
    sentences = [s for s in _SENTENCES.split(text or "") if s.strip()]
    rest = [s for s in sentences if default_lexicon().match(s) is None]
    return " ".join(rest) if 0 < len(rest) < len(sentences) and len(" ".join(rest).split()) >= 3 else ""


def also_asked_service(session: Session, tracker: Tracker) -> Optional[Service]:
    """The service asked about beside the danger: when the lexicon can tell the danger's sentence apart,
    the best search match for the other sentences (the classifier only saw the whole message); else the
    classifier's runner-up if it is sure."""
    rest = other_sentences(tracker.latest_message.get("text") or "")
    if rest:
        found = search_services(session, rest, limit=1)
        return found[0] if found else None
    return answers.service_for_intent(session, also_asked(tracker))


class ActionCrisis(Action):
    """Send the numbers for the kind of danger at once and flag the conversation for a person."""

    def name(self) -> str:
        return "action_crisis"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        kind = DangerKind.parse((tracker.latest_message.get("danger") or {}).get("kind"))
        service_reply = None
        try:
            with session_scope() as session:
                council = answers.council(session)
                reply = answers.danger_answer(council, kind)
                svc = also_asked_service(session, tracker)
                if svc is not None:
                    service_reply = answers.service_answer(council, svc)
        except Exception:  # noqa: BLE001 - never let a database problem hold back 999
            reply = answers.danger_answer(None, kind)
        send(dispatcher, reply)
        if service_reply is not None:
            send(dispatcher, service_reply)
        # Numbers first; then an urgent case, so a person follows up.
        hand_over(dispatcher, tracker, HandoverReason.CRISIS, said_just_now=[reply.text], phone_if_failed=False)
        return []
