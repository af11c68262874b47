"""The last word before a reply leaves the Rasa server: nobody in danger goes without 999 and Samaritans,
and nobody gets silence.

It runs in the Rasa server process, after the bot (or the handover gate) has decided what to say, so it
holds when the action server is down (Rasa then logs the failed action and answers nothing), when the
knowledge base can't be read, and while a person has the conversation. Crisis detection is the same
reviewed phrase list the NLU pipeline uses (knowledge/safety.py), plus the model's `crisis` intent when
it is known.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Optional

from knowledge import answers
from knowledge.db import session_scope
from knowledge.models import Council
from knowledge.safety import default_matcher

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


def in_danger(text: str, intent: Optional[str] = None) -> bool:
    """True if the message names a danger the reviewed phrase list covers, or the model said `crisis`."""
    if intent == CRISIS_INTENT:
        return True
    try:
        return bool(text) and default_matcher().match(text) is not None
    except Exception:  # noqa: BLE001 - never fail a reply here
        # A false alarm costs one extra message with the emergency numbers; a miss could cost a life.
        log.error("crisis phrase matcher failed; treating the message as possibly urgent", exc_info=True)
        return bool(text)


def complete(text: str, messages: list[dict[str, Any]], intent: Optional[str] = None,
             silent_ok: bool = False) -> list[dict[str, Any]]:
    """`messages` as they should go out: led by the crisis lines if the resident may be in danger and no
    message gives the emergency number yet; never empty unless `silent_ok` (the handover gate's deliberate
    silence while staff have the case, which a crisis still breaks)."""
    danger = in_danger(text, intent)
    if not messages and silent_ok and not danger:
        return messages
    c = council_details() if (danger or not messages) else None
    out = list(messages)
    if danger and not any(answers.mentions_emergency_number(m.get("text") or "", c) for m in out):
        log.warning("safety net added the crisis lines to a reply")
        out.insert(0, {"text": answers.crisis_answer(c).text})
    if not messages and not silent_ok:
        log.warning("the bot gave no answer; safety net sent the phone number")
        out.append({"text": answers.unavailable_answer(c)})
    return out
