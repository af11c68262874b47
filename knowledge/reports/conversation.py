"""The report conversation's own logic, apart from Rasa: what a draft still lacks, reading a resident's short
answers ("yes", "skip", "cancel", a button), and the pins and photos the resident sent.

A draft's `answers` (knowledge/reports/drafts.py) are the truth about a report in progress: the dialogue keeps
nothing there that isn't also saved, so a report can be resumed after the resident drifts off or the bot
restarts. Besides the keys drafts.py lists, the dialogue keeps:

- `offered`: the id of the open report nearby it asked "is it this one?" about, `nearby`: "no" once the
  resident said it is a different one;
- `photo`: "sent" or "skip" once the photo question is answered (`photo_ids` holds the photos).

The steps, in the order they are asked: where, nearby (only if a report nearby was found), detail (the
category's question), photo, confirm (the summary), change (only after "no" at the summary).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.models import Attachment, Case, ReportPhoto
from knowledge.reports.categories import BY_KEY, Category
from knowledge.understanding.intents import intent_for_service

# The knowledge-base service of each category: its page is the self-serve alternative offered with the first
# question, and its intent (svc_roads_pothole) starts the report.
SERVICES = {
    "pothole": "roads.pothole",
    "street_light": "roads.street_light",
    "fly_tipping": "env.fly_tipping",
    "graffiti": "env.graffiti",
    "dog_fouling": "env.dog_fouling",
    "abandoned_vehicle": "env.abandoned_vehicle",
    "missed_bin": "bins.missed",
    "noise": "env.noise",
}
INTENTS = {intent_for_service(service): key for key, service in SERVICES.items()}

STEPS = ("where", "nearby", "detail", "photo", "confirm", "change")

# Pins and photos sent this long before a report starts belong to it ("[pin]" then "pothole").
RECENT = dt.timedelta(minutes=30)

_PUNCTUATION = re.compile(r"[^\w\s']+")
_SPACES = re.compile(r"\s+")

# Short answers, as words after punctuation is dropped and case folded. A button's payload is one of them.
CANCEL = frozenset(
    {"cancel", "stop", "quit", "exit", "never mind", "nevermind", "forget it", "cancel it", "stop it",
     "cancel the report", "cancel report", "stop the report", "don't bother", "dont bother"}
)  # fmt: skip
YES = frozenset(
    {"yes", "y", "yeah", "yea", "yep", "yup", "ye", "aye", "ok", "okay", "sure", "correct", "right",
     "that's it", "thats it", "that's the one", "thats the one", "yes that's it", "yes thats it", "it is",
     "yes send it", "send it", "send", "yes please", "please do", "go ahead", "yes carry on", "carry on"}
)  # fmt: skip
NO = frozenset(
    {"no", "n", "nope", "nah", "no thanks", "not that one", "no it's different", "no its different",
     "different", "it's different", "its different", "wrong", "no start again", "start again", "not really"}
)  # fmt: skip
SKIP = frozenset(
    {"skip", "no", "nope", "nah", "none", "no photo", "no thanks", "no pic", "no picture", "not got one",
     "haven't got one", "havent got one", "don't have one", "dont have one", "i don't have one",
     "i dont have one", "no i don't", "no i dont", "n/a", "na"}
)  # fmt: skip
# What to change after "no" at the summary, by the words of its buttons and what residents say.
CHANGES = {
    "where": frozenset({"place", "the place", "where", "location", "address", "the address", "the location"}),
    "detail": frozenset({"details", "the details", "detail", "the detail", "description"}),
    "photo": frozenset({"photo", "the photo", "picture", "the picture", "photos"}),
}
_RESUME = re.compile(r"\b(carry on|continue|finish|resume|go back to|get back to|back to)\b.*\breport", re.I)


def for_intent(intent: Optional[str]) -> Optional[Category]:
    """The category an intent starts a report for (svc_roads_pothole -> pothole), or None."""
    key = INTENTS.get(intent or "")
    return BY_KEY.get(key) if key else None


def intent_for(category: Category) -> str:
    """The intent that starts `category`'s report (a button payload: "/svc_roads_pothole")."""
    return intent_for_service(SERVICES[category.key])


def service_key(category: Category) -> str:
    return SERVICES[category.key]


def title(category: Category) -> str:
    """ "Pothole", "Street light fault", "Fly-tipping": the category's name as a heading or button."""
    name = category.name
    for article in ("a ", "an "):
        if name.startswith(article):
            name = name[len(article) :]
    return name[:1].upper() + name[1:]


def the(category: Category) -> str:
    """ "the pothole", "the fly-tipping"."""
    return "the " + title(category)[:1].lower() + title(category)[1:]


def words(text: Optional[str]) -> str:
    """`text` as plain lower-case words, for comparing with the short answers above."""
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", (text or "").lower().replace("’", "'"))).strip()


def is_cancel(text: Optional[str]) -> bool:
    """The resident wants to leave the report for now ("cancel", "stop", "never mind")."""
    return words(text) in CANCEL


def yes_no(text: Optional[str], intent: Optional[str] = None) -> Optional[bool]:
    """True for yes, False for no, None when the answer is neither. The model's affirm/deny counts too, so
    "yes mate that's the one" works as well as the button."""
    said = words(text)
    if said in YES or intent == "affirm":
        return True
    if said in NO or intent == "deny":
        return False
    return None


