"""Answer a service question, or send the resident to another body, from the knowledge base."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.common import answer, entity
from knowledge import answers
from knowledge.intents import redirect_key
from knowledge.search import search_services


class ActionAnswerService(Action):
    """Reply with the service's summary, link and phone number, worded from the knowledge base."""

    def name(self) -> str:
        return "action_answer_service"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        text = tracker.latest_message.get("text") or ""

        def build(session: Session) -> answers.Reply:
            council = answers.council(session)
            svc = answers.service_for_intent(session, intent)
            if svc is not None:
                return answers.service_answer(council, svc, bin_type=entity(tracker, "bin_type"))
            # The intent names a service an editor has retired: offer what the text is closest to.
            return answers.suggestions_answer(council, search_services(session, text))

        return answer(dispatcher, tracker, self.name(), build)


class ActionRedirect(Action):
    """Tell the resident which other body can help (NHS, police, GOV.UK, power network)."""

    def name(self) -> str:
        return "action_redirect"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        key = redirect_key((tracker.latest_message.get("intent") or {}).get("name"))

        def build(session: Session) -> answers.Reply:
            row = answers.redirect(session, key) if key else None
            if row is None:
                return answers.suggestions_answer(answers.council(session), [])
            return answers.redirect_answer(row)

        return answer(dispatcher, tracker, self.name(), build)
