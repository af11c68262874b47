"""Reporting a problem in the conversation, through the real actions against a real SQLite knowledge base.

`Resident` plays Rasa's part the way Rasa 3.6 runs a form: the answer goes into the requested slot
(`from_text`), `validate_report_form` reads it and names the next slot, `action_ask_<slot>` asks it, and
when no slot is left the submit action runs. What Rasa itself does with the domain and rules is covered by
tests/e2e/test_reports.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any, Optional

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

import actions.report_form as report_form
from actions.report_form import (
    AskReportChange,
    AskReportConfirm,
    AskReportDetail,
    AskReportNearby,
    AskReportPhoto,
    AskReportResume,
    AskReportWhere,
    ValidateReportForm,
)
from actions.reports import ActionReportProgress, ActionReportSubmit, ActionStartReport
from knowledge.db import session_scope
from knowledge.delivery.conversations import add_attachments
from knowledge.models import Report, ReportDraft, ReportPhoto, ReportResident
from knowledge.reports import drafts, filing
from knowledge.settings import PROJECT_ROOT

NOW = dt.datetime(2026, 12, 1, 10, 0)  # a Tuesday
POTHOLE_PAGE = "report-a-pothole"
REFERENCE = re.compile(r"NC-\d{4}-\d{6}")
ASKERS = {
    a.step: a
    for a in (
        AskReportResume(),
        AskReportWhere(),
        AskReportNearby(),
        AskReportDetail(),
        AskReportPhoto(),
        AskReportConfirm(),
        AskReportChange(),
    )
}
DOMAIN: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
NOT_FOR_FORM = ("crisis", "human_handoff")


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """The actions' clock, held at NOW unless a test moves it (`clock[0] = ...`)."""
    now = [NOW]
    monkeypatch.setattr(report_form, "utcnow", lambda: now[0])
    return now


class Resident:
    """One resident's conversation with the report actions, as Rasa would run them (see module docstring)."""

    def __init__(self, sender: str = "messenger:resident-1", channel: str = "messenger", origin: str = "private"):
        self.sender, self.channel, self.origin = sender, channel, origin
        self.slots: dict[str, Any] = {}
        self.active = False
        self.events: list[dict[str, Any]] = [{"event": "action", "name": "action_listen"}]

    def _tracker(self, text: str, intent: str, slot_events: list[dict[str, Any]]) -> Tracker:
        latest = {
            "text": text,
            "intent": {"name": intent, "confidence": 0.99},
            "intent_ranking": [{"name": intent, "confidence": 0.99}],
            "entities": [],
            "metadata": {"channel": self.channel, "origin": self.origin},
        }
        user = {"event": "user", "text": text, "parse_data": latest, "input_channel": self.channel}
        return Tracker.from_dict(
            {
                "sender_id": self.sender,
                "slots": dict(self.slots),
                "latest_message": latest,
                "events": [*self.events, user, *slot_events],
                "paused": False,
                "latest_input_channel": self.channel,
                "active_loop": {"name": report_form.FORM} if self.active else {},
                "latest_action_name": "action_listen",
            }
        )

    def _apply(self, events: list[dict[str, Any]]) -> Optional[str]:
        follow = None
        for e in events:
            if e.get("event") == "slot":
                self.slots[e["name"]] = e["value"]
            elif e.get("event") == "followup":
                follow = e["name"]
        return follow

    def _run(self, action: Any, t: Tracker, out: list[dict]) -> list[dict[str, Any]]:
        dispatcher = CollectingDispatcher()
        result = action.run(dispatcher, t, DOMAIN)
        events = asyncio.run(result) if asyncio.iscoroutine(result) else result
        out.extend(dispatcher.messages)
        return events

    def _form_turn(self, text: str, intent: str, out: list[dict], slot_events: list[dict[str, Any]]) -> None:
        events = self._run(ValidateReportForm(), self._tracker(text, intent, slot_events), out)
        self._apply(events)
        requested = next((e["value"] for e in reversed(events) if e.get("name") == "requested_slot"), None)
        if requested is None:
            self.active = False
            follow = self._apply(self._run(ActionReportSubmit(), self._tracker(text, intent, []), out))
            if follow == "action_start_report":  # another kind of problem: that report starts
                self._start(text, intent, out)
            return
        self.active = True
        step = requested.removeprefix("report_")
        self._apply(self._run(ASKERS[step], self._tracker(text, intent, []), out))

    def say(self, text: str, intent: str = "nlu_fallback") -> list[dict]:
        """The bot's messages in answer to `text`, understood as `intent`."""
        out: list[dict] = []
        if self.active:
            if intent in NOT_FOR_FORM:
                raise AssertionError("the form rejects this message: the rules answer it (see the e2e tests)")
            requested = self.slots.get("requested_slot")
            self.slots[requested] = text
            self._form_turn(text, intent, out, [{"event": "slot", "name": requested, "value": text}])
            return out
        self._start(text, intent, out)
        return out

    def _start(self, text: str, intent: str, out: list[dict]) -> None:
        follow = self._apply(self._run(ActionStartReport(), self._tracker(text, intent, []), out))
        if follow == report_form.FORM:  # the form starts: Rasa validates (nothing yet) and asks the first question
            self.slots["requested_slot"] = None
            self._form_turn(text, intent, out, [])

    def text(self, messages: list[dict]) -> str:
        return "\n".join(m.get("text") or "" for m in messages)


