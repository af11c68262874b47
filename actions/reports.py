"""Reporting a problem in the conversation: starting (or resuming) a report, acting on the form's end, pins and
photos sent on their own, and "what's happening with NC-…".

A report intent (pothole, street light, fly-tipping, graffiti, dog fouling, abandoned vehicle, missed bin,
noise) starts `report_form` in a private conversation, with whatever the first message and any pin or photo
just sent already say saved in the draft. In a public comment or mention the resident gets today's signposting
answer and an invitation to message privately: nobody's address goes in public. The form itself is in
actions/report_form.py; the wording in knowledge/reports/replies.py.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions import report_form
from actions.common import UNAVAILABLE, entity, send
from actions.report_form import (
    ASKED,
    CANCELLED,
    CATEGORY,
    FORM,
    LINK_GIVEN,
    RESUME_OFFERED,
    SLOTS,
    channel_of,
    council_phone,
    intent_of,
    is_public,
    place_problem,
    with_place,
)
from actions.services import ActionAnswerService
from knowledge.answers import Reply
from knowledge.db import session_scope
from knowledge.models import Report
from knowledge.personal_data.privacy import pseudonym
from knowledge.places.where import Outcome, from_pin, resolve
from knowledge.reports import conversation, drafts, filing, lookup, nearby, replies
from knowledge.reports.categories import BY_KEY, Category
from knowledge.reports.conversation import for_intent

log = logging.getLogger(__name__)

RESUME_INTENT = "report_resume"
# Outcomes of reading a first message worth telling the resident about: a postcode that isn't ours, a
# number not on the street. Others ("on my road") just lead to the where question.
SAY_FIRST = (Outcome.OUTSIDE_AREA, Outcome.UNKNOWN_POSTCODE, Outcome.NUMBER_NOT_ON_STREET)


def form_reset() -> list[dict[str, Any]]:
    """Every form slot empty, so a new report never inherits the last one's answers."""
    return [SlotSet(s, None) for s in (*SLOTS, CANCELLED, RESUME_OFFERED, LINK_GIVEN, ASKED)]


def first_answers(
    session: Session, tracker: Tracker, category: Category, now: dt.datetime
) -> tuple[dict[str, Any], Optional[str]]:
    """What the first message (and a pin or photo sent just before it) already says about a new report, as
    draft answers; and a sentence about a place in it that can't be used (another council's postcode),
    if any."""
    text = tracker.latest_message.get("text") or ""
    typed = not text.startswith("/")  # a button's payload says nothing about the place
    answers: dict[str, Any] = {}
    problem: Optional[str] = None
    if typed and text:
        answers["description"] = text[:2000]
        where = resolve(text)
        if where.found and where.place is not None:
            answers = with_place(session, answers, where.place, category, tracker.sender_id, now)
        elif where.outcome in SAY_FIRST:
            problem = place_problem(session, where)
        detail = conversation.detail_from_text(category, text)
        if detail is not None:
            answers["detail"] = detail
    if not conversation.has_place(answers):
        pin = conversation.latest_pin(session, tracker.sender_id, now - conversation.RECENT)
        if pin is not None and pin.latitude is not None and pin.longitude is not None:
            where = from_pin(pin.latitude, pin.longitude)
            if where.found and where.place is not None:
                answers = with_place(session, answers, where.place, category, tracker.sender_id, now)
            else:
                problem = place_problem(session, where)
    photos = conversation.new_photos(session, tracker.sender_id, now - conversation.RECENT)
    if photos:
        answers.update(photo_ids=photos, photo="sent")
    return answers, problem


class ActionStartReport(Action):
    """Start a report for the category the intent names, or resume the conversation's draft. Public: the
    signposting answer and an invitation to a private message instead."""

    def name(self) -> str:
        return "action_start_report"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        intent = intent_of(tracker)
        category = for_intent(intent)
        if is_public(tracker):
            if category is None:  # "carry on with my report" in public: the report is taken privately
                dispatcher.utter_message(text=replies.public_invite())
                return []
            events = ActionAnswerService().run(dispatcher, tracker, domain)
            dispatcher.utter_message(text=replies.public_invite())
            return events
        now = report_form.utcnow()
        resume_offered = False
        try:
            with session_scope() as session:
                draft = drafts.load(session, tracker.sender_id, now)
                if category is None:  # "carry on with my report"
                    if draft is None or draft.category not in BY_KEY:
                        send(dispatcher, replies.nothing_to_resume())
                        return []
                    dispatcher.utter_message(text=replies.carrying_on(BY_KEY[draft.category]))
                    key = draft.category
                elif draft is not None and draft.category == category.key and draft.answers:
                    resume_offered = True  # "You started reporting a pothole at Swallow Street…"
                else:
                    answers, problem = first_answers(session, tracker, category, now)
                    if problem:
                        dispatcher.utter_message(text=problem)
                    drafts.save(session, tracker.sender_id, channel_of(tracker), category.key, answers, now)
                if category is not None:
                    key = category.key
        except Exception as exc:  # noqa: BLE001 - the signposting answer is still a way to report it
            log.error(
                "could not start a report in conversation %s (%s)", pseudonym(tracker.sender_id), type(exc).__name__
            )
            if category is not None:
                return ActionAnswerService().run(dispatcher, tracker, domain)
            dispatcher.utter_message(text=UNAVAILABLE)
            return []
        return [
            *form_reset(),
            SlotSet(CATEGORY, key),
            SlotSet(RESUME_OFFERED, resume_offered),
            FollowupAction(FORM),
        ]


