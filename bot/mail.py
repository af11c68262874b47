"""Sending one plain-text email through the council's mail server (SMTP_* settings).

Used for staff replies to residents who left an email address for their case. Blocking (smtplib): call it
in a thread from async code. Nothing here logs the address, the subject or the text.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from knowledge.settings import Settings, settings


class MailError(Exception):
    """The mail server could not be reached or refused the message; the text says what it answered."""


class MailOff(MailError):
    """No mail server is configured (SMTP_HOST or SMTP_FROM empty)."""


def enabled(s: Settings | None = None) -> bool:
    """Can replies go by email at all (a mail server and a From address are set)?"""
    s = s or settings()
    return bool(s.smtp_host and s.smtp_from)


def send(to: str, subject: str, body: str, s: Settings | None = None) -> None:
    """Send `body` to `to` once. Raises MailOff or MailError (with the server's answer, for staff to read).
    One attempt only: a message the server may have accepted is never sent again blindly."""
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
    try:
        with smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.smtp_timeout_seconds) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password or "")
            smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        answers = "; ".join(_words(code, text) for code, text in exc.recipients.values())
        raise MailError(f"The mail server refused the address: {answers}") from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"The mail server answered {_words(exc.smtp_code, exc.smtp_error)}") from None
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        # OSError: refused, unreachable, timed out; ValueError: a header that can't be encoded.
        raise MailError(f"Could not reach the mail server: {exc or type(exc).__name__}") from None


def _words(code: int, text: bytes | str) -> str:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {said}".strip()
