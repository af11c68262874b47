"""Proof that a webhook came from the platform: HMAC-SHA256 over the raw request body.

Always over the bytes as received: re-serialising the parsed JSON changes spacing and escapes, so a
signature over it proves nothing. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Optional


def _hmac(secret: str, data: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha256).digest()


def meta_signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` header Meta sends: `sha256=` and the hex HMAC of the body."""
    return "sha256=" + _hmac(secret, body).hex()


def x_signature(secret: str, body: bytes) -> str:
    """The `X-Twitter-Webhooks-Signature` header X sends: `sha256=` and the base64 HMAC of the body."""
    return "sha256=" + base64.b64encode(_hmac(secret, body)).decode("ascii")


def x_crc_response(secret: str, crc_token: str) -> str:
    """The `response_token` X expects back from a CRC check (same form as a body signature)."""
    return x_signature(secret, crc_token.encode("utf-8"))


def valid(expected: str, received: Optional[str]) -> bool:
    """Constant-time check of a received signature header against the expected one."""
    if not received:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), received.strip().encode("utf-8", "replace"))
