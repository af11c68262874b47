"""A crash of the Rasa server in the middle of a burst: after the restart every message is answered exactly
once, in order, at once (not after a lease or the old five-minute wait), through the real servers and the
fake Meta on loopback."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.stack import BotStack, wait_until_answers
from knowledge.db import session_scope
from knowledge.models import OutboundMessage
from tests.e2e.conftest import platform_env, running_bot
from tests.e2e.test_channels import MISSED_BIN, POTHOLE, meta_url, text_of
from tests.fakes import payloads as p
from tests.fakes.platform import FakePlatform, send_meta

pytestmark = pytest.mark.e2e

APP_SECRET = "test-app-secret"


@pytest.fixture(scope="module")
def social(model: Path, fake: FakePlatform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotStack]:
    env = platform_env(
        fake.url,
        APP_SECRET,
        # A lease far longer than the test may take: only the restarted replica knowing its
        # own work can make the answers come promptly.
        CHANNEL_CLAIM_LEASE_SECONDS="900",
        OUTBOUND_RETRY_BASE_SECONDS="0.2",
        OUTBOUND_RETRY_MAX_SECONDS="1",
    )
    with running_bot(model, tmp_path_factory.mktemp("delivery"), env=env) as stack:
        yield stack


def _kill_and_restart_rasa(stack: BotStack, timeout: float = 240.0) -> None:
    """kill -9 the Rasa server, then let the stack's supervisor start it again on the same port, as
    `councilbot run` does."""
    rasa = stack.process("rasa")
    os.killpg(rasa.pid, signal.SIGKILL)
    rasa.wait()
    assert stack.supervise() == ["rasa"]
    wait_until_answers(
        f"{stack.rasa_url}/webhooks/rest/",
        time.monotonic() + timeout,
        stack.process("rasa"),
        "the restarted Rasa server",
    )


def _statuses(stack: BotStack, conversation_id: str) -> list[str]:
    with session_scope(stack.kb_url) as s:
        return list(
            s.execute(
                select(OutboundMessage.status)
                .where(OutboundMessage.conversation_id == conversation_id)
                .order_by(OutboundMessage.id)
            ).scalars()
        )


def test_a_crash_mid_burst_answers_every_message_once_in_order_without_waiting(
    social: BotStack, fake: FakePlatform
) -> None:
    asks = ["pothole on my road", "my bin was not collected"] * 3
    expected = [POTHOLE if "pothole" in a else MISSED_BIN for a in asks]
    fake.stall_next(1)  # the first reply reaches the platform, which goes quiet: the crash comes mid-send
    for i, text in enumerate(asks):
        r = send_meta(meta_url(social), APP_SECRET, p.messenger("psid-crash", f"{text} ({i})", mid=f"m_crash_{i}"))
        assert r.status_code == 200 and r.json()["queued"] == 1
    fake.wait_for(1, timeout=120)
    _kill_and_restart_rasa(social)
    fake.release()
    restarted = time.monotonic()

    calls = fake.wait_for(len(asks), timeout=120)
    answered = time.monotonic() - restarted
    calls = fake.settle(at_least=len(asks), quiet=3.0)
    replies = [text_of(c) for c in calls if c.body.get("recipient") == {"id": "psid-crash"}]
    topics = [POTHOLE if POTHOLE in r else MISSED_BIN if MISSED_BIN in r else r for r in replies]
    assert topics == expected  # each message answered once, in order, the one cut short not resent
    assert answered < 60  # the old code waited five minutes; the lease here is fifteen
    statuses = _statuses(social, "messenger:psid-crash")
    assert statuses == ["unknown"] + ["sent"] * (len(asks) - 1)  # staff can see which one is uncertain


def test_a_graph_api_that_fails_for_a_while_gets_the_reply_once(social: BotStack, fake: FakePlatform) -> None:
    fake.reset()
    fake.fail_for(8.0, 500)
    send_meta(meta_url(social), APP_SECRET, p.messenger("psid-bad-minute", "pothole on the high street"))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "sent" not in _statuses(social, "messenger:psid-bad-minute"):
        time.sleep(0.3)
    calls = fake.settle(quiet=2.0)
    delivered = [c for c in calls if c.status == 200 and c.body.get("recipient") == {"id": "psid-bad-minute"}]
    assert len(delivered) == 1 and POTHOLE in text_of(delivered[0])
    assert len([c for c in calls if c.status == 500]) > 4  # more than the old four quick tries
    assert _statuses(social, "messenger:psid-bad-minute") == ["sent"]
