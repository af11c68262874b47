"""Build trackers the way Rasa sends them to the action server."""

from __future__ import annotations

from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher


def tracker(
    text: str,
    intent: str,
    confidence: float = 0.95,
    ranking: Optional[list[dict]] = None,
    entities: Optional[list[dict]] = None,
    previous_intents: tuple[str, ...] = (),
    sender: str = "test-resident",
    slots: Optional[dict[str, Any]] = None,
    danger: Optional[dict[str, Any]] = None,
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": ranking or [{"name": intent, "confidence": confidence}],
        "entities": entities or [],
    }
    if danger is not None:
        latest["danger"] = danger
    events: list[dict[str, Any]] = [{"event": "action", "name": "action_listen"}]
    for name in previous_intents:
        events.append({"event": "user", "text": "...", "parse_data": {"intent": {"name": name}}})
    events.append({"event": "user", "text": text, "parse_data": latest, "input_channel": "rest"})
    return Tracker.from_dict(
        {
            "sender_id": sender,
            "slots": dict(slots or {}),
            "latest_message": latest,
            "events": events,
            "paused": False,
            "latest_input_channel": "rest",
            "active_loop": {},
            "latest_action_name": "action_listen",
        }
    )


def run(action: Any, t: Tracker, domain: Optional[dict] = None) -> list[dict]:
    dispatcher = CollectingDispatcher()
    action.run(dispatcher, t, domain or {})
    return dispatcher.messages


def run_with_events(action: Any, t: Tracker, domain: Optional[dict] = None) -> tuple[list[dict], list[dict]]:
    """The messages sent and the events returned (slots set)."""
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, t, domain or {})
    return dispatcher.messages, events
