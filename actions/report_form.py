"""The report form (`report_form`): its slot validation and its questions.

Each form slot is only an inbox for the resident's latest answer (`from_text` while that slot is asked). The
validators read it, store what it means in the conversation's draft (knowledge/reports/drafts.py) and empty
the slot again; `required_slots` asks the draft what is still missing (knowledge/reports/conversation.py).
So the draft alone says how far a report has got, and a report resumes from it after the resident drifted
off, a new session, or a restart. Nothing is filed here: the submit action (actions/reports.py) files on
"yes" at the summary.

Crisis and "a person please" are left out of every slot's mapping (domain.yml), so the form rejects them and
the rules in data/rules/reports.yml answer them at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, Optional

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from actions.common import UNAVAILABLE, send
from knowledge import answers as kb_answers
from knowledge.answers import Reply
from knowledge.db import session_scope
from knowledge.models import Report, ReportResident
from knowledge.personal_data.privacy import pseudonym
from knowledge.places.replies import where_problem
from knowledge.places.where import Outcome, Place, Where, from_pin, resolve
from knowledge.reports import conversation, drafts, nearby, replies
from knowledge.reports.categories import BY_KEY, Category
from knowledge.reports.conversation import for_intent

log = logging.getLogger(__name__)
# Failures are logged by conversation pseudonym and the exception's type only: a database error quotes its
# parameters, and those include what the resident typed.

FORM = "report_form"
# The form's slots, one per step of knowledge/reports/conversation.py (plus "resume").
SLOTS = tuple(f"report_{step}" for step in ("resume", *conversation.STEPS))
CATEGORY = "report_category"
# "stopped" (the draft is kept), "discarded" (cancelled at the summary) or "switch" (another kind of problem
# was raised mid-report: that report starts instead).
CANCELLED = "report_cancelled"
# How sure the model must be that an unusable answer is about another kind of problem before switching to it.
SWITCH_AT = 0.5
RESUME_OFFERED = "report_resume_offered"  # ask "shall we carry on?" first
LINK_GIVEN = "report_link_given"  # the online alternative went with the first question
ASKED = "report_asked"  # a validator already asked the question again (with choices): don't repeat it


def utcnow() -> dt.datetime:
    """The time now, naive UTC. Tests replace this to control the clock."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def channel_of(tracker: Tracker) -> str:
    """The channel the resident is writing on (messenger, webchat…), as the drafts and reports record it."""
    meta = tracker.latest_message.get("metadata") or {}
    return str(meta.get("channel") or tracker.get_latest_input_channel() or "rest")


def is_public(tracker: Tracker) -> bool:
    """A public comment or mention: no report is taken there (it would put an address in public)."""
    return (tracker.latest_message.get("metadata") or {}).get("origin") == "public"


def intent_of(tracker: Tracker) -> Optional[str]:
    return (tracker.latest_message.get("intent") or {}).get("name")


def council_phone(session: Session) -> Optional[str]:
    try:
        return kb_answers.council(session).phone
    except LookupError:
        return None


def place_problem(session: Session, where: Where) -> str:
    """Why a place can't be used, in the places package's words, with the council's name and phone."""
    try:
        council = kb_answers.council(session)
    except LookupError:
        return where_problem(where)
    return where_problem(where, council.phone, council.name or "the council")


def service_intro(session: Session, category: Category) -> tuple[Optional[str], Optional[str]]:
    """The service's summary and self-serve page, from the knowledge base (an editor's change shows on the
    next report): the first question of a report carries both."""
    svc = kb_answers.service(session, conversation.service_key(category))
    return (svc.summary, svc.url) if svc is not None else (None, None)


def place_answers(place: Place) -> dict[str, Any]:
    """A found place as draft answers (the keys drafts.py names)."""
    return {
        "street": place.street,
        "house_number": place.house_number,
        "postcode": place.postcode,
        "ward": place.ward,
        "lat": place.lat,
        "lon": place.lon,
        "address": place.address,
    }


def with_place(
    session: Session, answers: dict[str, Any], place: Place, category: Category, conversation_id: str, now: dt.datetime
) -> dict[str, Any]:
    """`answers` with the place, and the nearest open report of the same kind there to offer (one the
    resident isn't already on), if any."""
    answers = {**conversation.forget(answers, "where"), **place_answers(place)}
    for near in nearby.open_nearby(session, category.key, place.lat, place.lon, now):
        if not _is_on(session, near.report.id, conversation_id):
            answers["offered"] = near.report.id
            break
    return answers


