"""Review of issue 12 (reply by email): a mail server that takes the message but answers the end of DATA
slowly. The reply is marked "failed" ("could not be sent") although the server has it, so staff send it
again and the resident gets it twice. FAILS on main as merged: the outcome should be "unknown" (as the
platform queue does for a send with no answer), never "failed".

Real SMTP on loopback (aiosmtpd) and the console as its own process, as tests/bot/test_console_contact_back.py."""

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


@pytest.fixture(scope="module")
def slow_smtp() -> Iterator[tuple[SlowToAnswer, int]]:
    handler, port = SlowToAnswer(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, slow_smtp: tuple[SlowToAnswer, int]) -> Iterator[tuple[str, str]]:
    env = {**_mail_env(slow_smtp[1]), "SMTP_TIMEOUT_SECONDS": "1"}
    with seeded_console(tmp_path_factory, "review_slow_mail", env=env) as (base, db_url):
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
    [(_, delivery, _)] = staff_lines(db, ref)
    notice = sent.headers["location"].replace("+", " ")
    page = shown(owner.get(f"/cases/{ref}"))
    assert delivery != "failed" and "could not be sent" not in notice, (
        f"staff are told the email failed ({delivery!r}; page: {'Not delivered' in page}) and will send it again"
    )
