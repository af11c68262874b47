"""Webhook signatures: a forged or altered body must never be taken for Meta's or X's.

The expected values are the published HMAC-SHA256 test vector (key "key", the quick brown fox), not values
computed by the code under test.
"""

from __future__ import annotations

import json

import pytest

from bot.channels.signatures import meta_signature, valid, x_crc_response, x_signature

KEY = "key"
FOX = b"The quick brown fox jumps over the lazy dog"
FOX_HEX = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
FOX_B64 = "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="


def test_meta_signature_is_sha256_hex_of_the_body() -> None:
    assert meta_signature(KEY, FOX) == "sha256=" + FOX_HEX


def test_x_signature_is_sha256_base64_of_the_body() -> None:
    assert x_signature(KEY, FOX) == "sha256=" + FOX_B64


def test_x_crc_response_signs_the_token() -> None:
    assert x_crc_response(KEY, FOX.decode()) == "sha256=" + FOX_B64


def test_x_crc_response_depends_on_the_secret() -> None:
    assert x_crc_response("other-secret", FOX.decode()) != "sha256=" + FOX_B64


def test_signature_depends_on_secret_and_body() -> None:
    assert meta_signature("key2", FOX) != "sha256=" + FOX_HEX
    assert meta_signature(KEY, FOX + b".") != "sha256=" + FOX_HEX


@pytest.mark.parametrize(
    "received",
    [
        None,
        "",
        "sha256=" + "0" * 64,  # wrong
        "sha256=" + FOX_HEX[:-1],  # truncated
        "sha256=" + FOX_HEX[:32],  # half
        "sha256=",  # prefix only
        FOX_HEX,  # no prefix
        "SHA256=" + FOX_HEX,  # different-case prefix
        "sha1=" + FOX_HEX,  # other algorithm's prefix
        "sha256=" + FOX_HEX + "00",  # extended
        "sha256=" + FOX_B64,  # X's form where Meta's is expected
    ],
)
def test_valid_rejects_anything_but_the_exact_signature(received: object) -> None:
    assert valid("sha256=" + FOX_HEX, received) is False  # type: ignore[arg-type]


def test_valid_accepts_the_right_signature() -> None:
    assert valid("sha256=" + FOX_HEX, "sha256=" + FOX_HEX) is True
    assert valid("sha256=" + FOX_B64, "sha256=" + FOX_B64) is True


def test_valid_rejects_non_ascii_garbage_without_raising() -> None:
    assert valid("sha256=" + FOX_HEX, "sha256=é" + FOX_HEX[1:]) is False


def test_signature_over_a_reserialised_body_does_not_match() -> None:
    """Meta sends compact JSON with non-ASCII escaped; parsing and re-dumping changes the bytes."""
    raw = b'{"object":"page","entry":[{"id":"1","messaging":[{"message":{"text":"caf\\u00e9 \\/ bins"}}]}]}'
    header = meta_signature("app-secret", raw)
    reserialised = json.dumps(json.loads(raw)).encode("utf-8")
    assert reserialised != raw
    assert not valid(meta_signature("app-secret", reserialised), header)
    assert valid(meta_signature("app-secret", raw), header)