def _is_on(session: Session, report_id: int, conversation_id: str) -> bool:
    return (
        session.execute(
            select(ReportResident.id).where(
                ReportResident.report_id == report_id, ReportResident.conversation_id == conversation_id
            )
        ).first()
        is not None
    )


def read_place(session: Session, tracker: Tracker, text: str, now: dt.datetime) -> Optional[Where]:
    """Where the latest message says: a shared pin (`/shared_location`) or words. None for a pin that
    can't be found in the attachments (it was never stored)."""
    if intent_of(tracker) == "shared_location":
        pin = conversation.latest_pin(session, tracker.sender_id, now - conversation.RECENT)
        if pin is None or pin.latitude is None or pin.longitude is None:
            return None
        return from_pin(pin.latitude, pin.longitude)
    return resolve(text)


Validated = dict[str, Any]


def switching(tracker: Tracker, category: Category) -> bool:
    """The latest message, which didn't answer the question, is surely about another kind of problem."""
    other = for_intent(intent_of(tracker))
    confidence = (tracker.latest_message.get("intent") or {}).get("confidence") or 0.0
    return other is not None and other.key != category.key and confidence >= SWITCH_AT


class ValidateReportForm(FormValidationAction):
    """Reads each answer into the draft and decides what to ask next (see the module docstring)."""

    def name(self) -> str:
        return "validate_report_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        if tracker.get_slot(CANCELLED):
            return []
        try:
            with session_scope() as session:
                draft = drafts.load(session, tracker.sender_id, utcnow())
                if draft is None or draft.category not in BY_KEY:
                    return []
                steps = conversation.missing(BY_KEY[draft.category], dict(draft.answers or {}), self._confirm(tracker))
        except Exception as exc:  # noqa: BLE001 - the form ends; the submit action says sorry
            log.error(
                "report form: could not read the draft for conversation %s (%s)",
                pseudonym(tracker.sender_id),
                type(exc).__name__,
            )
            return []
        slots = [f"report_{s}" for s in steps]
        if tracker.get_slot(RESUME_OFFERED):  # until answered (its validator clears the offer)
            slots.insert(0, "report_resume")
        return slots

    @staticmethod
    def _confirm(tracker: Tracker) -> Optional[str]:
        value = tracker.get_slot("report_confirm")
        return value if value in ("yes", "no") else None

    def _step(
        self,
        slot: str,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        work: Callable[[Session, Any, Category, dict[str, Any], dt.datetime], Validated],
    ) -> Validated:
        """Run one validator: "cancel" leaves the form (keeping the draft); otherwise `work` reads the
        answer against the draft and returns the slots to set. The answer slot is emptied unless `work`
        sets it. A failure is logged (never the resident's words) and the question asked again."""
        text = str(tracker.get_slot(slot) or "")
        if conversation.is_cancel(text):
            return {slot: None, CANCELLED: "stopped"}
        now = utcnow()
        try:
            with session_scope() as session:
                draft = drafts.load(session, tracker.sender_id, now)
                if draft is None or draft.category not in BY_KEY:  # expired or filed meanwhile
                    return {slot: None, CANCELLED: "stopped"}
                result = work(session, draft, BY_KEY[draft.category], dict(draft.answers or {}), now)
        except Exception as exc:  # noqa: BLE001 - the resident is asked again rather than left hanging
            log.error(
                "report form: %s failed in conversation %s (%s)", slot, pseudonym(tracker.sender_id), type(exc).__name__
            )
            dispatcher.utter_message(text=UNAVAILABLE)
            return {slot: None}
        return {slot: None, **result}

    def _save(self, session: Session, tracker: Tracker, draft: Any, answers: dict[str, Any], now: dt.datetime) -> None:
        drafts.save(session, tracker.sender_id, draft.channel or channel_of(tracker), draft.category, answers, now)

    def _photos(self, session: Session, tracker: Tracker, draft: Any, answers: dict[str, Any]) -> dict[str, Any]:
        """`answers` with the photos the resident has sent for this report so far."""
        since = (draft.started_at or utcnow()) - conversation.RECENT
        ids = conversation.new_photos(session, tracker.sender_id, since, answers.get("photo_ids") or [])
        return {**answers, "photo_ids": ids, "photo": "sent"} if ids else answers

    def _unclear(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, category: Category, reason: str, **extra: Any
    ) -> Validated:
        """An answer that can't be used. If the model is sure it is about another kind of problem ("my bin
        wasn't collected" while asked where the pothole is), the form ends and that report starts instead
        (`switch`); otherwise the reason is said and the question asked again."""
        if switching(tracker, category):
            return {CANCELLED: "switch"}
        dispatcher.utter_message(text=reason)
        return dict(extra)

    def validate_report_where(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Validated:
        def work(
            session: Session, draft: Any, category: Category, answers: dict[str, Any], now: dt.datetime
        ) -> Validated:
            if intent_of(tracker) == "shared_photo":
                self._save(session, tracker, draft, self._photos(session, tracker, draft, answers), now)
                dispatcher.utter_message(text=replies.photo_noted())
                return {}
            where = read_place(session, tracker, str(value or ""), now)
            if where is not None and where.found and where.place is not None:
                self._save(
                    session,
                    tracker,
                    draft,
                    with_place(session, answers, where.place, category, tracker.sender_id, now),
                    now,
                )
                return {}
            if (
                where is not None
                and where.outcome is Outcome.SEVERAL
                and where.choices
                and not switching(tracker, category)
            ):
                send(dispatcher, replies.which_place([p.address for p in where.choices]))
                return {ASKED: True}
            if where is None:
                return self._unclear(dispatcher, tracker, category, replies.pin_not_read())
            return self._unclear(
                dispatcher, tracker, category, f"{place_problem(session, where)} {replies.how_to_stop()}"
            )

        return self._step("report_where", dispatcher, tracker, work)

    def validate_report_nearby(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Validated:
        def work(
            session: Session, draft: Any, category: Category, answers: dict[str, Any], now: dt.datetime
        ) -> Validated:
            answer = conversation.yes_no(str(value or ""), intent_of(tracker))
            if answer is None:
                return self._unclear(dispatcher, tracker, category, replies.yes_or_no())
            if answer:
                answers["joined"] = answers.get("offered")
            else:
                answers["nearby"] = "no"
            self._save(session, tracker, draft, answers, now)
            return {}

        return self._step("report_nearby", dispatcher, tracker, work)

    def validate_report_detail(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Validated:
        def work(
            session: Session, draft: Any, category: Category, answers: dict[str, Any], now: dt.datetime
        ) -> Validated:
            if intent_of(tracker) in ("shared_photo", "shared_location"):
                if intent_of(tracker) == "shared_photo":
                    self._save(session, tracker, draft, self._photos(session, tracker, draft, answers), now)
                    dispatcher.utter_message(text=replies.photo_noted())
                return {}
            option = conversation.match_option(category, str(value or ""), intent_of(tracker))
            if option is None:
                return self._unclear(dispatcher, tracker, category, replies.detail_not_understood(category))
            self._save(session, tracker, draft, {**answers, "detail": option}, now)
            return {}

        return self._step("report_detail", dispatcher, tracker, work)

    def validate_report_photo(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Validated:
        def work(
            session: Session, draft: Any, category: Category, answers: dict[str, Any], now: dt.datetime
        ) -> Validated:
            # A photo sent on its own (`/shared_photo`), or uploaded in the web chat before "done": either way
            # it is in `attachments` now.
            with_photos = self._photos(session, tracker, draft, answers)
            if set(with_photos.get("photo_ids") or []) - set(answers.get("photo_ids") or []):
                self._save(session, tracker, draft, with_photos, now)
                return {}
            if intent_of(tracker) != "shared_photo" and conversation.is_skip(str(value or ""), intent_of(tracker)):
                self._save(session, tracker, draft, {**answers, "photo": "skip"}, now)
                return {}
            return self._unclear(dispatcher, tracker, category, replies.photo_not_understood(), **{ASKED: True})

        return self._step("report_photo", dispatcher, tracker, work)

    def validate_report_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Validated:
        def work(
            session: Session, draft: Any, category: Category, answers: dict[str, Any], now: dt.datetime
        ) -> Validated:
            if intent_of(tracker) == "shared_photo":  # a late photo: added, and the summary read again
                self._save(session, tracker, draft, self._photos(session, tracker, draft, answers), now)
                return {}
            answer = conversation.yes_no(str(value or ""), intent_of(tracker))
            if answer is None:
                return self._unclear(dispatcher, tracker, category, replies.confirm_not_understood())
            return {"report_confirm": "yes" if answer else "no"}

        return self._step("report_confirm", dispatcher, tracker, work)

    def validate_report_change(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Validated:
        text = str(value or "")
        if conversation.is_cancel(text):  # "Cancel the report" at this point means drop it for good
            try:
                with session_scope() as session:
                    drafts.discard(session, tracker.sender_id)
            except Exception as exc:  # noqa: BLE001 - nothing is filed without a "yes" anyway
                log.error(
                    "report form: discard failed in conversation %s (%s)",
                    pseudonym(tracker.sender_id),
                    type(exc).__name__,
                )
            return {"report_change": None, CANCELLED: "discarded"}

        def work(
            session: Session, draft: Any, category: Category, answers: dict[str, Any], now: dt.datetime
        ) -> Validated:
            step = conversation.change_asked(text)
            if step is None:
                return self._unclear(dispatcher, tracker, category, replies.change_not_understood())
            self._save(session, tracker, draft, conversation.forget(answers, step), now)
            return {"report_confirm": None}

        return self._step("report_change", dispatcher, tracker, work)

    def validate_report_resume(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Validated:
        def work(
            session: Session, draft: Any, category: Category, answers: dict[str, Any], now: dt.datetime
        ) -> Validated:
            answer = conversation.yes_no(str(value or ""), intent_of(tracker))
            if answer is None:
                return self._unclear(dispatcher, tracker, category, replies.yes_or_no())
            if answer:
                dispatcher.utter_message(text=replies.carrying_on(category))
            else:  # start again: the half-done report is dropped
                drafts.discard(session, tracker.sender_id)
                drafts.save(session, tracker.sender_id, channel_of(tracker), category.key, {}, now)
            return {RESUME_OFFERED: False}

        return self._step("report_resume", dispatcher, tracker, work)


class _AskReportSlot(Action):
    """Asks one of the form's questions, worded from the draft. The first question of a report carries the
    service's summary and the online alternative (so what editors write still reaches residents); a question
    a validator already asked again (with choices) isn't repeated."""

    step = ""

    def name(self) -> str:
        return f"action_ask_report_{self.step}"

    def reply(self, session: Session, tracker: Tracker, category: Category, answers: dict[str, Any]) -> Optional[Reply]:
        raise NotImplementedError

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = [SlotSet(ASKED, False)]
        if tracker.get_slot(ASKED):
            return events
        first = not tracker.get_slot(LINK_GIVEN)
        try:
            with session_scope() as session:
                draft = drafts.load(session, tracker.sender_id, utcnow())
                category = BY_KEY.get(draft.category) if draft is not None else None
                if draft is None or category is None:
                    return events
                summary, url = service_intro(session, category) if first else (None, None)
                answers = dict(draft.answers or {})
                reply = self.reply(session, tracker, category, answers)
                if reply is not None and first:
                    # The first question also says back what the first message told us, and gives the phone
                    # number beside the web form: an annoyed resident may rather ring.
                    alternatives = replies.online_line(url, kb_answers.council(session).phone)
                    told = replies.so_far(category, answers)
                    text = "\n".join(filter(None, [summary, told, reply.text, alternatives]))
                    reply = Reply(text=text, buttons=reply.buttons)
        except Exception as exc:  # noqa: BLE001
            log.error(
                "report form: asking %s failed in conversation %s (%s)",
                self.step,
                pseudonym(tracker.sender_id),
                type(exc).__name__,
            )
            dispatcher.utter_message(text=UNAVAILABLE)
            return events
        if reply is not None:
            send(dispatcher, reply)
        return [*events, SlotSet(LINK_GIVEN, True)]


class AskReportWhere(_AskReportSlot):
    step = "where"

    def reply(self, session: Session, tracker: Tracker, category: Category, answers: dict) -> Reply:
        return replies.ask_where(category)


class AskReportNearby(_AskReportSlot):
    step = "nearby"

    def reply(self, session: Session, tracker: Tracker, category: Category, answers: dict) -> Optional[Reply]:
        report = session.get(Report, answers.get("offered")) if answers.get("offered") else None
        return replies.offer_nearby(category, report, utcnow()) if report is not None else None


class AskReportDetail(_AskReportSlot):
    step = "detail"

    def reply(self, session: Session, tracker: Tracker, category: Category, answers: dict) -> Reply:
        return replies.ask_detail(category)


class AskReportPhoto(_AskReportSlot):
    step = "photo"

    def reply(self, session: Session, tracker: Tracker, category: Category, answers: dict) -> Reply:
        return replies.ask_photo()


class AskReportConfirm(_AskReportSlot):
    step = "confirm"

    def reply(self, session: Session, tracker: Tracker, category: Category, answers: dict) -> Reply:
        return replies.summary(category, answers)


class AskReportChange(_AskReportSlot):
    step = "change"

    def reply(self, session: Session, tracker: Tracker, category: Category, answers: dict) -> Reply:
        return replies.ask_change()


class AskReportResume(_AskReportSlot):
    step = "resume"

    def reply(self, session: Session, tracker: Tracker, category: Category, answers: dict) -> Reply:
        return replies.offer_resume(category, answers)
