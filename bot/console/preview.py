"""The editors' preview: what the bot would say to a resident's question if the draft were published.

The running Rasa server says which intent the model picks, how sure it is and which entities it found (its
internal `/parse` route, reached with the per-run token); the reply is then decided by the same function the
bot's action uses (knowledge/service_reply.py), with the draft in place of the published service: notices in force,
the bin type and the aspect asked, buttons, and the line the resident would read if a person takes over.
Nothing is saved and no case is opened. The preview is a first message: there is no previous turn to follow up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Optional

import httpx
from sqlalchemy.orm import Session

from knowledge import answers, service_reply
from knowledge.models import Service
from knowledge.settings import settings
from knowledge.understanding.followups import FOLLOWUP_INTENTS
from knowledge.understanding.intents import intent_for_service, is_service_intent


@dataclass
class Preview:
    """`intent`/`confidence` as the model saw the question, with the `entities` it found (name, value);
    `service` the title of the service it picked (None if not a service); `uses_draft` whether that is the
    service being edited; `reply` the words the resident would get, `buttons` the titles of the buttons sent
    with them, `handover` the line they would read next if a person takes over as well (with a stand-in for
    the case reference), `unanswered` whether editors would see the question in their list; or `problem` if
    the preview couldn't be made."""

    question: str
    intent: Optional[str] = None
    confidence: Optional[float] = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    service: Optional[str] = None
    uses_draft: bool = False
    reply: str = ""
    buttons: list[str] = field(default_factory=list)
    handover: Optional[str] = None
    unanswered: bool = False
    problem: Optional[str] = None


async def understand(question: str) -> dict[str, Any]:
    """The model's reading of `question` from the running Rasa server."""
    config = settings()
    base = (config.rasa_url or f"http://{config.host}:{config.rasa_port}").rstrip("/")
    token = config.internal_token or ""
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.post(
            f"{base}/webhooks/rest/parse", json={"text": question}, headers={"X-Internal-Token": token}
        )
    resp.raise_for_status()
    return resp.json()


def _entity(preview: Preview, name: str) -> Optional[str]:
    """First value of entity `name` the model found, as the action reads it from the tracker."""
    value = next((e.get("value") for e in preview.entities if e.get("entity") == name), None)
    return value if isinstance(value, str) else None


def word_reply(
    session: Session, preview: Preview, draft: dict[str, Any], key: str, now: Optional[dt.datetime] = None
) -> Preview:
    """Fill in the reply for an intent already known, with `draft` standing in for service `key`."""
    intent = preview.intent
    if intent == intent_for_service(key):
        svc: Optional[Service] = Service(
            **{k: v for k, v in draft.items() if hasattr(Service, k)}
        )  # transient: never added
        preview.uses_draft = True
    elif is_service_intent(intent) or intent in FOLLOWUP_INTENTS:  # the intents action_answer_service answers
        svc = answers.service_for_intent(session, intent)
    elif intent == "crisis":
        preview.reply = answers.crisis_answer(answers.council(session)).text
        return preview
    elif intent == "nlu_fallback":
        preview.reply = (
            "The bot isn't sure: it would offer the likeliest services as buttons and the phone "
            "number. Add the resident's words as a synonym, or ask a developer to add examples."
        )
        return preview
    else:
        preview.reply = f"The bot would handle this as '{intent}', not with a service answer."
        return preview
    what = service_reply.asked(preview.question, intent, _entity(preview, "bin_type"))
    decision = service_reply.decide(
        session,
        svc,
        preview.question,
        bin_type=what.bin_type,
        aspect=what.aspect,
        postcode=_entity(preview, "postcode"),
        confidence=preview.confidence,
        now=now,
    )
    preview.service = decision.service_title
    preview.reply = decision.reply.text
    preview.buttons = [b["title"] for b in decision.reply.buttons]
    preview.unanswered = decision.unanswered is not None
    if decision.handover is not None:
        preview.handover = service_reply.handover_line(answers.council(session), decision.handover, now)
    return preview


async def make(question: str, draft: dict[str, Any], key: str, in_db: Any) -> Preview:
    """The whole preview. `in_db` runs a function with a database session (the console's helper)."""
    preview = Preview(question=question.strip())
    if not preview.question:
        preview.problem = "Type a question a resident might ask."
        return preview
    try:
        parsed = await understand(preview.question)
    except httpx.HTTPError:
        preview.problem = (
            "The preview needs the bot to be running (make run), to ask the model which service "
            "it would pick. Nothing was saved."
        )
        return preview
    preview.intent, preview.confidence = parsed.get("intent"), parsed.get("confidence")
    preview.entities = [e for e in parsed.get("entities") or [] if isinstance(e, dict)]
    return await in_db(lambda session: word_reply(session, preview, draft, key))
