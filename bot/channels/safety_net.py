"""The last word before a reply leaves the Rasa server: nobody in danger goes without 999 and Samaritans,
and nobody gets silence.

It runs in the Rasa server process, after the bot (or the handover gate) has decided what to say, so it
holds when the action server is down (Rasa then logs the failed action and answers nothing), when the
knowledge base can't be read, and while a person has the conversation. Danger detection is the same
reviewed lexicon the NLU pipeline's danger net uses (knowledge/danger/lexicon.py), plus the model's
`crisis` intent when it is known (the danger net's classifier, which only the model holds).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Optional

from knowledge import answers
from knowledge.danger.kinds import Danger, DangerKind
from knowledge.danger.lexicon import default_lexicon
from knowledge.db import session_scope
from knowledge.models import Council

log = logging.getLogger(__name__)

CRISIS_INTENT = "crisis"
# The council's numbers are re-read at most this often; the last good copy is used while the database is
# unreachable, so even then the reply carries the council's own phone number.
COUNCIL_TTL_SECONDS = 60.0

_council: dict[str, Any] = {"row": None, "at": 0.0}


def council_details() -> Optional[Council]:
    """The council's details (phone, hours, emergency numbers), or the last copy read, or None."""
    if _council["row"] is None or time.monotonic() - _council["at"] > COUNCIL_TTL_SECONDS:
        try:
            with session_scope() as session:
                _council["row"] = answers.council(session)
                _council["at"] = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - the reply must go out without the database
            log.warning("council details unavailable (%s); using the last copy", type(exc).__name__)
    return _council["row"]


def danger_in(text: str, intent: Optional[str] = None) -> Optional[Danger]:
    """The danger the reviewed lexicon finds in the message, or (the model said `crisis`) one of a kind not
    told; None if neither."""
    try:
        found = default_lexicon().match(text) if text else None
    except Exception:  # noqa: BLE001 - never fail a reply here
        # A false alarm costs one extra message with the emergency numbers; a miss could cost a life.
        log.error("danger lexicon failed; treating the message as possibly urgent", exc_info=True)
        return Danger(DangerKind.UNKNOWN, 1.0, "failure") if text else None
    if found is None and intent == CRISIS_INTENT:
        return Danger(DangerKind.UNKNOWN, 1.0, "model")
    return found


def in_danger(text: str, intent: Optional[str] = None) -> bool:
    """True if the message names a danger the reviewed lexicon covers, or the model said `crisis`."""
    return danger_in(text, intent) is not None


def complete(
    text: str, messages: list[dict[str, Any]], intent: Optional[str] = None, silent_ok: bool = False
) -> list[dict[str, Any]]:
    """`messages` as they should go out: led by the crisis lines if the resident may be in danger and no
    message gives the emergency number yet; never empty unless `silent_ok` (the handover gate's deliberate
    silence while staff have the case, which a crisis still breaks)."""
    danger = danger_in(text, intent)
    if not messages and silent_ok and not danger:
        return messages
    c = council_details() if (danger or not messages) else None
    out = list(messages)
    if danger and not any(answers.mentions_emergency_number(m.get("text") or "", c) for m in out):
        log.warning("safety net added the crisis lines to a reply")
        out.insert(0, {"text": answers.danger_answer(c, danger.kind).text})
    if not messages and not silent_ok:
        log.warning("the bot gave no answer; safety net sent the phone number")
        out.append({"text": answers.unavailable_answer(c)})
    return out
