"""Asking for a person, chatter the council can't help with, and messages in Welsh."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.common import answer, hand_over
from actions.reports import ActionReportProgress, mentions_reference
from actions.services import ActionAnswerService, answers_follow_up
from knowledge import answers
from knowledge.casework.handover import HandoverReason
from knowledge.catalogue import examples


class ActionHumanHandoff(Action):
    """The resident asked for a person: open a case and give them its reference."""

    def name(self) -> str:
        return "action_human_handoff"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        hand_over(dispatcher, tracker, HandoverReason.ASKED)
        return []


class ActionOutOfScope(Action):
    """Politely say what the bot can help with, and how to reach a person."""

    def name(self) -> str:
        return "action_out_of_scope"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        if answers_follow_up(tracker, unless_sure=0.8):  # "what about my eldest, she's in year 12?"
            return ActionAnswerService().run(dispatcher, tracker, domain)
        text = tracker.latest_message.get("text") or ""
        if mentions_reference(text):  # reports (issue 13): "NC-2026-000123?" asks how that report is doing
            return ActionReportProgress().run(dispatcher, tracker, domain)

        def build(session: Session) -> answers.Reply:
            council = answers.council(session)
            like = examples.best_match(session, text)  # a topic an editor added after the model was trained
            svc = answers.service(session, like.key) if like else None
            if svc is not None:
                return answers.service_answer(council, svc)
            return answers.Reply(
                text=(
                    f"Sorry, I can't help with that. I can help with {council.name} services, like bins, "
                    f"roads, council tax, housing and social care.\n{answers.contact_line(council)}"
                )
            )

        return answer(dispatcher, tracker, self.name(), build)


class ActionWelsh(Action):
    """A message in Welsh: what the bot can do and the number to call, in Welsh and English."""

    def name(self) -> str:
        return "action_welsh"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        return answer(dispatcher, tracker, self.name(), lambda session: answers.welsh_answer(answers.council(session)))
