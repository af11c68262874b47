"""The crisis override wins over whatever the classifier or fallback decided."""

from __future__ import annotations

from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.crisis import CrisisOverride


def _message(text: str, intent: str, confidence: float) -> Message:
    msg = Message(data={TEXT: text})
    msg.set(INTENT, {"name": intent, "confidence": confidence}, add_to_output=True)
    msg.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": confidence}], add_to_output=True)
    return msg


def test_crisis_phrase_overrides_a_confident_service_intent() -> None:
    [msg] = CrisisOverride().process([_message("bins missed again and i want to end my life", "svc_bins_missed", 0.97)])
    assert msg.get(INTENT) == {"name": "crisis", "confidence": 1.0}
    assert msg.get(INTENT_RANKING_KEY)[0]["name"] == "crisis"
    assert msg.get(INTENT_RANKING_KEY)[1]["name"] == "svc_bins_missed"


def test_crisis_phrase_overrides_the_fallback() -> None:
    [msg] = CrisisOverride().process([_message("kill myself", "nlu_fallback", 0.35)])
    assert msg.get(INTENT)["name"] == "crisis"


def test_ordinary_message_is_left_alone() -> None:
    [msg] = CrisisOverride().process([_message("these potholes are killing me", "svc_roads_pothole", 0.8)])
    assert msg.get(INTENT) == {"name": "svc_roads_pothole", "confidence": 0.8}
