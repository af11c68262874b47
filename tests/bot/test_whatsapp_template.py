"""WhatsApp after 24 hours: a staff reply sends the council's approved template inviting the resident back,
holds the reply itself, and sends it once the resident answers. Over real HTTP: the staff console as its own
process, the fake Meta platform (with the account's approved templates) behind it, and the resident's answer
going through the inbox, the responder and the durable queue as on the Rasa server (only Rasa itself is
stood in for, by `Bot`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
from collections.abc import Iterator
from typing import Any, Optional

import pytest
from rasa.core.channels.channel import UserMessage
from sqlalchemy import select

from bot.channels.config import DeliveryConfig
from bot.channels.events import Incoming
from bot.channels.inbox import Inbox
from bot.channels.responder import Responder
from bot.channels.sending.dispatch import Dispatcher
from bot.channels.sending.senders import MetaSender
from bot.platforms.api import ApiClient
from knowledge.casework import cases
from knowledge.db import session_scope
from knowledge.delivery.claims import Claimer
from knowledge.delivery.conversations import utcnow
from knowledge.models import CaseMessage, Conversation, OutboundMessage
from tests.bot.console_helpers import WebClient, claimed_case, csrf_in, seeded_console, staff_reply
from tests.fakes.platform import Call, FakePlatform

TEMPLATE, LANGUAGE = "council_reply_waiting", "en_GB"
NUMBER_ID = "wa-number-1"  # the council's WhatsApp phone number id: the path of every send
META_ENV = {"META_APP_SECRET": "app-secret", "META_VERIFY_TOKEN": "verify-me", "META_PAGE_ACCESS_TOKEN": "page-token"}
FAST = DeliveryConfig(
    retry_base=dt.timedelta(milliseconds=20),
    retry_max=dt.timedelta(milliseconds=200),
    retry_for=dt.timedelta(hours=24),
    lease=dt.timedelta(seconds=30),
    replica=None,
)


@pytest.fixture(scope="module")
def platform() -> Iterator[FakePlatform]:
    with FakePlatform() as fake:
        fake.approve_template(TEMPLATE, LANGUAGE)
        yield fake


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, platform: FakePlatform) -> Iterator[tuple[str, str]]:
    env = {
        **META_ENV,
        "META_GRAPH_URL": platform.url,
        "WHATSAPP_REPLY_TEMPLATE": TEMPLATE,
        "WHATSAPP_TEMPLATE_LANGUAGE": LANGUAGE,
    }
    with seeded_console(tmp_path_factory, "wa_template", env=env) as (base, db_url):
        yield base, db_url


@pytest.fixture(scope="module")
def console_without_template(
    tmp_path_factory: pytest.TempPathFactory, platform: FakePlatform
) -> Iterator[tuple[str, str]]:
    with seeded_console(tmp_path_factory, "wa_no_template", env={**META_ENV, "META_GRAPH_URL": platform.url}) as (
        base,
        db_url,
    ):
        yield base, db_url


@pytest.fixture
def fake(platform: FakePlatform) -> Iterator[FakePlatform]:
    platform.reset()
    yield platform
    platform.reset()


# --- helpers ------------------------------------------------------------------------------------------------------


def _claimed_case(base: str, db_url: str, phone: str, hours_ago: float) -> tuple[WebClient, str]:
    """A WhatsApp resident (`phone`) who last wrote `hours_ago`, with an open case an agent has claimed."""
    return claimed_case(base, db_url, "whatsapp", phone, hours_ago, account_id=NUMBER_ID)


_reply = staff_reply


def _case_page(agent: WebClient, reference: str) -> str:
    return html.unescape(agent.get(f"/cases/{reference}").text)


def _to(calls: list[Call], phone: str) -> list[Call]:
    """The WhatsApp sends the platform accepted for one resident, in order."""
    return [c for c in calls if c.status == 200 and isinstance(c.body, dict) and c.body.get("to") == phone]


def _texts(calls: list[Call], phone: str) -> list[str]:
    return [c.body["text"]["body"] for c in _to(calls, phone) if c.body.get("type") == "text"]


def _templates(calls: list[Call], phone: str) -> list[Call]:
    return [c for c in _to(calls, phone) if c.body.get("type") == "template"]


class Bot:
    """Stands in for the Rasa server (never reached while staff hold the case: the handover gate answers)."""

    async def __call__(self, message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, f"Answer to {message.text}")


async def _parse(_: str) -> Optional[dict[str, Any]]:
    return {"intent": {"name": "report_missed_bin"}}


def _dispatcher(url: str, replica: str) -> Dispatcher:
    api = ApiClient("whatsapp", url, "page-token", timeout=5, backoff=0.01, max_backoff=0.02)
    return Dispatcher(MetaSender(api, api), ("whatsapp",), FAST, Claimer(replica))


def _resident_writes(url: str, phone: str, text: str, n: int, replica: str = "rasa-1:5005", send: bool = True) -> None:
    """The resident's WhatsApp message reaches a Rasa replica: stored, answered, replies sent. With `send`
    False the replica has no sender (it stops after recording the message, before sending anything)."""

    async def go() -> None:
        dispatcher = _dispatcher(url, replica) if send else None
        inbox = Inbox(
            ("whatsapp",),
            Responder(Bot(), _parse, FAST.retry_for),
            dt.timedelta(days=7),
            dispatcher,
            claimer=Claimer(replica),
        )
        message = Incoming("whatsapp", f"wamid.in-{phone}-{n}", phone, text, NUMBER_ID, sent_at=utcnow())
        queued, _ = await inbox.accept([message])
        assert queued == 1
        await inbox.idle()

    asyncio.run(asyncio.wait_for(go(), timeout=30))


def _outbound(db_url: str, conversation_id: str) -> list[OutboundMessage]:
    with session_scope(db_url) as session:
        query = select(OutboundMessage).where(OutboundMessage.conversation_id == conversation_id)
        return list(session.execute(query.order_by(OutboundMessage.id)).scalars())


def _staff_lines(db_url: str, reference: str) -> list[CaseMessage]:
    with session_scope(db_url) as session:
        case = cases.by_reference(session, reference)
        return [m for m in cases.timeline(session, case.id) if m.author in ("staff", "system")]


# --- the tests ----------------------------------------------------------------------------------------------------


def test_at_hour_30_the_template_goes_then_the_reply_once_the_resident_answers(
    console: tuple[str, str], fake: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, db_url = console
    phone = "447700900301"
    agent, reference = _claimed_case(base, db_url, phone, hours_ago=30)
    words = "Sorry for the wait: the crew comes on Friday."

    notice = _reply(agent, reference, words)

    assert "Reply held" in notice and "invited to reply" in notice
    [invite] = fake.settle(at_least=1, quiet=0.5)
    assert invite.path == f"/{NUMBER_ID}/messages"
    assert invite.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": phone,
        "type": "template",
        "template": {"name": TEMPLATE, "language": {"policy": "deterministic", "code": LANGUAGE}},
    }
    assert words not in str(invite.body)  # the reply itself waits
    assert "waiting for the resident to answer the invitation" in _case_page(agent, reference)

    # The resident answers the invitation: the held reply goes, once, before the bot's acknowledgement.
    monkeypatch.setenv("DATABASE_URL", db_url)
    _resident_writes(fake.url, phone, "Hi, yes?", 1)
    calls = fake.settle(at_least=2, quiet=0.5)
    assert _texts(calls, phone).count(words) == 1
    assert _texts(calls, phone)[0] == words
    assert len(_templates(calls, phone)) == 1
    [line] = [m for m in _staff_lines(db_url, reference) if m.author == "staff"]
    assert line.delivery == "sent"

    # Later messages from the resident send nothing more of it.
    _resident_writes(fake.url, phone, "Thanks", 2)
    assert _texts(fake.settle(quiet=0.5), phone).count(words) == 1


def test_two_replies_while_waiting_send_one_template_and_both_replies_in_order(
    console: tuple[str, str], fake: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, db_url = console
    phone = "447700900302"
    agent, reference = _claimed_case(base, db_url, phone, hours_ago=30)

    assert "Reply held" in _reply(agent, reference, "First: we have your report.")
    assert "Reply held" in _reply(agent, reference, "Second: the crew comes on Friday.")

    calls = fake.settle(at_least=1, quiet=0.5)
    assert len(_templates(calls, phone)) == 1
    assert _texts(calls, phone) == []

    monkeypatch.setenv("DATABASE_URL", db_url)
    _resident_writes(fake.url, phone, "ok", 1)
    texts = _texts(fake.settle(at_least=3, quiet=0.5), phone)
    assert texts[:2] == ["First: we have your report.", "Second: the crew comes on Friday."]
    assert texts.count("First: we have your report.") == 1 and texts.count("Second: the crew comes on Friday.") == 1
    assert len(_templates(fake.calls, phone)) == 1


def test_two_replicas_and_a_crash_between_release_and_send_still_send_the_reply_exactly_once(
    console: tuple[str, str], fake: FakePlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, db_url = console
    phone = "447700900303"
    agent, reference = _claimed_case(base, db_url, phone, hours_ago=40)
    words = "Your new bin is ordered."
    assert "Reply held" in _reply(agent, reference, words)
    fake.settle(at_least=1, quiet=0.5)

    # Replica 1 records the resident's answer (releasing the reply) and stops before sending anything.
    monkeypatch.setenv("DATABASE_URL", db_url)
    _resident_writes(fake.url, phone, "hello?", 1, replica="rasa-1:5005", send=False)
    assert _texts(fake.calls, phone) == []

    # Two replicas' sweeps find it at the same moment: one sends it.
    async def sweeps() -> None:
        one, two = _dispatcher(fake.url, "rasa-2:5005"), _dispatcher(fake.url, "rasa-3:5005")
        await asyncio.gather(one.sweep(), two.sweep())
        await asyncio.gather(one.idle(), two.idle())
        await asyncio.gather(one.sweep(), two.sweep())  # and again: nothing left to send
        await asyncio.gather(one.idle(), two.idle())

    asyncio.run(asyncio.wait_for(sweeps(), timeout=30))
    texts = _texts(fake.settle(at_least=2, quiet=0.5), phone)
    assert texts.count(words) == 1
    assert texts[0] == words


@pytest.mark.parametrize("code, reason", [(132001, "no approved template by that name"), (131047, "re-engagement")])
def test_a_refused_template_shows_on_the_case_and_the_reply_is_kept_not_sent(
    console: tuple[str, str], fake: FakePlatform, monkeypatch: pytest.MonkeyPatch, code: int, reason: str
) -> None:
    base, db_url = console
    phone = f"4477009004{code % 100:02d}"
    agent, reference = _claimed_case(base, db_url, phone, hours_ago=30)
    fake.refuse_templates(code)
    words = "We need to check your address."

    notice = _reply(agent, reference, words)

    assert "could not be delivered" in notice
    page = _case_page(agent, reference)
    assert "WhatsApp refused the invitation template" in page and reason in page and str(code) in page
    assert words in page  # kept on the case, in staff's words
    assert "(failed)" in page
    [staff] = [m for m in _staff_lines(db_url, reference) if m.author == "staff"]
    assert staff.delivery == "failed"
    rows = _outbound(db_url, f"whatsapp:{phone}")
    assert [(r.kind, r.status) for r in rows] == [("template", "failed"), ("message", "failed")]
    assert "invitation template refused" in (rows[1].error or "") and rows[1].error_code == str(code)

    # The resident writes anyway: the refused reply is not sent behind staff's backs.
    monkeypatch.setenv("DATABASE_URL", db_url)
    _resident_writes(fake.url, phone, "hello", 1)
    assert words not in _texts(fake.settle(quiet=0.5), phone)

    # Once the template is fixed, staff's next reply past 24 hours invites again.
    with session_scope(db_url) as session:
        conv = session.get(Conversation, f"whatsapp:{phone}")
        conv.last_inbound_at = utcnow() - dt.timedelta(hours=30)
    fake.refuse_templates(None)
    assert "Reply held" in _reply(agent, reference, words)
    assert len(_templates(fake.settle(quiet=0.5), phone)) == 1


def test_a_platform_error_then_refusal_on_retry_still_fails_the_held_reply(
    console: tuple[str, str], fake: FakePlatform
) -> None:
    """A 500 leaves the template for a retry (the reply still held); the retry refused fails the reply."""
    base, db_url = console
    phone = "447700900305"
    agent, reference = _claimed_case(base, db_url, phone, hours_ago=30)
    fake.fail_next(500, times=2)  # both of the client's quick tries
    assert "Reply held" in _reply(agent, reference, "Checking now.")
    assert [r.status for r in _outbound(db_url, f"whatsapp:{phone}")] == ["pending", "awaiting_resident"]

    fake.refuse_templates(132001)

    async def retry() -> None:
        dispatcher = _dispatcher(fake.url, "rasa-1:5005")
        with session_scope(db_url) as session:  # the retry is due now, not in a few seconds
            for row in session.execute(select(OutboundMessage).where(OutboundMessage.status == "pending")).scalars():
                row.next_attempt_at = None
        await dispatcher.sweep()
        await dispatcher.idle()

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", db_url)
        asyncio.run(asyncio.wait_for(retry(), timeout=30))
    assert [r.status for r in _outbound(db_url, f"whatsapp:{phone}")] == ["failed", "failed"]
    assert "WhatsApp refused the invitation template" in _case_page(agent, reference)


def test_past_24_hours_with_no_template_configured_the_reply_is_outside_the_window_with_the_reason(
    console_without_template: tuple[str, str], fake: FakePlatform
) -> None:
    base, db_url = console_without_template
    phone = "447700900306"
    agent, reference = _claimed_case(base, db_url, phone, hours_ago=30)

    notice = _reply(agent, reference, "Sorry for the wait.")

    assert (
        "WhatsApp allows only an approved template after 24 hours; none is configured: WHATSAPP_REPLY_TEMPLATE"
        in notice
    )
    assert fake.settle(quiet=0.5) == []
    assert [(r.kind, r.status) for r in _outbound(db_url, f"whatsapp:{phone}")] == [("message", "outside_window")]


def test_at_hour_2_a_staff_reply_is_a_plain_message_and_no_template(
    console: tuple[str, str], fake: FakePlatform
) -> None:
    base, db_url = console
    phone = "447700900307"
    agent, reference = _claimed_case(base, db_url, phone, hours_ago=2)

    assert "Reply sent." in _reply(agent, reference, "We have booked the crew.")

    [call] = fake.settle(at_least=1, quiet=0.5)
    assert call.body["type"] == "text" and call.body["text"]["body"] == "We have booked the crew."
    assert call.body["to"] == phone


def test_the_bots_own_message_past_24_hours_never_uses_the_template(
    console: tuple[str, str], fake: FakePlatform
) -> None:
    """Resolving the case sends the bot's satisfaction question: past 24 hours it is not sent, and no
    template goes in its place (the template is for a person's reply)."""
    base, db_url = console
    phone = "447700900308"
    agent, reference = _claimed_case(base, db_url, phone, hours_ago=30)
    page = agent.get(f"/cases/{reference}").text
    resp = agent.post(
        f"/cases/{reference}/resolve", data={"csrf_token": csrf_in(page), "outcome": "answered", "outcome_note": ""}
    )
    assert resp.status_code == 303

    assert fake.settle(quiet=0.5) == []
    assert [(r.kind, r.status) for r in _outbound(db_url, f"whatsapp:{phone}")] == [("message", "outside_window")]
