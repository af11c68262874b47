"""A bad night: the action server dies. Anyone in danger still gets 999 and Samaritans, everyone else the
council's phone number, on REST and on Messenger; the supervisor starts the action server again, and the
bot answers fully once it is back (issue 9, finding 2)."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.stack import BotStack, wait_until_answers
from tests.e2e import residents
from tests.e2e.conftest import platform_env, running_bot
from tests.fakes import payloads
from tests.fakes.platform import FakePlatform, send_meta

pytestmark = pytest.mark.e2e
SECRET = "resilience-secret"
PHONE = "0300 123 4567"
POTHOLE = "https://www.northshire.gov.uk/roads/report-a-pothole"


@pytest.fixture(scope="module")
def stack(model: Path, tmp_path_factory: pytest.TempPathFactory, fake: FakePlatform) -> Iterator[BotStack]:
    with running_bot(model, tmp_path_factory.mktemp("resilience"), env=platform_env(fake.url, SECRET)) as bot:
        yield bot


def kill_actions(bot: BotStack) -> None:
    proc = bot.process("actions")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def say(bot: BotStack, text: str) -> str:
    response = residents.post(bot.webhook_url, f"r-{uuid.uuid4().hex[:10]}", text)
    assert response.status_code == 200, response.text
    return "\n".join(m.get("text", "") for m in response.json())


def test_with_the_action_server_dead_danger_still_gets_999_and_everyone_a_phone_number(
    stack: BotStack, fake: FakePlatform
) -> None:
    kill_actions(stack)

    crisis = say(stack, "I want to end my life")
    assert "999" in crisis and "116 123" in crisis
    assert crisis.index("999") < crisis.index(PHONE)  # the emergency line comes first
    ordinary = say(stack, "there's a pothole outside my house")
    assert PHONE in ordinary and "try again" in ordinary

    # Messenger, through the signed webhook and the fake Graph API: answered, not dropped.
    fake.reset()
    psid = f"psid-{uuid.uuid4().hex[:8]}"
    delivery = payloads.messenger(psid, "i feel suicidal and alone tonight")
    assert send_meta(f"{stack.rasa_url}/webhooks/meta/webhook", SECRET, delivery).status_code == 200
    sent = " ".join(
        c.body["message"]["text"] for c in fake.settle(at_least=1) if isinstance(c.body, dict) and "message" in c.body
    )
    assert "999" in sent and "116 123" in sent


def test_the_supervisor_starts_a_dead_server_again_and_full_answers_return(stack: BotStack) -> None:
    if stack.process("actions").poll() is None:
        kill_actions(stack)
    assert stack.supervise() == ["actions"]
    wait_until_answers(
        f"{stack.action_url}/health", time.monotonic() + 120, stack.process("actions"), "the restarted action server"
    )
    assert stack.running()
    assert POTHOLE in say(stack, "there's a pothole outside my house")


def test_a_server_that_keeps_dying_is_left_down_so_the_run_stops(stack: BotStack) -> None:
    from bot.stack import RESTART_LIMIT, RESTART_PERIOD

    start = time.monotonic() + 2 * RESTART_PERIOD  # earlier tests' restarts are out of the period
    for n in range(RESTART_LIMIT):
        kill_actions(stack)
        assert stack.supervise(now=start + n) == ["actions"]
    kill_actions(stack)
    assert stack.supervise(now=start + RESTART_LIMIT) == []
    assert not stack.running()
