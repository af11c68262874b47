"""Floods against the real servers with the default limits: many web chat senders from one address, one
Messenger resident sending fast, fake crisis messages, and messages with no words, through the trained
model, the action server and a fake Meta on loopback.

The stack trusts one reverse proxy (TRUSTED_PROXY_COUNT=1), so each test plays its own caller address
with X-Forwarded-For, as the council's proxy would send it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.channels.config import NO_RATE_LIMITS
from bot.channels.rest import TOKEN_HEADER
from bot.stack import BotStack
from knowledge.db import session_scope
from knowledge.models import Case
from tests.e2e.conftest import platform_env, running_bot
from tests.fakes import payloads as p
from tests.fakes.platform import FakePlatform, send_meta

pytestmark = pytest.mark.e2e

APP_SECRET = "flood-app-secret"
REFERENCE = re.compile(r"NC-\d{4}-\d{6}")
SLOW_DOWN = "sending messages very quickly"


@pytest.fixture(scope="module")
def bot(model: Path, fake: FakePlatform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotStack]:
    defaults = {name: "" for name in NO_RATE_LIMITS}  # unset: the shipped defaults
    env = platform_env(fake.url, APP_SECRET, **defaults, TRUSTED_PROXY_COUNT="1")
    with running_bot(model, tmp_path_factory.mktemp("floods"), env=env) as stack:
        yield stack


def webchat(bot: BotStack, sender: str, text: str, address: str) -> httpx.Response:
    """A web chat message from `address`, carrying the conversation's owner token once it has one."""
    key = (bot.rasa_url, sender)
    headers = {"X-Forwarded-For": address, **({TOKEN_HEADER: _tokens[key]} if key in _tokens else {})}
    response = httpx.post(
        f"{bot.rasa_url}/webhooks/webchat/webhook",
        json={"sender": sender, "message": text},
        headers=headers,
        timeout=60,
    )
    if response.headers.get(TOKEN_HEADER):
        _tokens[key] = response.headers[TOKEN_HEADER]
    return response


_tokens: dict[tuple[str, str], str] = {}


def cases_for(bot: BotStack, prefix: str) -> int:
    with session_scope(bot.kb_url) as session:
        return session.execute(select(func.count(Case.id)).where(Case.conversation_id.like(f"{prefix}%"))).scalar_one()


def test_100_new_web_chat_senders_from_one_address_are_mostly_refused(bot: BotStack) -> None:
    run = uuid.uuid4().hex[:6]
    statuses, refusal = [], None
    for n in range(100):
        r = webchat(bot, f"{run}-{n}", "can I speak to a real person please", "203.0.113.10")
        statuses.append(r.status_code)
        if r.status_code == 429 and refusal is None:
            refusal = r
    assert set(statuses) <= {200, 429}
    assert statuses.count(429) >= 75
    assert cases_for(bot, f"web:{run}-") <= 20
    # Polite, in the reply shape the page shows, with when to try again.
    assert refusal is not None and int(refusal.headers["Retry-After"]) > 0
    [reply] = refusal.json()
    assert SLOW_DOWN in reply["text"] and "999" in reply["text"]
    # Another address is not affected.
    ok = webchat(bot, f"{run}-other", "how do i report a pothole", "198.51.100.20")
    assert ok.status_code == 200 and "report-a-pothole" in ok.text


def test_a_crisis_message_over_the_limit_still_gets_the_crisis_lines(bot: BotStack) -> None:
    run = uuid.uuid4().hex[:6]
    address = "203.0.113.11"
    for n in range(25):  # use up this address's new conversations for the hour
        webchat(bot, f"{run}-{n}", "hello", address)
    refused = webchat(bot, f"{run}-late", "hello", address)
    assert refused.status_code == 429
    crisis = webchat(bot, f"{run}-crisis", "I want to kill myself", address)
    assert crisis.status_code == 200
    said = " ".join(m["text"] for m in crisis.json())
    assert "999" in said and "116 123" in said
    assert cases_for(bot, f"web:{run}-crisis") == 0  # answered at the door, not a case a flood could repeat


def test_two_unintelligible_messages_get_the_phone_number_and_no_case(bot: BotStack) -> None:
    sender = f"gib-{uuid.uuid4().hex[:6]}"
    first = webchat(bot, sender, "asdfgh", "192.0.2.30")
    second = webchat(bot, sender, "???", "192.0.2.30")
    assert first.status_code == second.status_code == 200
    said = " ".join(m["text"] for m in second.json())
    assert "0300 123 4567" in said and not REFERENCE.search(said)
    assert cases_for(bot, f"web:{sender}") == 0
    # The bot is still listening: the next question is answered, not swallowed by a case.
    third = webchat(bot, sender, "how do i report a pothole", "192.0.2.30")
    assert "report-a-pothole" in third.text


def test_a_fast_messenger_resident_is_told_once_and_a_crisis_still_answered(bot: BotStack, fake: FakePlatform) -> None:
    fake.reset()
    url = f"{bot.rasa_url}/webhooks/meta/webhook"
    psid = f"psid-{uuid.uuid4().hex[:6]}"
    queued = 0
    for n in range(26):
        r = send_meta(url, APP_SECRET, p.messenger(psid, f"hello number {n}", mid=f"m-{psid}-{n}"))
        assert r.status_code == 200  # the platform is always acknowledged
        queued += r.json()["queued"]
    assert queued == 20  # the default per-sender limit
    r = send_meta(url, APP_SECRET, p.messenger(psid, "I want to end my life", mid=f"m-{psid}-crisis"))
    assert r.status_code == 200 and r.json()["queued"] == 0
    calls = fake.settle(at_least=22)
    texts = [str(c.body) for c in calls if c.body and (c.body.get("recipient") or {}).get("id") == psid]
    assert sum(SLOW_DOWN in t for t in texts) == 1
    assert any("999" in t and "116 123" in t for t in texts)
    assert cases_for(bot, f"messenger:{psid}") == 0
