"""The reply to a service question, decided in one place.

`decide` says everything the bot does with a question about a service: the text the resident reads
(notices in force first, then the answer worded for the bin and the aspect asked, or the likeliest services
as buttons when there is no service to answer from), whether a person takes the conversation as well and
why, and whether editors should see the question in their list. The action that answers residents
(actions/services.py) and the editors' preview (bot/console/preview.py) both call it, so the preview shows
exactly what a resident would get.

Nothing here writes: the action opens the case, notes the question and sets its slots from the decision;
the preview only shows it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Optional

from sqlalchemy.orm import Session

from knowledge import answers
from knowledge.answers import Reply
from knowledge.casework import contact_back
from knowledge.casework.business_hours import BusinessHours
from knowledge.casework.cases import priority_for, reply_due
from knowledge.casework.handover import HandoverReason
from knowledge.catalogue import notices
from knowledge.catalogue.search import search_services
from knowledge.catalogue.unanswered import LOW_CONFIDENCE as LOW_CONFIDENCE_KIND
from knowledge.channels import Reach
from knowledge.delivery.conversations import utcnow
from knowledge.models import Council, Service
from knowledge.understanding.followups import Aspect, aspect_of, other_bin, refers_back

# Answers the model gave with less confidence than this are listed for editors as "unanswered".
LOW_CONFIDENCE = 0.6


@dataclass(frozen=True)
class Asked:
    """What a message asks about its service: `aspect` (cost, eligibility, timing; None for everything)
    and `bin_type` (general, recycling, ...; None when no bin is meant)."""

    aspect: Optional[Aspect]
    bin_type: Optional[str]


def asked(
    text: str,
    intent: Optional[str],
    bin_type: Optional[str] = None,
    last_aspect: Optional[str] = None,
    last_bin_type: Optional[str] = None,
) -> Asked:
    """What `text` asks, given the model's `intent` and the `bin_type` entity it found. `last_aspect` and
    `last_bin_type` are the previous turn's (None in a preview: there is no previous turn), for follow-ups
    such as "same for the leisure centre?" or "what about the other bin?"."""
    aspect = aspect_of(text, intent)
    if aspect is None and refers_back(text) and last_aspect:
        aspect = Aspect(last_aspect)
    if intent == "followup_other" and not bin_type:
        bin_type = other_bin(last_bin_type)
    if aspect is None and bin_type and refers_back(text) and last_aspect:
        aspect = Aspect(last_aspect)  # "and the recycling?" after "when's the black bin?"
    return Asked(aspect=aspect, bin_type=bin_type)


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


def unanswered_kind(confidence: Optional[float]) -> Optional[str]:
    """Under which kind editors should see a question the bot did answer: low_confidence when the model
    was unsure (the wording may need a synonym or an example), else None."""
    if isinstance(confidence, (int, float)) and confidence < LOW_CONFIDENCE:
        return LOW_CONFIDENCE_KIND
    return None


@dataclass(frozen=True)
class ServiceReply:
    """What the bot does with a service question.

    `reply`: the message the resident reads, with its buttons (title and payload; the likeliest services
    when there is no service to answer from). `service_key`/`service_title`: the service answered (None:
    none, so the buttons are offered). `aspect`/`bin_type`: what the answer was worded for. `notices`: the
    notice lines in force, already at the top of the text. `handover`: why a person takes the conversation
    as well (None: the answer is the whole reply), with `topic` for the case. `unanswered`: the kind under
    which editors should see the question, or None."""

    reply: Reply
    service_key: Optional[str] = None
    service_title: Optional[str] = None
    aspect: Optional[Aspect] = None
    bin_type: Optional[str] = None
    notices: list[str] = field(default_factory=list)
    handover: Optional[HandoverReason] = None
    topic: Optional[str] = None
    unanswered: Optional[str] = None


def decide(
    session: Session,
    svc: Optional[Service],
    text: str,
    *,
    bin_type: Optional[str] = None,
    aspect: Optional[Aspect] = None,
    postcode: Optional[str] = None,
    confidence: Optional[float] = None,
    now: Optional[dt.datetime] = None,
) -> ServiceReply:
    """The reply to `text`, a question about `svc` (published, or an unsaved draft standing in for it; None
    when no service could be found: retired, or a follow-up with nothing before it). `bin_type` and
    `aspect` as `asked` found them; `postcode` the one the resident gave, if any, so other areas' notices
    are left out; `confidence` the model's, for the editors' list; `now` the time notices are checked at."""
    council = answers.council(session)
    unanswered = unanswered_kind(confidence)
    if svc is None:
        # A retired service, or a follow-up with nothing before it: offer what the text is closest to.
        return ServiceReply(
            reply=answers.suggestions_answer(council, search_services(session, text)), unanswered=unanswered
        )
    in_force = notices.lines(notices.active(session, svc.key, now=now or utcnow(), area=district(postcode)))
    reason = person_reason(svc)
    return ServiceReply(
        reply=answers.service_answer(council, svc, bin_type=bin_type, notices=in_force, aspect=aspect),
        service_key=svc.key,
        service_title=svc.title,
        aspect=aspect,
        bin_type=bin_type,
        notices=in_force,
        handover=reason,
        topic=svc.title if reason else None,
        unanswered=unanswered,
    )


# Stands in for a case reference where no case is opened (the editors' preview).
REFERENCE_PLACEHOLDER = "NC-YYYY-NNNNNN"


def handover_line(
    c: Council,
    reason: HandoverReason,
    now: Optional[dt.datetime] = None,
    reference: str = REFERENCE_PLACEHOLDER,
    hours: Optional[BusinessHours] = None,
) -> str:
    """The line a resident would read if a new case were opened for `reason` at `now`, without opening
    one: the same wording and the same reply-by time as knowledge/casework/handover.py gives a new case."""
    now = now or utcnow()
    hours = hours or BusinessHours.from_env()
    priority = priority_for(reason.value)
    due = reply_due(priority, now, hours)
    # The preview stands for web chat (and REST): a way back is offered there exactly when we're closed now.
    offer = contact_back.offer_wanted(Reach.POLLED, hours.is_open(now))
    return answers.handover_answer(c, reference, True, priority == "urgent", hours.describe(now, due), offer)
