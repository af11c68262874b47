"""The one place where a conversation leaves the bot for a person.

Today there is no staff console, so a handover only tells the resident how to reach a person; when cases
exist, `request_handover` will open one and return its reference number. Callers already pass everything a
case needs (conversation, channel, reason), so nothing else changes when that lands.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional


class HandoverReason(str, Enum):
    """Why the conversation should go to a person."""

    ASKED = "asked"
    REPEATED_FALLBACK = "repeated_fallback"
    CRISIS = "crisis"
    TOPIC = "topic"


@dataclass(frozen=True)
class Handover:
    """Result of asking for a person. `reference` is None until staff cases exist."""

    reason: HandoverReason
    reference: Optional[str] = None


def request_handover(conversation_id: str, channel: Optional[str], reason: HandoverReason) -> Handover:
    """Ask for a person to take over `conversation_id`. Opens no case yet (see module docstring)."""
    return Handover(reason=reason, reference=None)
