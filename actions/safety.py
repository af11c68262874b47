"""The crisis answer: 999, Samaritans and out-of-hours social care, before anything else."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import hand_over, send
from knowledge import answers
from knowledge.db import session_scope
from knowledge.handover import HandoverReason


class ActionCrisis(Action):
    """Send emergency numbers at once and flag the conversation for a person."""

    def name(self) -> str:
        return "action_crisis"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        try:
            with session_scope() as session:
                reply = answers.crisis_answer(answers.council(session))
        except Exception:  # noqa: BLE001 - never let a database problem hold back 999
            reply = answers.crisis_answer(None)
        send(dispatcher, reply)
        # Numbers first; then an urgent case, so a person follows up.
        hand_over(dispatcher, tracker, HandoverReason.CRISIS, said_just_now=[reply.text], phone_if_failed=False)
        return []
