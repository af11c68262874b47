"""Bin days and gritting by address in the conversation: answered in one message when it names a place,
else the form asks for one; a bad answer is asked again with the reason, at most twice; another council's
postcode is told so; the place is remembered for the next question.

The form's loop is Rasa's (it calls `validate_place_form`, then asks with `action_ask_place` or ends and the
rules run `action_place_answer`); `Conversation` below plays that part, over the real actions, trackers
built as Rasa sends them, and a seeded knowledge base. The clock is the action module's, set per test."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.places as places
from knowledge.settings import PROJECT_ROOT

DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
BINS_URL = "https://www.northshire.gov.uk/bins/collection-day"
GRITTING_URL = "https://www.northshire.gov.uk/roads/gritting"
PHONE = "0300 123 4567"


def _at(monkeypatch: pytest.MonkeyPatch, when: dt.datetime) -> None:
    monkeypatch.setattr(places, "clock", lambda: when.replace(tzinfo=dt.UTC))


class Conversation:
    """One resident's conversation, with the form loop Rasa runs: validate, then ask or answer."""

    def __init__(self) -> None:
        self.slots: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = [{"event": "action", "name": "action_listen"}]
        self.active = False

    def _tracker(self, latest: dict[str, Any]) -> Tracker:
        return Tracker.from_dict(
            {
                "sender_id": "test-resident",
                "slots": dict(self.slots),
                "latest_message": latest,
                "events": list(self.events),
                "paused": False,
                "latest_input_channel": "rest",
                "active_loop": {"name": places.FORM} if self.active else {},
                "latest_action_name": "action_listen",
            }
        )

    def _apply(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            if e.get("event") == "slot":
                self.slots[e["name"]] = e["value"]
        self.events += events

    def say(self, text: str, intent: str = "nlu_fallback", origin: str = "private") -> list[str]:
        """The resident says `text` (in a private message, or a public comment); what the bot answers."""
        latest = {
            "text": text,
            "intent": {"name": intent, "confidence": 0.9},
            "intent_ranking": [{"name": intent, "confidence": 0.9}],
            "entities": [],
            "metadata": {"origin": origin},
        }
        self.events.append({"event": "user", "text": text, "parse_data": latest, "input_channel": "rest"})
        if not self.active and intent not in places.TOPICS:
            return []  # another rule would answer; not this test's business
        said: list[str] = []
        if not self.active and self.slots.get(places.PLACE):
            # Rasa validates a slot filled before the form starts (the remembered place).
            self.events.append({"event": "slot", "name": places.PLACE, "value": self.slots[places.PLACE]})
        self.active = True
        dispatcher = CollectingDispatcher()
        events = asyncio.run(places.ValidatePlaceForm().run(dispatcher, self._tracker(latest), DOMAIN))
        said += [m["text"] for m in dispatcher.messages]
        self._apply(events)
        ended = any(e.get("name") == "requested_slot" and e.get("value") is None for e in events)
        if ended or self.slots.get(places.PLACE):
            self.active = False
            self.slots["requested_slot"] = None
            dispatcher = CollectingDispatcher()
            self._apply(places.ActionPlaceAnswer().run(dispatcher, self._tracker(latest), DOMAIN))
        else:
            self.slots["requested_slot"] = places.PLACE
            dispatcher = CollectingDispatcher()
            places.ActionAskPlace().run(dispatcher, self._tracker(latest), DOMAIN)
        return said + [m["text"] for m in dispatcher.messages]


@pytest.fixture
def chat(kb_url: str, monkeypatch: pytest.MonkeyPatch) -> Conversation:
    _at(monkeypatch, dt.datetime(2026, 12, 2, 10, 0))  # a Wednesday, ISO week 49 (A)
    return Conversation()


def test_a_bin_day_question_with_a_postcode_is_answered_in_one_message(chat: Conversation) -> None:
    said = chat.say("when is my bin day NS1 3NA", "svc_bins_collection_day")
    assert said == [
        "Bin collections for Swallow Street, NS1 3NA:\n"
        "General waste: today.\n"
        "Recycling and garden waste: Wednesday 9 December.\n"
        f"Your collection calendar: {BINS_URL}"
    ]
    assert chat.slots[places.PLACE] == "Swallow Street, NS1 3NA"
    assert chat.slots["last_service"] == "bins.collection_day"


def test_a_gritting_question_naming_a_street_is_answered_in_one_message(chat: Conversation) -> None:
    [said] = chat.say("is lark walk gritted tonight", "svc_roads_gritting")
    assert said.startswith("Lark Walk is on a main gritting route.")
    assert "We have no gritting planned tonight." in said and GRITTING_URL in said


def test_the_form_asks_then_answers_and_remembers_the_place(chat: Conversation) -> None:
    assert chat.say("when is my bin day", "svc_bins_collection_day") == [
        f"What's your postcode, or street and house number?\nOr look it up yourself: {BINS_URL}"
    ]
    [answer] = chat.say("14 swallow st")
    assert answer.startswith("Bin collections for 14 Swallow Street, NS1 3NA:\nGeneral waste: today.")
    # "and the gritting?" needs no second ask
    [gritting] = chat.say("and the gritting?", "svc_roads_gritting")
    assert gritting.startswith("Swallow Street is on a second-priority gritting route.")


def test_a_bad_postcode_is_asked_again_with_the_reason_twice_then_the_link_and_phone(chat: Conversation) -> None:
    chat.say("when is my bin day", "svc_bins_collection_day")
    # The reason says what to send instead: no second question after it.
    assert chat.say("NS1") == [
        "That isn't a postcode I recognise. A full postcode looks like NS1 3NA. "
        "You can send your street and house number instead."
    ]
    assert chat.say("N51 3NA") == ["N51 3NA isn't a postcode I recognise. Did you mean NS1 3NA?"]
    third = chat.say("blah")
    assert third == [
        f"Sorry, I still can't find that address.\nYou can look it up here: {BINS_URL}\nOr call us on {PHONE}."
    ]
    assert not chat.active
    # A later question starts afresh: one bad answer is asked again, not given up on.
    chat.say("when is my bin day", "svc_bins_collection_day")
    assert chat.say("NS1")[0].startswith("That isn't a postcode I recognise.")
    assert chat.say("NS2 6ZW")[0].startswith("Bin collections for Hollins Avenue, NS2 6ZW:")


def test_another_councils_postcode_is_told_so_and_the_form_ends(chat: Conversation) -> None:
    said = chat.say("when's my bin day? SW1A 1AA", "svc_bins_collection_day")
    assert said == [
        "SW1A 1AA isn't in Northshire Council's area, so another council looks after it. "
        "Find your local council on GOV.UK: https://www.gov.uk/find-local-council"
    ]
    assert not chat.active and chat.slots.get(places.PLACE) is None


def test_a_street_name_shared_by_several_streets_offers_buttons(kb_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _at(monkeypatch, dt.datetime(2026, 12, 2, 10, 0))
    chat = Conversation()
    chat.say("when is my bin day", "svc_bins_collection_day")
    dispatcher = CollectingDispatcher()
    latest = {"text": "swallow", "intent": {"name": "nlu_fallback"}, "entities": []}
    chat.events.append({"event": "user", "text": "swallow", "parse_data": latest})
    asyncio.run(places.ValidatePlaceForm().run(dispatcher, chat._tracker(latest), DOMAIN))
    [message] = dispatcher.messages
    assert [b["title"] for b in message["buttons"]] == ["Swallow Street", "Swallow Crescent", "Swallow Rise"]


@pytest.mark.parametrize("word", ["stop", "Cancel", "never mind", "no thanks", "bye"])
def test_stop_or_cancel_leaves_the_form(chat: Conversation, word: str) -> None:
    chat.say("is my road gritted tonight", "svc_roads_gritting")
    assert chat.say(word) == ["OK, I've stopped. What else can I help with?"]
    assert not chat.active


def test_a_bank_holiday_week_is_answered_from_the_clock(kb_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _at(monkeypatch, dt.datetime(2026, 12, 28, 9, 0))  # Boxing Day's substitute, a Monday
    [said] = Conversation().say("bin day for 14 swallow street", "svc_bins_collection_day")
    assert "General waste: Thursday 31 December (a day later than usual because of the bank holiday)." in said
    assert "Recycling and garden waste: Wednesday 13 January 2027." in said  # an ordinary week


def test_late_evening_in_london_is_still_today(kb_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # 23:30 UTC on 1 July is 00:30 on 2 July in London (BST): a Thursday.
    _at(monkeypatch, dt.datetime(2026, 7, 1, 23, 30))
    [said] = Conversation().say("bin day NS1 7UZ", "svc_bins_collection_day")  # Lark Walk: Thursday
    assert "General waste: today." in said


def test_a_gritting_notice_is_part_of_the_answer(kb_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from knowledge.catalogue import notices
    from knowledge.db import session_scope

    with session_scope(kb_url) as s:
        notices.create(
            s,
            "eddie",
            {
                "title": "Gritting tonight",
                "body": "Gritters are out tonight from 6pm.",
                "service_keys": ["roads.gritting"],
                "area": "Castle",
                "starts_at": dt.datetime(2026, 12, 2, 16, 0),
                "ends_at": dt.datetime(2026, 12, 3, 8, 0),
            },
        )
    _at(monkeypatch, dt.datetime(2026, 12, 2, 19, 0))
    [said] = Conversation().say("is swallow street gritted", "svc_roads_gritting")
    assert "Gritting tonight: Gritters are out tonight from 6pm." in said


def test_the_actions_are_in_the_domain_and_registered() -> None:
    import actions  # noqa: F401 - registers every action

    names: Optional[list[str]] = DOMAIN.get("actions")
    assert names is not None
    for action in (places.ValidatePlaceForm(), places.ActionAskPlace(), places.ActionPlaceAnswer()):
        assert action.name() in names
    assert DOMAIN["forms"][places.FORM]["required_slots"] == [places.PLACE]


@pytest.mark.parametrize("intent", ["crisis", "human_handoff", "language_welsh"])
def test_danger_or_asking_for_a_person_is_not_taken_as_an_address(chat: Conversation, intent: str) -> None:
    """The form extracts nothing, so Rasa rejects it and the message's own rule answers (rules end the form)."""
    chat.say("when is my bin day", "svc_bins_collection_day")
    latest = {"text": "14 swallow street", "intent": {"name": intent, "confidence": 1.0}, "entities": []}
    chat.events.append({"event": "user", "text": latest["text"], "parse_data": latest})
    dispatcher = CollectingDispatcher()
    events = asyncio.run(places.ValidatePlaceForm().run(dispatcher, chat._tracker(latest), DOMAIN))
    assert events == [] and dispatcher.messages == []


def test_a_gazetteer_that_cant_be_read_still_gets_the_resident_an_answer(
    chat: Conversation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "gazetteer.csv"
    broken.write_text("street,postcode\nSwallow Street,NS1 3NA\n")
    monkeypatch.setenv("GAZETTEER_PATH", str(broken))
    chat.say("when is my bin day", "svc_bins_collection_day")
    assert chat.say("14 swallow street") == [
        f"Sorry, I can't look up addresses just now.\nYou can check on our website: {BINS_URL}\nOr call us on {PHONE}."
    ]
    assert not chat.active
    assert "swallow" not in caplog.text.lower()  # what the resident wrote is never logged


def test_in_public_the_bot_never_asks_for_or_repeats_an_address(chat: Conversation) -> None:
    assert chat.say("when's bin day?", "svc_bins_collection_day", origin="public") == [
        f"You can look it up here: {BINS_URL}\nOr send us your postcode in a private message and I'll tell you."
    ]
    [said] = Conversation().say("bin day for 14 swallow st NS1 3NA", "svc_bins_collection_day", origin="public")
    assert said.startswith("Bin collections for Swallow Street:\n")
    assert "14" not in said and "NS1" not in said


def test_another_question_instead_of_an_address_is_answered_as_that_question(chat: Conversation) -> None:
    chat.say("when is my bin day", "svc_bins_collection_day")
    said = chat.say("actually how do I pay my council tax", "svc_ctax_pay")
    assert len(said) == 1 and "https://www.northshire.gov.uk/" in said[0]
    assert "isn't a postcode" not in said[0] and "couldn't see a place" not in said[0]
    assert not chat.active and chat.slots["last_service"] == "ctax.pay"
    # ...but an address is an address, whatever the model thought of it
    chat.say("when is my bin day", "svc_bins_collection_day")
    assert chat.say("NS1 3NA", "svc_ctax_pay")[0].startswith("Bin collections for Swallow Street, NS1 3NA:")


def test_a_street_whose_parts_differ_asks_for_the_number_and_still_does_next_time(
    chat: Conversation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gaz = tmp_path / "gazetteer.csv"
    gaz.write_text(
        "street,postcode,ward,house_numbers,lat,lon,bin_day,recycling_week,gritting_route\n"
        "Long Road,NS1 1AA,Castle,1-50,52.9,-1.1,Wednesday,A,none\n"
        "Long Road,NS1 1AB,Castle,51-99,52.9,-1.1,Thursday,B,primary\n"
    )
    monkeypatch.setenv("GAZETTEER_PATH", str(gaz))
    [said] = chat.say("bin day long road", "svc_bins_collection_day")
    assert said.startswith("Bin collections for Long Road (NS1 1AA):\nGeneral waste: today.")
    assert "send your house number to check yours" in said
    [again] = chat.say("and the recycling?", "svc_bins_collection_day")
    assert "send your house number to check yours" in again
    [numbered] = chat.say("bin day for 60 long road", "svc_bins_collection_day")
    assert numbered.startswith("Bin collections for 60 Long Road, NS1 1AB:\nGeneral waste: tomorrow.")