def is_skip(text: Optional[str], intent: Optional[str] = None) -> bool:
    """The resident has no photo ("skip", "no", "don't have one")."""
    return words(text) in SKIP or intent == "deny"


def change_asked(text: Optional[str]) -> Optional[str]:
    """Which step the resident wants to change after "no" at the summary ("where", "detail", "photo"), or
    None if unclear."""
    said = words(text)
    return next((step for step, names in CHANGES.items() if said in names), None)


def wants_to_resume(text: Optional[str]) -> bool:
    """The resident asks to go back to a report they started ("carry on with my report")."""
    return bool(_RESUME.search(text or ""))


def has_place(answers: dict[str, Any]) -> bool:
    """The draft knows where the problem is: a point to send to the back office."""
    return answers.get("lat") is not None and answers.get("lon") is not None


def missing(category: Category, answers: dict[str, Any], confirm: Optional[str]) -> list[str]:
    """The steps still to ask, in order (see STEPS), for a draft with `answers`; `confirm` is the resident's
    answer at the summary this time round ("yes", "no" or None). Nothing is left once the resident said yes,
    or chose a report nearby (`joined`): the form then ends and its submit action acts on it."""
    if answers.get("joined"):
        return []
    steps: list[str] = []
    if not has_place(answers):
        steps.append("where")
    elif answers.get("offered") and not answers.get("nearby"):
        steps.append("nearby")
    if answers.get("detail") is None:
        steps.append("detail")
    if answers.get("photo") is None:
        steps.append("photo")
    steps.append("confirm")
    if confirm == "no":
        steps.append("change")
    return steps


def forget(answers: dict[str, Any], step: str) -> dict[str, Any]:
    """`answers` without what `step` gathered, so it is asked again ("no" at the summary, then "the place")."""
    keys = {
        "where": ("street", "house_number", "postcode", "ward", "lat", "lon", "address", "offered", "nearby"),
        "detail": ("detail",),
        "photo": ("photo", "photo_ids"),
    }[step]
    return {k: v for k, v in answers.items() if k not in keys}


def match_option(category: Category, text: Optional[str], intent: Optional[str] = None) -> Optional[str]:
    """The category's option the answer names ("yes" -> "Yes", "recycling" -> "Recycling"), or None. A
    category without options takes any words as its answer (a vehicle's description, when the noise is)."""
    said = words(text)
    if not category.detail_options:
        return (text or "").strip()[:500] or None
    for option in category.detail_options:
        if said == words(option):
            return option
    answer = yes_no(text, intent)
    if answer is not None and "Yes" in category.detail_options:
        return "Yes" if answer else "No"
    if said in {"not sure", "dunno", "don't know", "dont know", "no idea", "unsure", "maybe"}:
        return "Not sure" if "Not sure" in category.detail_options else None
    # A word of one option only ("recycling", "furniture", "flickering").
    named = [o for o in category.detail_options if _key_word(o) and _key_word(o) in said.split()]
    return named[0] if len(named) == 1 else None


def detail_from_text(category: Category, text: Optional[str]) -> Optional[str]:
    """The category's answer if the resident's first message already names exactly one option ("my
    recycling wasn't collected" -> "Recycling"); yes/no questions are never guessed from a first message."""
    if not category.detail_options or "Yes" in category.detail_options:
        return None
    said = f" {words(text)} "
    named = [o for o in category.detail_options if f" {words(o)} " in said]
    return named[0] if len(named) == 1 else None


def _key_word(option: str) -> Optional[str]:
    """The word that names an option: "Recycling", "General waste" -> "general", "Park or field" -> "park"."""
    named = [
        w for w in words(option).split() if w not in {"a", "an", "the", "not", "on", "or", "something", "somewhere"}
    ]
    return named[0] if named else None


def latest_pin(session: Session, conversation_id: str, since: dt.datetime) -> Optional[Attachment]:
    """The newest location the resident shared in this conversation since `since`, or None."""
    return session.execute(
        select(Attachment)
        .where(
            Attachment.conversation_id == conversation_id,
            Attachment.kind == "location",
            Attachment.latitude.is_not(None),
            Attachment.longitude.is_not(None),
            Attachment.received_at >= since,
        )
        .order_by(Attachment.received_at.desc(), Attachment.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def new_photos(session: Session, conversation_id: str, since: dt.datetime, already: Iterable[int] = ()) -> list[int]:
    """Ids of the photos the resident sent in this conversation since `since` that are on no report yet,
    oldest first, `already` (the draft's photo ids) included."""
    on_reports = select(ReportPhoto.attachment_id)
    ids = session.execute(
        select(Attachment.id)
        .where(
            Attachment.conversation_id == conversation_id,
            Attachment.kind == "image",
            Attachment.supported.is_(True),
            Attachment.received_at >= since,
            Attachment.id.not_in(on_reports),
        )
        .order_by(Attachment.id)
    ).scalars()
    merged = list(dict.fromkeys([*already, *ids]))
    return merged


def case_for(session: Session, reference: str, conversation_id: str) -> Optional[Case]:
    """The handover case with `reference` (NC-2026-000123, normalised) if it is this conversation's: case and
    report references share one sequence, so a resident may quote either when asking how things are going."""
    return session.execute(
        select(Case).where(Case.reference == reference, Case.conversation_id == conversation_id)
    ).scalar_one_or_none()
