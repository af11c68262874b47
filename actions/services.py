"""Answer a service question, or send the resident to another body, from the knowledge base."""

from __future__ import annotations

from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.common import answer, entity, hand_over, note_unanswered
from knowledge import answers, notices
from knowledge.handover import HandoverReason
from knowledge.models import Service
from knowledge.intents import redirect_key
from knowledge.search import search_services


# Answers the model gave with less confidence than this are listed for editors as "unanswered".
LOW_CONFIDENCE = 0.6


class ActionAnswerService(Action):
    """Reply with the service's summary, link and phone number, worded from the knowledge base."""

    def name(self) -> str:
        return "action_answer_service"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        text = tracker.latest_message.get("text") or ""
        needs_person: list[tuple[HandoverReason, str]] = []

        def build(session: Session) -> answers.Reply:
            council = answers.council(session)
            svc = answers.service_for_intent(session, intent)
            if svc is not None:
                reason = person_reason(svc)
                if reason is not None:
                    needs_person.append((reason, svc.title))
                in_force = notices.lines(notices.active(session, svc.key, area=district(entity(tracker, "postcode"))))
                return answers.service_answer(council, svc, bin_type=entity(tracker, "bin_type"), notices=in_force)
            # The intent names a service an editor has retired: offer what the text is closest to.
            return answers.suggestions_answer(council, search_services(session, text))

        events = answer(dispatcher, tracker, self.name(), build)
        confidence = (tracker.latest_message.get("intent") or {}).get("confidence")
        if isinstance(confidence, (int, float)) and confidence < LOW_CONFIDENCE:
            note_unanswered(tracker, "low_confidence")  # answered, but editors should look at the wording
        for reason, topic in needs_person:  # the self-serve answer, and a person as well
            hand_over(dispatcher, tracker, reason, said_just_now=[m.get("text") or "" for m in dispatcher.messages],
                      topic=topic)
        return events


def district(postcode: Optional[str]) -> Optional[str]:
    """The postcode district ('NB1') of a postcode the resident gave ('nb1 2ab'), for area notices."""
    parts = (postcode or "").upper().split()
    if len(parts) == 2:
        return parts[0]
    compact = "".join(parts)
    return compact[:-3] if len(compact) >= 5 else None


def person_reason(svc: Service) -> Optional[HandoverReason]:
    """Why this service's questions also go to a person, if they do: safeguarding and complaints always,
    and anything the knowledge base marks "always a person"."""
    if svc.category == "safeguarding":
        return HandoverReason.SAFEGUARDING
    if svc.key == "complaints" or svc.key.startswith("complaints."):
        return HandoverReason.COMPLAINT
    if svc.always_human:
        return HandoverReason.TOPIC
    return None


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
