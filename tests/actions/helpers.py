"""Build trackers the way Rasa sends them to the action server."""

from __future__ import annotations

from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher


def tracker(text: str, intent: str, confidence: float = 0.95, ranking: Optional[list[dict]] = None,
            entities: Optional[list[dict]] = None, previous_intents: tuple[str, ...] = (),
            sender: str = "test-resident") -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": confidence},
              "intent_ranking": ranking or [{"name": intent, "confidence": confidence}],
              "entities": entities or []}
    events: list[dict[str, Any]] = [{"event": "action", "name": "action_listen"}]
    for name in previous_intents:
        events.append({"event": "user", "text": "...", "parse_data": {"intent": {"name": name}}})
    events.append({"event": "user", "text": text, "parse_data": latest, "input_channel": "rest"})
    return Tracker.from_dict({"sender_id": sender, "slots": {}, "latest_message": latest, "events": events,
                              "paused": False, "latest_input_channel": "rest", "active_loop": {},
                              "latest_action_name": "action_listen"})


def run(action: Any, t: Tracker) -> list[dict]:
    dispatcher = CollectingDispatcher()
    action.run(dispatcher, t, {})
    return dispatcher.messages
