"""The second chance when the classifier is unsure: search the knowledge base, then offer choices."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.common import answer, hand_over, note_unanswered
from actions.reports import ActionReportProgress, ActionStartReport, mentions_reference
from actions.services import ActionAnswerService, answers_follow_up
from knowledge import answers
from knowledge.casework.handover import HandoverReason
from knowledge.catalogue import examples, unanswered
from knowledge.catalogue.search import search_services
from knowledge.models import Service
from knowledge.reports.conversation import wants_to_resume
from knowledge.understanding.real_words import has_real_words

# Service intents the model ranked at least this high are worth offering as a choice.
MIN_SUGGESTION_CONFIDENCE = 0.1
MAX_SUGGESTIONS = 3


def likely_services(session: Session, found: list[Service], ranking: list[dict]) -> list[Service]:
    """Candidate services, best first: full-text search hits (`found`) and the model's runners-up,
    interleaved, without repeats."""
    guesses = [
        answers.service_for_intent(session, r.get("name"))
        for r in ranking
        if (r.get("confidence") or 0) >= MIN_SUGGESTION_CONFIDENCE
    ]
    ranked = [s for s in guesses if s is not None][:MAX_SUGGESTIONS]
    merged: list[Service] = []
    for pair in zip(found + [None] * MAX_SUGGESTIONS, ranked + [None] * MAX_SUGGESTIONS, strict=False):
        for svc in pair:
            if svc is not None and svc.key not in {m.key for m in merged}:
                merged.append(svc)
    return merged[:MAX_SUGGESTIONS]


def fallbacks_in_a_row(tracker: Tracker) -> int:
    """How many of the resident's latest messages in a row the bot couldn't place (this one included)."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        name = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if name != "nlu_fallback":
            break
        count += 1
    return count


def missed_texts(tracker: Tracker) -> list[str]:
    """What the resident wrote in the current run of misses, newest first."""
    texts: list[str] = []
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if ((event.get("parse_data") or {}).get("intent") or {}).get("name") != "nlu_fallback":
            break
        texts.append(event.get("text") or "")
    return texts


class ActionKnowledgeFallback(Action):
    """Answer directly if search and model agree; else up to three likely services plus the phone number.
    After a second miss in a row, offer a person: a case if the resident wrote real words, else the phone
    number and how to ask for a person (`knowledge.understanding.real_words`)."""

    def name(self) -> str:
        return "action_kb_fallback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        if answers_follow_up(tracker, unless_sure=1.01):  # "and the recycling?", "how long is the wait?"
            return ActionAnswerService().run(dispatcher, tracker, domain)
        text = tracker.latest_message.get("text") or ""
        # reports (issue 13): a reference on its own ("NC-2026-000123?") asks how that report is doing;
        # "carry on with my report" goes back to a half-done one.
        if mentions_reference(text):
            return ActionReportProgress().run(dispatcher, tracker, domain)
        if wants_to_resume(text):
            return ActionStartReport().run(dispatcher, tracker, domain)
        ranking = tracker.latest_message.get("intent_ranking") or []
        repeated = fallbacks_in_a_row(tracker) >= 2

        def build(session: Session) -> answers.Reply:
            council = answers.council(session)
            like = examples.best_match(session, text)  # an editor's example question: answer outright
            if like is not None and (svc := answers.service(session, like.key)) is not None:
                return answers.service_answer(council, svc)
            found = search_services(session, text, limit=MAX_SUGGESTIONS)
            top_model = answers.service_for_intent(
                session, next((r.get("name") for r in ranking if r.get("name") != "nlu_fallback"), None)
            )
            # Two independent signals agreeing is enough to answer outright.
            if top_model is not None and found and found[0].key == top_model.key:
                return answers.service_answer(council, top_model)
            return answers.suggestions_answer(council, likely_services(session, found, ranking))

        note_unanswered(tracker, unanswered.FALLBACK)
        if repeated and not any(has_real_words(t) for t in missed_texts(tracker) or [text]):
            # Nothing a person could act on ("asdfgh", "???"): a case would only silence the bot for
            # days. The phone number and how to ask for a person instead.
            return answer(
                dispatcher, tracker, self.name(), lambda session: answers.no_words_answer(answers.council(session))
            )
        events = answer(dispatcher, tracker, self.name(), build)
        if repeated:  # two misses in a row: a person takes over rather than a third guess
            said = [m.get("text") or "" for m in dispatcher.messages]
            hand_over(dispatcher, tracker, HandoverReason.REPEATED_FALLBACK, said_just_now=said)
            note_unanswered(tracker, unanswered.HANDOVER)
        return events
