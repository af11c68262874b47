"""Bin days and gritting by address: the place form and its answer.

"When is my bin day NS1 3NA" and "is swallow street gritted tonight" are answered in one message; without a
place the bot asks "What's your postcode, or street and house number?" (the form `place_form`, whose one slot
`place` holds the address, validated here). A bad answer is asked again with the reason ("N51 3NA isn't a
postcode I recognise. Did you mean NS1 3NA?"), at most twice; the third bad answer gets the page link and
the phone number instead. "stop" or "cancel" leaves the form.
Another council's postcode is answered and the form ends: asking again wouldn't help.

The address stays in the `place` slot for the rest of the conversation, so "and the gritting?" needs no
second ask. The topic (bins or gritting) is the latest of the two intents the resident asked.

Today's date comes from `clock()`, which tests replace: the knowledge package never reads the clock itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any, Optional
from zoneinfo import ZoneInfo

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.common import answer, send
from actions.services import ActionAnswerService, ActionRedirect
from knowledge import answers
from knowledge.answers import Reply
from knowledge.db import session_scope
from knowledge.personal_data.privacy import pseudonym
from knowledge.places import replies
from knowledge.places.bin_days import moved, next_collections
from knowledge.places.gritting import BIN_SERVICE_KEY, SERVICE_KEY, gritting_notices
from knowledge.places.where import Outcome, Where, resolve
from knowledge.settings import settings
from knowledge.understanding.intents import is_service_intent, redirect_key

log = logging.getLogger(__name__)

FORM = "place_form"
PLACE = "place"  # the resident's address as `Where.remembered` words it ("14 Swallow Street, NS1 3NA")
TRIES = "place_tries"  # bad answers so far in this round of the form
STOP = "place_stop"  # why the form ended without a place: cancelled, gave_up, outside, unavailable, other_question
BINS_INTENT = "svc_bins_collection_day"
GRITTING_INTENT = "svc_roads_gritting"
TOPICS = {BINS_INTENT: BIN_SERVICE_KEY, GRITTING_INTENT: SERVICE_KEY}
# Messages the form must let go of, so their own rules answer them (data/rules/places.yml ends the form):
# danger, asking for a person, Welsh. The danger net marks an urgent message whatever the intent says.
INTERRUPTIONS = {"crisis", "human_handoff", "language_welsh"}
# An answer with no place in it that the model is this sure is another question ("how do I pay council
# tax") ends the form and is answered as that question, rather than told it isn't an address.
OTHER_QUESTION_AT_LEAST = 0.8
MAX_REASKS = 2  # a bad answer is asked again at most twice; the third gets the link and phone number
_STOP_WORDS = re.compile(
    r"^\s*(stop|cancel|quit|exit|never ?mind|nevermind|forget it|no|no thanks|not now|leave it|bye|goodbye)\b[\s.!]*$",
    re.IGNORECASE,
)


def clock() -> dt.datetime:
    """Now, timezone-aware (tests replace this function to stand on a given day)."""
    return dt.datetime.now(dt.UTC)


def _today() -> dt.date:
    """Today in the council's time zone: a bin day is a local date."""
    return clock().astimezone(ZoneInfo(settings().business_timezone)).date()


def _now_utc_naive() -> dt.datetime:
    """Now as notices store times (naive UTC)."""
    return clock().astimezone(dt.UTC).replace(tzinfo=None)


def _contact(service_key: str) -> tuple[Optional[str], Optional[str], str]:
    """(the service page's link, the phone number, the council's name), each None if the knowledge base is
    unreachable: the resident still gets the rest of the answer."""
    try:
        with session_scope() as session:
            council = answers.council(session)
            svc = answers.service(session, service_key)
            return (svc.url if svc else None), ((svc.phone if svc else None) or council.phone), council.name
    except Exception:  # noqa: BLE001 - the wording goes out without the link
        return None, None, "the council"


