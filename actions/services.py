"""Answer a service question, or send the resident to another body, from the knowledge base.

Which service: the model's service intent; for a follow-up ("how much is it?", "what about the other bin?"), the
service answered last in this conversation (slot `last_service`); an editor's example question the message is
like (knowledge/catalogue/examples.py) when the model has none, or for a topic added after training. What about
it: the aspect the message asks (knowledge/understanding/followups.py), or the previous turn's for "same for the
leisure centre?". What the reply says, and whether a person takes over as well, is decided by
knowledge/service_reply.py (the editors' preview uses it too); the action performs what the decision asks: the
case, the note for editors, the slots."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.common import answer, entity, hand_over, note_unanswered
from knowledge import answers, service_reply
from knowledge.catalogue import examples
from knowledge.models import Service
from knowledge.understanding.followups import is_follow_up, refers_back
from knowledge.understanding.intents import intent_for_service, is_service_intent, redirect_key

# A question about cost, eligibility or timing whose service the model is less sure of than this is taken
# as a follow-up about the service answered last ("do under 5s go free?" after the leisure centre).
FOLLOW_UP_BELOW = 0.5
# In a short follow-up naming another service ("and the tip?"), the model's guess for it must reach this.
OTHER_SERVICE_AT_LEAST = 0.25


def _top_service_guess(tracker: Tracker) -> tuple[Optional[str], float]:
    for entry in tracker.latest_message.get("intent_ranking") or []:
        if is_service_intent(entry.get("name")):
            return entry.get("name"), entry.get("confidence") or 0.0
    return None, 0.0


def resolve_service(
    session: Session, tracker: Tracker, intent: str, text: str, known_intents: Collection[str]
) -> Optional[Service]:
    """The service this message is about (see the module docstring), or None.

    A follow-up goes to the service answered last unless the model is sure of another one, or the message
    refers back while naming another service ("same for the leisure centre?", "and the tip?") or another
    bin ("and the recycling?": the same service, the other bin).
    An editor's example question decides when the model has no service for the message, when the example
    is for a topic the model has never been trained on (`known_intents`: the domain's), or when the message
    is nearly the example word for word. Otherwise the model's answer stands, so a short example such as
    "is the library open on sundays" can't capture "is the tip open on sundays" or "is it open on sunday"."""
    from_model = answers.service_for_intent(session, intent) if is_service_intent(intent) else None
    last = tracker.get_slot("last_service")
    confidence = (tracker.latest_message.get("intent") or {}).get("confidence") or 0.0
    if is_follow_up(text, intent, last) and (from_model is None or confidence < FOLLOW_UP_BELOW):
        guess, guess_confidence = _top_service_guess(tracker)
        names_other = (
            refers_back(text)
            and guess is not None
            and guess_confidence >= OTHER_SERVICE_AT_LEAST
            and entity(tracker, "bin_type") is None
        )
        other = answers.service_for_intent(session, guess) if names_other else None
        from_model = other or answers.service(session, last) or from_model
    like = examples.best_match(session, text)
    if like is not None:
        new_topic = intent_for_service(like.key) not in known_intents
        if from_model is None or new_topic or like.similarity >= examples.NEAR_VERBATIM:
            return answers.service(session, like.key) or from_model
    return from_model


class ActionAnswerService(Action):
    """Reply with the service's summary (or the cost, eligibility or timing asked), link and phone number,
    worded from the knowledge base (knowledge/service_reply.py decides), and remember the service for follow-ups."""

    def name(self) -> str:
        return "action_answer_service"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        text = tracker.latest_message.get("text") or ""
        confidence = (tracker.latest_message.get("intent") or {}).get("confidence")
        what = service_reply.asked(
            text,
            intent,
            entity(tracker, "bin_type"),
            last_aspect=tracker.get_slot("last_aspect"),
            last_bin_type=tracker.get_slot("last_bin_type"),
        )
        decided: list[service_reply.ServiceReply] = []

        def build(session: Session) -> answers.Reply:
            svc = resolve_service(session, tracker, intent, text, domain.get("intents") or [])
            decided.append(
                service_reply.decide(
                    session,
                    svc,
                    text,
                    bin_type=what.bin_type,
                    aspect=what.aspect,
                    postcode=entity(tracker, "postcode"),
                    confidence=confidence,
                )
            )
            return decided[0].reply

        events = answer(dispatcher, tracker, self.name(), build)
        decision = decided[0] if decided else None
        kind = decision.unanswered if decision else service_reply.unanswered_kind(confidence)
        if kind:
            note_unanswered(tracker, kind)  # answered, but editors should look at the wording
        if decision is not None and decision.handover is not None:  # the self-serve answer, and a person as well
            hand_over(
                dispatcher,
                tracker,
                decision.handover,
                said_just_now=[m.get("text") or "" for m in dispatcher.messages],
                topic=decision.topic,
            )
        if decision is not None and decision.service_key is not None:
            events += [
                SlotSet("last_service", decision.service_key),
                SlotSet("last_aspect", what.aspect.value if what.aspect else None),
                SlotSet("last_bin_type", what.bin_type),
            ]
        return events


# A redirect the model is less sure of than this, in a question about the last service's cost, eligibility
# or timing, is taken as that follow-up.
REDIRECT_SURE = 0.8


def answers_follow_up(tracker: Tracker, unless_sure: float) -> bool:
    """Should this message be answered as a follow-up about the last service, although the model took it
    for something else (a redirect, out of scope, or nothing), at a confidence below `unless_sure`?"""
    text = tracker.latest_message.get("text") or ""
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    confidence = (tracker.latest_message.get("intent") or {}).get("confidence") or 0.0
    return confidence < unless_sure and is_follow_up(text, intent, tracker.get_slot("last_service"))


class ActionRedirect(Action):
    """Tell the resident which other body can help (NHS, police, GOV.UK, National Highways, another
    council, the water company, energy suppliers, DVLA, the power network)."""

    def name(self) -> str:
        return "action_redirect"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        if answers_follow_up(tracker, REDIRECT_SURE):  # "we're on universal credit, do we qualify?"
            return ActionAnswerService().run(dispatcher, tracker, domain)
        key = redirect_key((tracker.latest_message.get("intent") or {}).get("name"))

        def build(session: Session) -> answers.Reply:
            row = answers.redirect(session, key) if key else None
            if row is None:
                return answers.suggestions_answer(answers.council(session), [])
            return answers.redirect_answer(row)

        return answer(dispatcher, tracker, self.name(), build)
