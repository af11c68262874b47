"""Reply by email when the mail server's answer is late or a refusal (review of issue 12, finding 4).

A server that has the whole message and answers the end of DATA after our timeout may well deliver it:
the reply is "unknown" and staff are told it may have arrived, to check before resending (never "failed",
which invites a second copy). A server that refuses the recipient, or says no to the message, has not
got it: "failed", with its answer. Real SMTP on loopback (aiosmtpd) and the console as its own process,
as tests/bot/test_console_contact_back.py."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.bot.console_helpers import seeded_console, shown
from tests.bot.test_console_contact_back import _mail_env, claimed, email_form, open_case, staff_lines
from tests.conftest import free_port


class SlowToAnswer:
    """Keeps the message, then answers 250 only after the client's timeout has passed."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        await asyncio.sleep(2.5)
        return "250 Message accepted for delivery"


class Refusing:
    """Refuses one recipient before DATA and says no to every message it does get."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_RCPT(  # noqa: N802, PLR0913 - aiosmtpd's name and signature
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(envelope.content)
        return "554 5.7.1 Message refused as spam"


def _serve(handler: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def slow_smtp() -> Iterator[tuple[SlowToAnswer, int]]:
    handler = SlowToAnswer()
    for port in _serve(handler):
        yield handler, port


@pytest.fixture(scope="module")
def refusing_smtp() -> Iterator[tuple[Refusing, int]]:
    handler = Refusing()
    for port in _serve(handler):
        yield handler, port


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, slow_smtp: tuple[SlowToAnswer, int]) -> Iterator[tuple[str, str]]:
    env = {**_mail_env(slow_smtp[1]), "SMTP_TIMEOUT_SECONDS": "1"}
    with seeded_console(tmp_path_factory, "review_slow_mail", env=env) as (base, db_url):
        yield base, db_url


@pytest.fixture(scope="module")
def console_refusing(
    tmp_path_factory: pytest.TempPathFactory, refusing_smtp: tuple[Refusing, int]
) -> Iterator[tuple[str, str]]:
    with seeded_console(tmp_path_factory, "refusing_mail", env=_mail_env(refusing_smtp[1])) as (base, db_url):
        yield base, db_url


def test_a_reply_the_server_took_but_answered_late_is_not_called_failed(
    console: tuple[str, str], slow_smtp: tuple[SlowToAnswer, int]
) -> None:
    base, db = console
    handler, _ = slow_smtp
    ref = open_case(db, "web:slowmail", "webchat", email_left="jane.doe@example.com")
    owner = claimed(base, ref)
    sent = owner.post(f"/cases/{ref}/email", data=email_form(owner, ref))
    assert sent.status_code == 303
    assert len(handler.messages) == 1  # the mail server has the reply: the resident will get it
    [(_, delivery, meta)] = staff_lines(db, ref)
    notice = sent.headers["location"].replace("+", " ")
    page = shown(owner.get(f"/cases/{ref}"))
    assert delivery != "failed" and "could not be sent" not in notice, (
        f"staff are told the email failed ({delivery!r}; page: {'Not delivered' in page}) and will send it again"
    )
    assert delivery == "unknown" and meta["via"] == "email"
    assert "may have arrived" in notice and "Check with the resident before resending" in notice
    assert "By email: may have arrived" in page and "Check with the resident before resending" in page
    assert "Not delivered" not in page
    assert "did not confirm it" in meta["error"]


def test_a_refused_address_is_failed_with_the_servers_answer(
    console_refusing: tuple[str, str], refusing_smtp: tuple[Refusing, int]
) -> None:
    base, db = console_refusing
    handler, _ = refusing_smtp
    ref = open_case(db, "web:nobody", "webchat", email_left="nobody@example.com")
    owner = claimed(base, ref)
    sent = owner.post(f"/cases/{ref}/email", data=email_form(owner, ref))
    assert sent.status_code == 303 and "could not be sent" in sent.headers["location"].replace("+", " ")
    assert handler.messages == []  # refused before DATA: the server never had it
    [(_, delivery, meta)] = staff_lines(db, ref)
    assert delivery == "failed" and "refused the address: 550 5.1.1 No such mailbox" in meta["error"]
    page = shown(owner.get(f"/cases/{ref}"))
    assert "(by email: failed)" in page and "Not delivered: The mail server refused the address" in page
    assert "may have arrived" not in page


def test_a_message_the_server_says_no_to_is_failed_not_unknown(
    console_refusing: tuple[str, str], refusing_smtp: tuple[Refusing, int]
) -> None:
    base, db = console_refusing
    handler, _ = refusing_smtp
    ref = open_case(db, "web:spam", "webchat", email_left="jane.doe@example.com")
    owner = claimed(base, ref)
    before = len(handler.messages)
    sent = owner.post(f"/cases/{ref}/email", data=email_form(owner, ref))
    assert "could not be sent" in sent.headers["location"].replace("+", " ")
    assert len(handler.messages) == before + 1  # it went, and the server answered no: a definite refusal
    [(_, delivery, meta)] = staff_lines(db, ref)
    assert delivery == "failed" and "554 5.7.1 Message refused as spam" in meta["error"]
