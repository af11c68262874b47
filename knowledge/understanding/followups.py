"""Follow-ups: what a message asks about a service (cost, who can use it, when) and whether it leans on
the previous turn ("what does that cost", "same for the leisure centre?", "what about the other bin").

Plain patterns over the message: the model decides *which* service; these decide *what about it*, so an
editor's cost or opening times answer "how much is it" for every service without new training data.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Optional

from knowledge.danger.lexicon import normalise


class Aspect(StrEnum):
    """What a resident asks about a service; each names the Service column that answers it."""

    COST = "cost"
    ELIGIBILITY = "eligibility"
    TIMING = "timing"


# The follow-up intents (data/nlu) and the aspect each asks about; `followup_other` asks the same again.
FOLLOWUP_INTENTS = {
    "ask_cost": Aspect.COST,
    "ask_eligibility": Aspect.ELIGIBILITY,
    "ask_timing": Aspect.TIMING,
    "followup_other": None,
}

# Checked in this order: "what day do they get collected" asks when, not who.
_ASPECTS = [
    (
        Aspect.COST,
        re.compile(
            r"\b(how much|cost|costs|costing|price|prices|pricing|fee|fees|charge|charges|charged|pay for|have to pay|"
            r"hav(e)? (to|2) pay|to pay anything|go free|is it free|is that free|are they free|"
            r"free of charge|for free|come free|a year|per year|annual|afford|cheaper|expensive|quid|£)"
        ),
    ),
    (
        Aspect.TIMING,
        re.compile(
            r"\b(when|whens|what time|what times|opening|open|opens|close|closes|closing|shut|shuts|hours|how long|"
            r"how soon|how fast|how quick|how far in advance|earliest|waiting list|the wait|deadline|by when|what day|"
            r"which day|today|tomorrow|tonight|weekend|sunday|saturday|bank holiday|before (next|christmas))\b"
        ),
    ),
    (
        Aspect.ELIGIBILITY,
        re.compile(
            r"\b(eligible|eligibility|qualify|qualifies|entitled|who can|can (i|we|my \w+|he|she|they|anyone) "
            r"(still )?(get|apply|have|use|claim|join|sign up|register|go)|"
            r"(does|do|would|will|could) (he|she|they|i|we|my \w+) (still )?(get|count|qualify)|"
            r"am i allowed|do i need to be|age limit|criteria|requirements|only for)\b"
        ),
    ),
]
# Words that lean on the previous turn: "and the green one?", "same for the pool", "is the library open too".
_REFERS_BACK = re.compile(
    r"^(and|what about|how about|same|also|ok and|so|then)\b|\b(too|as well|also|same for|same with|"
    r"the other|that one|this one|then)\s*\??$"
)
_OTHER_BIN = {
    "general": "recycling",
    "recycling": "general",
    "garden": "general",
    "food": "general",
    "glass": "general",
}


def aspect_of(text: str, intent: Optional[str] = None) -> Optional[Aspect]:
    """What the message asks about: from a follow-up intent, else from its words; None for "everything"."""
    if intent in FOLLOWUP_INTENTS and FOLLOWUP_INTENTS[intent] is not None:
        return FOLLOWUP_INTENTS[intent]
    norm = normalise(text or "")
    for aspect, pattern in _ASPECTS:
        if pattern.search(norm):
            return aspect
    return None


def is_follow_up(text: str, intent: Optional[str], last_service: Optional[str]) -> bool:
    """Could this message be about the service answered last? (There must be one.)"""
    return bool(last_service) and (
        intent in FOLLOWUP_INTENTS or refers_back(text) or aspect_of(text, intent) is not None
    )


def refers_back(text: str) -> bool:
    """Does the message only make sense with the previous turn ("same for the leisure centre?")?"""
    norm = normalise(text or "").rstrip(" ?!.")
    return bool(_REFERS_BACK.search(norm)) and len(norm.split()) <= 12


def other_bin(bin_type: Optional[str]) -> Optional[str]:
    """ "The other bin": recycling after general waste, general waste after anything else."""
    return _OTHER_BIN.get((bin_type or "").lower(), "recycling" if bin_type is None else None)