def texts(messages: list[dict]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def buttons(messages: list[dict]) -> list[str]:
    return [b["title"] for m in messages for b in m.get("buttons") or []]


def reports(kb_url: str) -> list[Report]:
    with session_scope(kb_url) as session:
        return list(session.execute(select(Report).order_by(Report.id)).scalars())


def draft_answers(kb_url: str, sender: str) -> Optional[dict[str, Any]]:
    with session_scope(kb_url) as session:
        draft = session.get(ReportDraft, sender)
        return dict(draft.answers) if draft is not None and draft.filed_report_id is None else None


def file_pothole_elsewhere(kb_url: str, sender: str = "messenger:neighbour", at: dt.datetime = NOW) -> str:
    """Another resident's open pothole report at 14 Swallow Street; its reference."""
    place = {
        "street": "Swallow Street",
        "house_number": "14",
        "postcode": "NS1 3NA",
        "ward": "Castle",
        "lat": 52.94445,
        "lon": -1.14407,
        "address": "14 Swallow Street, NS1 3NA",
        "detail": "Yes",
    }
    with session_scope(kb_url) as session:
        drafts.save(session, sender, "messenger", "pothole", place, at)
        return filing.file_report(session, sender, at).report.reference


def share(kb_url: str, sender: str, kind: str, **fields: Any) -> None:
    """What the responder stores when a resident sends a pin or a photo."""
    with session_scope(kb_url) as session:
        add_attachments(session, sender, "messenger", [{"kind": kind, **fields}], ("image", "location"), NOW)


# --- Asking only for what's missing ----------------------------------------------------------------------


def test_a_pothole_is_reported_step_by_step_and_filed_on_yes(kb_url: str) -> None:
    r = Resident()
    first = r.say("there's a pothole on my road", "svc_roads_pothole")
    assert "Where is the pothole?" in texts(first)
    assert POTHOLE_PAGE in texts(first) and "Or report it online" in texts(first)  # the self-serve alternative
    assert "Dangerous potholes are made safe within 24 hours." in texts(first)  # the editors' words, live
    detail = r.say("14 swallow street")
    assert "dangerous" in texts(detail).lower() and buttons(detail) == ["Yes", "No"]
    assert "Or report it online" not in texts(detail)  # said once is enough
    photo = r.say("yes")
    assert "photo" in texts(photo).lower() and "skip" in texts(photo).lower()
    summary = r.say("skip")
    assert "Pothole at 14 Swallow Street, NS1 3NA" in texts(summary) and "Dangerous: Yes" in texts(summary)
    assert reports(kb_url) == []  # nothing is sent before the resident says yes
    done = r.say("Yes")
    [report] = reports(kb_url)
    assert report.reference in texts(done) and "We'll message you here" in texts(done)
    assert (report.category, report.address, report.details) == (
        "pothole",
        "14 Swallow Street, NS1 3NA",
        {"dangerous": "Yes"},
    )
    assert (report.conversation_id, report.channel) == ("messenger:resident-1", "messenger")


def test_what_the_first_message_says_is_not_asked_again(kb_url: str) -> None:
    r = Resident()
    first = r.say("pothole outside 14 Swallow Street, it's really deep", "svc_roads_pothole")
    assert "Where is" not in texts(first)
    assert "dangerous" in texts(first).lower() and POTHOLE_PAGE in texts(first)  # the first question has the link
    assert draft_answers(kb_url, r.sender)["address"] == "14 Swallow Street, NS1 3NA"  # type: ignore[index]


def test_a_missed_recycling_bin_needs_no_which_bin_question(kb_url: str) -> None:
    r = Resident()
    first = r.say("my recycling wasn't collected, 3 meadow walk", "svc_bins_missed")
    assert "Which bin" not in texts(first) and "photo" in texts(first).lower()
    # What was understood is said back at once, and the phone number sits beside the web form.
    assert "Got it: a missed bin (recycling bin) at 3 Meadow Walk" in texts(first)
    assert "0300 123 4567" in texts(first)
    summary = texts(r.say("skip"))
    assert "Bin: Recycling" in summary and "3 Meadow Walk" in summary


# --- Where --------------------------------------------------------------------------------------------------


def test_a_postcode_that_isnt_one_is_asked_again_with_the_reason(kb_url: str) -> None:
    r = Resident()
    r.say("pothole", "svc_roads_pothole")
    again = r.say("12345")
    assert "isn't a postcode" in texts(again) or "couldn't see a place" in texts(again)
    assert "Where is the pothole?" in texts(again)
    assert r.slots["requested_slot"] == "report_where"
    assert "dangerous" in texts(r.say("NS1 3NA")).lower()  # a good answer moves on


def test_another_councils_postcode_is_named_and_find_your_council_linked(kb_url: str) -> None:
    r = Resident()
    r.say("streetlight out", "svc_roads_street_light")
    answer = texts(r.say("SW1A 1AA"))
    assert "SW1A 1AA" in answer and "https://www.gov.uk/find-local-council" in answer
    assert r.slots["requested_slot"] == "report_where"


def test_a_pin_in_the_sea_is_refused_and_a_pin_on_a_street_is_used(kb_url: str) -> None:
    r = Resident()
    r.say("graffiti", "svc_env_graffiti")
    share(kb_url, r.sender, "location", latitude=53.6, longitude=1.2)  # the North Sea
    refused = texts(r.say("/shared_location", "shared_location"))
    assert "isn't near any street" in refused and r.slots["requested_slot"] == "report_where"
    share(kb_url, r.sender, "location", latitude=52.94450, longitude=-1.14400)  # Swallow Street
    asked = r.say("/shared_location", "shared_location")
    assert "offensive" in texts(asked).lower()
    answers = draft_answers(kb_url, r.sender)
    assert answers is not None and answers["street"] == "Swallow Street" and answers["lat"] == pytest.approx(52.9445)


def test_a_pin_sent_before_choosing_what_to_report_is_the_place(kb_url: str) -> None:
    r = Resident()
    share(kb_url, r.sender, "location", latitude=52.94450, longitude=-1.14400)
    first = r.say("/svc_env_fly_tipping", "svc_env_fly_tipping")  # the button under "what to report there?"
    assert "Where is" not in texts(first) and "How much" in texts(first)


def test_a_photo_and_skip_and_the_photo_reaches_the_report(kb_url: str) -> None:
    r = Resident()
    r.say("dog mess all over the pavement on swallow street", "svc_env_dog_fouling")
    r.say("Pavement")
    share(kb_url, r.sender, "image", url="https://cdn.example/photo.jpg")
    summary = texts(r.say("/shared_photo", "shared_photo"))
    assert "Photo: 1 added" in summary
    r.say("yes")
    assert len(reports(kb_url)) == 1
    with session_scope(kb_url) as session:
        assert session.execute(select(func.count()).select_from(ReportPhoto)).scalar_one() == 1


def test_a_photo_uploaded_in_the_web_chat_counts_when_the_resident_says_done(kb_url: str) -> None:
    r = Resident(sender="web:page-1", channel="webchat")
    r.say("graffiti on swallow street", "svc_env_graffiti")
    r.say("No")
    share(kb_url, r.sender, "image", media_id="upload-1")  # the page's photo upload, stored by the server
    assert "Photo: 1 added" in texts(r.say("done"))


# --- No duplicates --------------------------------------------------------------------------------------


def test_an_open_report_nearby_is_offered_and_joining_it_files_nothing(kb_url: str) -> None:
    reference = file_pothole_elsewhere(kb_url)
    r = Resident(sender="messenger:resident-2")
    offer = r.say("pothole at 12 swallow street", "svc_roads_pothole")
    assert "Is it this one, reported today near Swallow Street?" in texts(offer)
    assert "14" not in texts(offer)  # the other resident's house number is never told
    assert buttons(offer) == ["Yes, that's it", "No, it's different"]
    joined = texts(r.say("Yes"))
    assert reference in joined and "tell you when anything changes" in joined
    assert len(reports(kb_url)) == 1
    with session_scope(kb_url) as session:
        on = session.execute(select(ReportResident.conversation_id).order_by(ReportResident.id)).scalars().all()
    assert on == ["messenger:neighbour", "messenger:resident-2"]
    assert draft_answers(kb_url, r.sender) is None


def test_saying_it_is_a_different_one_carries_on(kb_url: str, clock: list[dt.datetime]) -> None:
    file_pothole_elsewhere(kb_url, at=NOW - dt.timedelta(days=3))
    r = Resident(sender="messenger:resident-2")
    offer = r.say("pothole at 12 swallow street", "svc_roads_pothole")
    assert "reported on Saturday" in texts(offer)
    assert "dangerous" in texts(r.say("no")).lower()
    r.say("No")
    r.say("skip")
    r.say("yes")
    assert len(reports(kb_url)) == 2


# --- The summary ----------------------------------------------------------------------------------------


def _to_summary(r: Resident) -> None:
    r.say("pothole outside 14 swallow street", "svc_roads_pothole")
    r.say("No")
    r.say("skip")


def test_no_at_the_summary_files_nothing_and_offers_changes(kb_url: str) -> None:
    r = Resident()
    _to_summary(r)
    change = r.say("No")
    assert "haven't sent anything" in texts(change)
    assert buttons(change) == ["The place", "The details", "The photo", "Cancel the report"]
    assert reports(kb_url) == []
    again = r.say("place")
    assert "Where is the pothole?" in texts(again)
    summary = texts(r.say("NS1 4EJ"))  # another place: the summary again (detail and photo stay answered)
    assert "Here's your report" in summary and "NS1 4EJ" in summary and "Dangerous: No" in summary
    cancelled = texts(r.say("No") + r.say("cancel"))
    assert "cancelled" in cancelled and "Nothing was sent" in cancelled
    assert reports(kb_url) == [] and draft_answers(kb_url, r.sender) is None


def test_a_repeated_yes_files_once(kb_url: str) -> None:
    r = Resident()
    _to_summary(r)
    first = texts(r.say("yes"))
    [report] = reports(kb_url)
    # The same "yes" delivered again (a double tap, a retried delivery) reaches the submit action again.
    r.slots["report_confirm"] = "yes"
    again: list[dict] = []
    r._run(ActionReportSubmit(), r._tracker("yes", "affirm", []), again)
    assert report.reference in first and report.reference in texts(again)
    assert "already sent" in texts(again)
    assert len(reports(kb_url)) == 1


# --- Leaving and resuming -------------------------------------------------------------------------------


def test_cancel_keeps_the_draft_and_the_same_report_resumes_later(kb_url: str, clock: list[dt.datetime]) -> None:
    r = Resident()
    r.say("pothole", "svc_roads_pothole")
    r.say("14 Swallow Street")
    stopped = r.say("stop")
    assert "I've stopped" in texts(stopped) and not r.active
    assert draft_answers(kb_url, r.sender)["street"] == "Swallow Street"  # type: ignore[index]
    clock[0] = NOW + dt.timedelta(days=2)
    later = Resident(sender=r.sender)  # a new session: only the draft remembers
    offer = later.say("i want to report a pothole", "svc_roads_pothole")
    assert "You started reporting a pothole at Swallow Street. Shall we carry on?" in texts(offer)
    carry_on = texts(later.say("Yes"))
    assert "carry on" in carry_on and "dangerous" in carry_on.lower() and "Where is" not in carry_on
    later.say("Yes")
    later.say("skip")
    later.say("yes")
    [report] = reports(kb_url)
    assert report.address == "14 Swallow Street, NS1 3NA"


def test_carry_on_with_my_report(kb_url: str) -> None:
    r = Resident()
    r.say("streetlight flickering on meadow walk", "svc_roads_street_light")
    r.say("cancel")
    back = Resident(sender=r.sender).say("carry on with my report", "report_resume")
    assert "carry on with your report of a street light fault" in texts(back)
    assert "photo" in texts(back).lower()  # where and the fault ("flickering") were already given


def test_starting_again_drops_the_half_done_report(kb_url: str) -> None:
    r = Resident()
    r.say("pothole on swallow street", "svc_roads_pothole")
    r.say("stop")
    again = Resident(sender=r.sender)
    again.say("pothole", "svc_roads_pothole")
    assert "Where is the pothole?" in texts(again.say("No"))


def test_a_stale_draft_is_not_offered(kb_url: str, clock: list[dt.datetime]) -> None:
    r = Resident()
    r.say("pothole on swallow street", "svc_roads_pothole")
    r.say("stop")
    clock[0] = NOW + dt.timedelta(days=30)
    assert "Shall we carry on" not in texts(Resident(sender=r.sender).say("pothole", "svc_roads_pothole"))


def test_nothing_to_carry_on_with(kb_url: str) -> None:
    answer = Resident().say("carry on with my report", "report_resume")
    assert "don't have a report in progress" in texts(answer) and "Pothole" in buttons(answer)


def test_another_kind_of_problem_mid_report_starts_that_report(kb_url: str) -> None:
    r = Resident()
    r.say("pothole on my road", "svc_roads_pothole")
    switched = r.say("my bin was not collected", "svc_bins_missed")
    assert len(switched) == 1 and "report-missed-collection" in texts(switched)  # one message: the new question
    assert "What's the address of the missed bin?" in texts(switched)
    assert "Where is the pothole?" in texts(r.say("pothole on my road", "svc_roads_pothole"))
    # An address the model mistakes for another problem is still an address.
    assert "dangerous" in texts(r.say("14 swallow street", "svc_roads_street_light")).lower()


# --- Public comments -------------------------------------------------------------------------------------


def test_in_public_the_answer_signposts_and_invites_a_private_message(kb_url: str) -> None:
    r = Resident(sender="facebook_comment:someone", channel="facebook_comment", origin="public")
    answer = texts(r.say("pothole outside 14 swallow street", "svc_roads_pothole"))
    assert POTHOLE_PAGE in answer and "private message" in answer
    assert not r.active and draft_answers(kb_url, r.sender) is None


# --- "What's happening with NC-…" ------------------------------------------------------------------------


def _progress(sender: str, text: str) -> str:
    r = Resident(sender=sender)
    out: list[dict] = []
    r._run(ActionReportProgress(), r._tracker(text, "report_progress", []), out)
    return texts(out)


def test_progress_only_for_a_resident_on_the_report(kb_url: str) -> None:
    reference = file_pothole_elsewhere(kb_url)
    digits = reference.replace("-", " ").lower()  # "nc 2026 000001"
    mine = _progress("messenger:neighbour", f"what's happening with {digits}?")
    assert reference in mine and "Swallow Street" in mine and "We've got your report" in mine
    theirs = _progress("messenger:stranger", f"what's happening with {reference}")
    unknown = _progress("messenger:stranger", "what's happening with NC-2026-999999")
    assert "can't find that reference" in theirs and theirs == unknown and "Swallow" not in theirs


def test_progress_without_a_reference_uses_the_conversations_report(kb_url: str) -> None:
    reference = file_pothole_elsewhere(kb_url)
    assert reference in _progress("messenger:neighbour", "any news on my pothole?")
    assert "NC-2026-000123" in _progress("messenger:nobody", "any news on my pothole?")  # how one looks


def test_a_case_reference_is_told_apart_from_a_report(kb_url: str) -> None:
    from knowledge.casework.cases import open_case

    with session_scope(kb_url) as session:
        case, _ = open_case(session, "messenger:asked", "messenger", "asked", [], now=NOW)
        reference = case.reference
    assert "your enquiry with our team" in _progress("messenger:asked", f"any news on {reference}")
    assert "can't find that reference" in _progress("messenger:someone-else", f"any news on {reference}")


def test_a_reference_on_its_own_is_answered_as_a_progress_question(kb_url: str) -> None:
    from actions.fallback import ActionKnowledgeFallback
    from tests.actions.helpers import run, tracker

    reference = file_pothole_elsewhere(kb_url)
    [answer] = run(ActionKnowledgeFallback(), tracker(f"{reference}??", "nlu_fallback", sender="messenger:neighbour"))
    assert reference in answer["text"] and "Swallow Street" in answer["text"]


# --- What Rasa does with the domain (the form itself runs in tests/e2e/test_reports.py) -------------------


def test_danger_and_a_request_for_a_person_are_never_taken_as_a_form_answer() -> None:
    """Each form slot leaves crisis and human_handoff out, so the form rejects them and the rules answer."""
    rules = yaml.safe_load((PROJECT_ROOT / "data" / "rules" / "reports.yml").read_text())["rules"]
    for slot in report_form.SLOTS:
        [mapping] = DOMAIN["slots"][slot]["mappings"]
        assert set(NOT_FOR_FORM) <= set(mapping["not_intent"]), slot
        assert mapping["conditions"] == [{"active_loop": report_form.FORM, "requested_slot": slot}]
    beats_form = {
        r["steps"][0]["intent"]: [s.get("action") for s in r["steps"][1:]]
        for r in rules
        if r.get("condition") == [{"active_loop": report_form.FORM}] and "intent" in r["steps"][0]
    }
    assert beats_form == {
        "crisis": ["action_crisis", "action_deactivate_loop", None],
        "human_handoff": ["action_human_handoff", "action_deactivate_loop", None],
    }


# --- Reading short answers (knowledge/reports/conversation.py) ------------------------------------------


def test_short_answers_are_read_as_residents_type_them() -> None:
    from knowledge.reports import conversation as c
    from knowledge.reports.categories import BY_KEY

    assert c.is_cancel("Stop!") and c.is_cancel("never mind") and not c.is_cancel("stop sign knocked over")
    assert c.yes_no("Yep.") is True and c.yes_no("nah") is False and c.yes_no("maybe later") is None
    assert c.yes_no("that's the one mate", "affirm") is True
    bins, fly = BY_KEY["missed_bin"], BY_KEY["fly_tipping"]
    assert c.match_option(bins, "the recycling one") == "Recycling" and c.match_option(bins, "blue") is None
    assert c.match_option(fly, "a van load or more") == "A van load or more"
    assert c.match_option(BY_KEY["abandoned_vehicle"], "AB12 CDE") == "AB12 CDE"  # free text
    assert c.missing(BY_KEY["pothole"], {}, None) == ["where", "detail", "photo", "confirm"]
    placed = {"lat": 52.9, "lon": -1.1, "offered": 7, "detail": "Yes", "photo": "skip"}
    assert c.missing(BY_KEY["pothole"], placed, "no") == ["nearby", "confirm", "change"]
    assert c.missing(BY_KEY["pothole"], {**placed, "joined": 7}, None) == []
