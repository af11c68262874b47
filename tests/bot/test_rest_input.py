"""The REST webhook's input checks (the HTTP behaviour itself is covered end to end)."""

from __future__ import annotations

import json

import pytest

from bot.channels.rest import MAX_MESSAGE_CHARS, BadRequest, parse_request


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_accepts_a_normal_message() -> None:
    assert parse_request(body({"sender": "messenger:123", "message": "pothole 🙂"})) == (
        "messenger:123",
        "pothole 🙂",
        None,
    )


def test_numeric_sender_is_accepted_as_text() -> None:
    assert parse_request(body({"sender": 42, "message": "hi"}))[0] == "42"


@pytest.mark.parametrize(
    "raw,problem",
    [
        (b"\xff\xfe{", "not valid UTF-8"),
        (b'{"sender": "a", "message": "hi"', "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (body({"message": "hi"}), "'sender'"),
        (body({"sender": "", "message": "hi"}), "'sender'"),
        (body({"sender": "a b<script>", "message": "hi"}), "'sender'"),
        (body({"sender": "a"}), "'message' must be a string"),
        (body({"sender": "a", "message": ["hi"]}), "'message' must be a string"),
        (body({"sender": "a", "message": "x" * (MAX_MESSAGE_CHARS + 1)}), "longer than"),
        (body({"sender": "a", "message": "hi", "metadata": "x"}), "'metadata'"),
        (b"x" * (200 * 1024), "larger than"),
    ],
)
def test_rejects_bad_input_with_a_clear_reason(raw: bytes, problem: str) -> None:
    with pytest.raises(BadRequest, match=problem):
        parse_request(raw)
