"""The kinds of danger the net tells apart, and what a finding carries."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Optional


class DangerKind(StrEnum):
    """A kind of danger. Each leads the reply with its own line (knowledge/answers.py `danger_answer`)."""

    SUICIDE = "suicide"  # suicidal thoughts or intent, self-harm
    DOMESTIC_ABUSE = "domestic_abuse"  # abuse by a partner or family member, now
    CHILD_HARM = "child_harm"  # a child disclosing harm, or a child in danger now
    FIRE = "fire"  # fire or smoke with people at risk
    GAS = "gas"  # gas leak, carbon monoxide
    WATER = "water"  # someone in water
    COLLISION = "collision"  # a road collision with people hurt
    MEDICAL = "medical"  # collapsed, not breathing, can't feel limbs
    VIOLENCE = "violence"  # weapons, threats of violence
    UNKNOWN = "unknown"  # danger of a kind not told (the model's crisis intent, a failure)

    @classmethod
    def parse(cls, value: Optional[str]) -> DangerKind:
        try:
            return cls(value) if value else cls.UNKNOWN
        except ValueError:
            return cls.UNKNOWN


# Classes the classifier learns besides the kinds: an ordinary message.
NOT_DANGER = "none"


@dataclass(frozen=True)
class Danger:
    """A finding: the kind, how sure (1.0 for the lexicon), and which layer said so."""

    kind: DangerKind
    score: float
    source: str  # "lexicon" or "model"
    matched: str = ""  # the lexicon's words that matched (never logged: they are the resident's)
    # True: answered as danger (the line for the kind first, an urgent case). False: the classifier is
    # uneasy but not sure: the ordinary answer, with 999 and Samaritans added at the end, and no case.
    urgent: bool = True

    def as_dict(self) -> dict:
        # Plain Python types: this goes into Rasa's tracker as JSON (numpy's bool_ would break it).
        return {
            "kind": self.kind.value,
            "score": round(float(self.score), 4),
            "source": self.source,
            "urgent": bool(self.urgent),
        }
