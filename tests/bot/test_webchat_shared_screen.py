"""Review of issue 12 (web chat memory + contact back): the contact a resident left is masked in the bot's
answer because "the chat may be on a shared screen" (knowledge/casework/contact_back.py), yet the history
the page replays on every later visit to that device (no expiry) shows the message with the address in
full. (It failed before the fix.)"""

from __future__ import annotations

import datetime as dt

from bot.channels.handover_gate import intercept
from bot.channels.webchat_memory import SENDER_PREFIX
from tests.bot.test_contact_back import EVENING, _hand_over
from tests.bot.test_webchat_memory import _own_var_dir, events_for, history, start  # noqa: F401 - fixture


def test_the_history_replayed_on_a_shared_device_does_not_show_the_contact_in_full(kb_url: str) -> None:
    sender = "resident-shared-000001"
    token = start(sender)
    assert _hand_over(SENDER_PREFIX + sender, "webchat", EVENING).offer_contact
    said = intercept(SENDER_PREFIX + sender, "email me at jane.doe@example.com", now=EVENING + dt.timedelta(minutes=1))
    assert said is not None
    assert "j…@example.com" in said[0]["text"] and "jane.doe" not in said[0]["text"]  # masked when answered

    # Next week, the next person to open the chat on the library computer:
    status, body = history(sender, token, events_for())
    assert status == 200
    assert not any("jane.doe@example.com" in m["text"] for m in body["messages"]), body["messages"]
