"""A WhatsApp staff reply held for the resident's answer to the invitation is withdrawn when staff close the
case (they phoned instead): whenever the resident next writes, however long after and about whatever, the
old reply is not sent. Written by the attacker's review of issue 12.

Same real-HTTP setup as tests/bot/test_whatsapp_template.py (console process, fake Meta platform)."""

from __future__ import annotations

import pytest

from tests.bot.console_helpers import csrf_in
from tests.bot.test_whatsapp_template import (  # noqa: F401 - fixtures
    _claimed_case,
    _reply,
    _resident_writes,
    _texts,
    console,
    fake,
    platform,
)
from tests.fakes.platform import FakePlatform


def test_a_reply_held_on_a_case_staff_then_resolved_is_not_sent_when_the_resident_next_writes(
    console: tuple[str, str],  # noqa: F811 - the fixture imported above
    fake: FakePlatform,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, db_url = console
    phone = "447700900391"
    agent, reference = _claimed_case(base, db_url, phone, hours_ago=30)
    words = "We'll collect the mattress on Friday."
    assert "Reply held" in _reply(agent, reference, words)
    fake.settle(at_least=1, quiet=0.5)  # the invitation template

    page = agent.get(f"/cases/{reference}").text
    done = agent.post(
        f"/cases/{reference}/resolve",
        data={"csrf_token": csrf_in(page), "outcome": "no_reply", "outcome_note": "phoned them instead"},
    )
    assert done.status_code == 303

    # Weeks later the resident writes about something else.
    monkeypatch.setenv("DATABASE_URL", db_url)
    _resident_writes(fake.url, phone, "When is the recycling collected?", 1)
    calls = fake.settle(quiet=0.5)
    assert words not in _texts(calls, phone), "a reply from a resolved case went out when the resident next wrote"