class ActionReportSubmit(Action):
    """The form has ended: file the report on "yes", or add the resident to the report nearby they chose,
    or say the report is kept for later (stopped) or dropped (cancelled at the summary). Filing happens
    once: `filing.file_report` returns the same report for a repeated "yes"."""

    def name(self) -> str:
        return "action_report_submit"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        cancelled = tracker.get_slot(CANCELLED)
        events = [*form_reset(), SlotSet(CATEGORY, None)]
        if cancelled == "discarded":
            send(dispatcher, replies.cancelled())
            return events
        if cancelled == "stopped":
            send(dispatcher, replies.stopped())
            return events
        if cancelled == "switch":  # another kind of problem mid-report: that one starts now
            return [*events, FollowupAction(ActionStartReport().name())]
        now = report_form.utcnow()
        phone: Optional[str] = None
        # The reply is sent only once the transaction has committed: a reference told before a commit that
        # then fails (a lost connection, a serialisation failure) would name a report that doesn't exist.
        reply: Reply = replies.stopped()
        reference: Optional[str] = None  # of a report filed (or found filed) in this turn
        try:
            with session_scope() as session:
                phone = council_phone(session)
                draft = drafts.load(session, tracker.sender_id, now)
                joined = (draft.answers or {}).get("joined") if draft is not None else None
                if joined:
                    report = session.get(Report, int(joined))
                    if report is not None:  # (gone meanwhile: stopped, asked again from the place)
                        added = nearby.join(session, report.id, tracker.sender_id, channel_of(tracker), now)
                        drafts.discard(session, tracker.sender_id)
                        reply = replies.joined(report) if added else replies.already_on(report)
                elif tracker.get_slot("report_confirm") == "yes":
                    filed = filing.file_report(session, tracker.sender_id, now)
                    reply = replies.filed(filed.report, filed.new)
                    reference = filed.report.reference
        except filing.FilingError:
            log.warning("report draft incomplete in conversation %s", pseudonym(tracker.sender_id))
            send(dispatcher, replies.stopped())
            return events
        except Exception as exc:  # noqa: BLE001 - the draft is kept; the resident can try again
            log.error(
                "filing a report failed in conversation %s (%s)", pseudonym(tracker.sender_id), type(exc).__name__
            )
            send(dispatcher, replies.not_filed(phone))
            return events
        if reference is not None:
            log.info("report %s filed from conversation %s", reference, pseudonym(tracker.sender_id))
        send(dispatcher, reply)
        return events


class ActionReportProgress(Action):
    """ "What's happening with NC-2026-000123?": the report's status, only for a resident on that report.
    Anyone else gets the same answer as for a reference that doesn't exist."""

    def name(self) -> str:
        return "action_report_progress"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        text = tracker.latest_message.get("text") or ""
        reference = lookup.normalise(entity(tracker, "reference") or "") or lookup.normalise(text)
        if is_public(tracker):  # a report's place is never told in public
            dispatcher.utter_message(text=replies.progress_in_public())
            return []
        now = report_form.utcnow()
        try:
            with session_scope() as session:
                if reference is None:
                    reply = replies.which_report(lookup.for_conversation(session, tracker.sender_id), now)
                else:
                    report = lookup.for_resident(session, reference, tracker.sender_id)
                    case = None if report else conversation.case_for(session, reference, tracker.sender_id)
                    if report is not None:
                        reply = replies.progress(report, now)
                    elif case is not None:
                        reply = replies.case_progress(case.reference, case.resolved_at, now)
                    else:
                        reply = replies.unknown_reference(council_phone(session))
        except Exception as exc:  # noqa: BLE001
            log.error(
                "report progress failed in conversation %s (%s)", pseudonym(tracker.sender_id), type(exc).__name__
            )
            dispatcher.utter_message(text=UNAVAILABLE)
            return []
        send(dispatcher, reply)
        return []


class ActionSharedLocation(Action):
    """A location pin on its own, outside a report: what would they like to report there? (The pin is kept in
    `attachments`; the report started next picks it up.)"""

    def name(self) -> str:
        return "action_shared_location"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        send(dispatcher, replies.pin_what_to_report())
        return []


class ActionSharedPhoto(Action):
    """A photo on its own, outside a report: what would they like to report? (The report started next picks
    the photo up.)"""

    def name(self) -> str:
        return "action_shared_photo"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        send(dispatcher, replies.photo_what_to_report())
        return []


def mentions_reference(text: str) -> bool:
    """The message quotes a report or case reference (NC-2026-000123)."""
    return lookup.normalise(text) is not None
