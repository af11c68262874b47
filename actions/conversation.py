"""Asking for a person, and chatter the council can't help with."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.common import answer
from knowledge import answers
from knowledge.handover import HandoverReason, request_handover


class ActionHumanHandoff(Action):
    """The resident asked for a person: hand over (the single plug-in point) and say how to reach one."""

    def name(self) -> str:
        return "action_human_handoff"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        handover = request_handover(tracker.sender_id, tracker.get_latest_input_channel(), HandoverReason.ASKED)
        return answer(dispatcher, tracker, self.name(),
                      lambda session: answers.person_answer(answers.council(session), handover.reference))


class ActionOutOfScope(Action):
    """Politely say what the bot can help with, and how to reach a person."""

    def name(self) -> str:
        return "action_out_of_scope"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        def build(session: Session) -> answers.Reply:
            council = answers.council(session)
            return answers.Reply(text=(
                f"Sorry, I can't help with that. I can help with {council.name} services, like bins, "
                f"roads, council tax, housing and social care.\n{answers.contact_line(council)}"
            ))

        return answer(dispatcher, tracker, self.name(), build)