def topic(tracker: Tracker) -> str:
    """The intent the place is wanted for: the latest bin-day or gritting question (bin day by default)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            name = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if name in TOPICS:
                return str(name)
    return BINS_INTENT


def _resolve(text: str, tracker: Tracker) -> Optional[Where]:
    """`resolve`, or None if the gazetteer can't be read (a bad file, a missing one): logged by conversation
    only, never with what the resident wrote; the resident is told to use the page or phone instead."""
    try:
        return resolve(text)
    except Exception:  # noqa: BLE001 - the resident must still get an answer
        log.exception("gazetteer look-up failed in conversation %s", pseudonym(tracker.sender_id))
        return None


def _interrupts(tracker: Tracker) -> bool:
    """Is the latest message one the form must not take as an address (see INTERRUPTIONS)?"""
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    danger = tracker.latest_message.get("danger")
    return intent in INTERRUPTIONS or (isinstance(danger, dict) and danger.get("urgent") is True)


def _other_question(tracker: Tracker) -> bool:
    """Is the latest message, sure enough, a question about another service or another body?"""
    intent = tracker.latest_message.get("intent") or {}
    name, confidence = intent.get("name"), intent.get("confidence") or 0.0
    other = (is_service_intent(name) and name not in TOPICS) or redirect_key(name) is not None
    return other and confidence >= OTHER_QUESTION_AT_LEAST


def _public(tracker: Tracker) -> bool:
    """Is the latest message a public comment or mention, so the reply is public too?"""
    return (tracker.latest_message.get("metadata") or {}).get("origin") == "public"


def _choice_buttons(where: Where) -> list[dict[str, str]]:
    return [{"title": p.street, "payload": p.street} for p in where.choices]


class ValidatePlaceForm(FormValidationAction):
    """Fill and check the `place` slot of `place_form` from what the resident wrote."""

    def name(self) -> str:
        return "validate_place_form"

    async def extract_place(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """The answer to our question, whatever it is (`validate_place` judges it); before we ask, only a
        message that names a place, so a remembered address stays when the message names none."""
        text = tracker.latest_message.get("text") or ""
        if _interrupts(tracker):
            return {}  # nothing extracted: Rasa rejects the form and the message's own rule answers it
        if tracker.get_slot("requested_slot") == PLACE:
            return {PLACE: text}
        where = _resolve(text, tracker)
        if where is None or where.outcome is Outcome.NOTHING:
            return {}
        return {PLACE: text}

    def validate_place(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A place found: its address. Stop words: leave. Another council's postcode: say so and leave.
        Anything else: say why, and the form asks again, up to MAX_REASKS times."""
        text = str(slot_value or "")
        if tracker.get_slot("requested_slot") == PLACE and _STOP_WORDS.match(text):
            return {PLACE: None, TRIES: None, STOP: "cancelled", "requested_slot": None}
        where = _resolve(text, tracker)
        if where is None:
            return {PLACE: None, TRIES: None, STOP: "unavailable", "requested_slot": None}
        if where.found and where.place is not None:
            return {PLACE: where.remembered, TRIES: None, STOP: None}
        if where.outcome is Outcome.NOTHING and _other_question(tracker):
            return {PLACE: None, TRIES: None, STOP: "other_question", "requested_slot": None}
        url, phone, council_name = _contact(TOPICS[topic(tracker)])
        if where.outcome is Outcome.OUTSIDE_AREA:
            dispatcher.utter_message(text=replies.where_problem(where, phone, council_name))
            return {PLACE: None, TRIES: None, STOP: "outside", "requested_slot": None}
        tries = int(tracker.get_slot(TRIES) or 0) + 1
        if tries > MAX_REASKS:
            return {PLACE: None, TRIES: None, STOP: "gave_up", "requested_slot": None}
        dispatcher.utter_message(
            text=replies.where_problem(where, phone, council_name), buttons=_choice_buttons(where) or None
        )
        return {PLACE: None, TRIES: float(tries)}


class ActionAskPlace(Action):
    """The form's question, with the page where residents can look it up themselves (the first reply to a
    service question always carries the self-serve link). After a bad answer it says nothing: the reason
    just sent already says what to send instead ("Did you mean NS1 3NA?"), and one message reads better
    on a phone than two."""

    def name(self) -> str:
        return "action_ask_place"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        if not tracker.get_slot(TRIES):
            url = _contact(TOPICS[topic(tracker)])[0]
            dispatcher.utter_message(text=replies.ask_place(url, public=_public(tracker)))
        return []


class ActionPlaceAnswer(Action):
    """After the place form: the bin days or the gritting for the address, or why there is no answer."""

    def name(self) -> str:
        return "action_place_answer"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> list[dict[str, Any]]:
        intent = topic(tracker)
        service_key = TOPICS[intent]
        stop = tracker.get_slot(STOP)
        events: list[dict[str, Any]] = [SlotSet(TRIES, None), SlotSet(STOP, None)]
        if stop == "cancelled":
            dispatcher.utter_message(text=replies.stopped())
            return events
        if stop == "gave_up":
            url, phone, _ = _contact(service_key)
            dispatcher.utter_message(text=replies.gave_up(url, phone))
            return events
        if stop == "other_question":  # answered as the question it is; the address can wait
            intent_name = (tracker.latest_message.get("intent") or {}).get("name")
            other: Action = ActionRedirect() if redirect_key(intent_name) else ActionAnswerService()
            return events + other.run(dispatcher, tracker, domain)
        if stop == "outside":
            return events  # the validation already said whose postcode it is
        where = _resolve(tracker.get_slot(PLACE) or "", tracker)
        if stop == "unavailable" or where is None:
            url, phone, _ = _contact(service_key)
            dispatcher.utter_message(text=replies.unavailable(url, phone))
            return events
        if not where.found or where.place is None:  # the gazetteer changed under a remembered address
            url, phone, name = _contact(service_key)
            send(dispatcher, Reply(text=replies.where_problem(where, phone, name)))
            return events + [SlotSet(PLACE, None)]
        place = where.place
        today, now = _today(), _now_utc_naive()

        def build(session: Session) -> Reply:
            svc = answers.service(session, service_key)
            url = svc.url if svc else None
            if intent == GRITTING_INTENT:
                text = replies.gritting_answer(place, gritting_notices(session, place.row, now), url)
            else:
                general, recycling = next_collections(place.row, today)
                text = replies.bin_day_answer(
                    place,
                    general,
                    recycling,
                    today,
                    url=url,
                    general_moved=moved(place.row, general),
                    recycling_moved=moved(place.row, recycling),
                    needs_number=where.needs_number,
                    public=_public(tracker),
                )
            return Reply(text=text, service_key=service_key)

        return events + answer(dispatcher, tracker, self.name(), build) + [SlotSet("last_service", service_key)]
