"""The editors' preview: what the bot would say to a resident's question if the draft were published.

The running Rasa server says which intent the model picks and how sure it is (its internal `/parse` route,
reached with the per-run token); the reply is then worded by the same `knowledge.answers` functions the
bot's actions use, with the draft in place of the published service. Nothing is saved.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

import httpx
from sqlalchemy.orm import Session

from knowledge import answers, notices
from knowledge.intents import intent_for_service
from knowledge.models import Service
from knowledge.settings import settings


@dataclass
class Preview:
    """`intent`/`confidence` as the model saw the question; `service` the title of the service it picked
    (None if not a service); `uses_draft` whether that is the service being edited; `reply` the words the
    resident would get, or `problem` if the preview couldn't be made."""

    question: str
    intent: Optional[str] = None
    confidence: Optional[float] = None
    service: Optional[str] = None
    uses_draft: bool = False
    reply: str = ""
    problem: Optional[str] = None


async def understand(question: str) -> dict[str, Any]:
    """The model's reading of `question` from the running Rasa server."""
    config = settings()
    base = (config.rasa_url or f"http://{config.host}:{config.rasa_port}").rstrip("/")
    token = config.internal_token or ""
    async with httpx.AsyncClient(timeout=10) as client:
        resp = await client.post(f"{base}/webhooks/rest/parse", json={"text": question},
                                 headers={"X-Internal-Token": token})
    resp.raise_for_status()
    return resp.json()


def word_reply(session: Session, preview: Preview, draft: dict[str, Any], key: str) -> Preview:
    """Fill in the reply for an intent already known, with `draft` standing in for service `key`."""
    council = answers.council(session)
    in_force = notices.lines(notices.active(session, key))
    if preview.intent == intent_for_service(key):
        svc = Service(**{k: v for k, v in draft.items() if hasattr(Service, k)})  # transient: never added
        preview.service, preview.uses_draft = svc.title, True
        preview.reply = answers.service_answer(council, svc, notices=in_force).text
        return preview
    published = answers.service_for_intent(session, preview.intent)
    if published is not None:
        preview.service = published.title
        preview.reply = answers.service_answer(council, published, notices=notices.lines(
            notices.active(session, published.key))).text
    elif preview.intent == "crisis":
        preview.reply = answers.crisis_answer(council).text
    elif preview.intent == "nlu_fallback":
        preview.reply = ("The bot isn't sure: it would offer the likeliest services as buttons and the phone "
                         "number. Add the resident's words as a synonym, or ask a developer to add examples.")
    else:
        preview.reply = f"The bot would handle this as '{preview.intent}', not with a service answer."
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
        preview.problem = ("The preview needs the bot to be running (make run), to ask the model which service "
                           "it would pick. Nothing was saved.")
        return preview
    preview.intent, preview.confidence = parsed.get("intent"), parsed.get("confidence")
    return await in_db(lambda session: word_reply(session, preview, draft, key))
