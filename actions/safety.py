"""The danger answer: the line for the kind of danger first (999; Samaritans; Childline; the domestic abuse
helpline; the gas emergency line), then any service question asked in the same message, then an urgent case
so a person follows up. Only the danger net (bot/nlu/danger.py) sends a message here."""

from __future__ import annotations

from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import hand_over, send
from knowledge import answers
from knowledge.danger.kinds import DangerKind
from knowledge.db import session_scope
from knowledge.handover import HandoverReason
from knowledge.intents import is_service_intent

# A service the classifier ranks at least this high in a message about danger was asked about too
# ("my neighbour's house is on fire, and when is bin day" gets the bin day answer after 999).
ALSO_ASKED_CONFIDENCE = 0.5


def also_asked(tracker: Tracker) -> Optional[str]:
    """The service intent the message also asks about, if the classifier is sure enough."""
    for entry in tracker.latest_message.get("intent_ranking") or []:
        name, confidence = entry.get("name"), entry.get("confidence") or 0
        if name == "crisis":
            continue
        return name if is_service_intent(name) and confidence >= ALSO_ASKED_CONFIDENCE else None
    return None


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
                svc = answers.service_for_intent(session, also_asked(tracker))
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

