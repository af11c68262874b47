"""Sending one plain-text email through the council's mail server (SMTP_* settings).

Used for staff replies to residents who left an email address for their case. Blocking (smtplib): call it
in a thread from async code. Nothing here logs the address, the subject or the text.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from knowledge.settings import Settings, settings


class MailError(Exception):
    """The mail server could not be reached or refused the message; the text says what it answered."""


class MailOff(MailError):
    """No mail server is configured (SMTP_HOST or SMTP_FROM empty)."""


class MailUnknown(MailError):
    """The whole message reached the mail server but it never answered (timed out, or the connection
    dropped), so it may have been accepted: the reply may have arrived and must not be sent again blindly."""


class _WatchedSMTP(smtplib.SMTP):
    """smtplib's client, noting when the whole message has gone to the server.

    Before that moment any failure means the server cannot have the message (RFC 5321: a transaction the
    client did not end with "." is discarded), so it is safe to call it failed. After it, only the
    server's own answer tells us; no answer is "unknown", never "failed"."""

    go_ahead = False  # the server answered 354 to DATA: the next thing sent is the message itself
    handed_over = False  # the message and its closing "." were all written to the socket

    def getreply(self) -> tuple[int, bytes]:
        code, text = super().getreply()
        if code == 354:
            self.go_ahead = True
        return code, text

    def send(self, s: Any) -> None:  # Any: typeshed's Buffer | str, which 3.11's typing can't name
        super().send(s)
        if self.go_ahead:
            self.handed_over = True


def enabled(s: Settings | None = None) -> bool:
    """Can replies go by email at all (a mail server and a From address are set)?"""
    s = s or settings()
    return bool(s.smtp_host and s.smtp_from)


def send(to: str, subject: str, body: str, s: Settings | None = None) -> None:
    """Send `body` to `to` once. Raises MailOff, MailError (it did not go: the server's answer or why it
    could not be reached, for staff to read) or MailUnknown (it went, the server never confirmed it). One
    attempt only: a message the server may have accepted is never sent again blindly."""
    s = s or settings()
    if not enabled(s):
        raise MailOff("Replies by email are off: SMTP_HOST and SMTP_FROM are not set.")
    msg = EmailMessage()
    msg["From"] = s.smtp_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=(s.smtp_from or "").rpartition("@")[2].strip("> ") or None)
    msg.set_content(body)
    smtp = _WatchedSMTP(timeout=s.smtp_timeout_seconds)
    try:
        code, greeting = smtp.connect(s.smtp_host or "", s.smtp_port)
        if code != 220:  # as smtplib.SMTP(host) does: a server that greets with a refusal takes nothing
            raise smtplib.SMTPConnectError(code, greeting)
        if s.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if s.smtp_username:
            smtp.login(s.smtp_username, s.smtp_password or "")
        smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        answers = "; ".join(_words(code, text) for code, text in exc.recipients.values())
        raise MailError(f"The mail server refused the address: {answers}") from None
    except smtplib.SMTPResponseException as exc:
        # A definite answer, even after the message went (a 5xx to the closing "."): the server said no.
        raise MailError(f"The mail server answered {_words(exc.smtp_code, exc.smtp_error)}") from None
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        # OSError: refused, unreachable, timed out; ValueError: a header that can't be encoded.
        if smtp.handed_over:
            raise MailUnknown(
                f"The mail server received the email but did not confirm it: {exc or type(exc).__name__}"
            ) from None
        raise MailError(f"Could not reach the mail server: {exc or type(exc).__name__}") from None
    finally:
        _quit(smtp)


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye and close. The outcome is already decided by the answer to the message: a server
    that has accepted it and then stumbles over QUIT has still accepted it."""
    try:
        if smtp.sock is not None:
            smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()


def _words(code: int, text: bytes | str) -> str:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {said}".strip()
