"""JSON from outside, parsed so odd input is a plain refusal (UnsafeJson, a ValueError) and never a crash."""

from __future__ import annotations

import json

import pytest

from bot.channels.jsonsafe import MAX_DEPTH, UnsafeJson, loads


@pytest.mark.parametrize(
    "raw,why",
    [
        (b"[" * 100_000, "nested"),
        (b'{"a":' * 100_000, "nested"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested"),
        (b'{"message": "\\ud800"}', "not allowed"),
        (b'{"\\udfff": 1}', "not allowed"),
        (b'["a\\u0000b"]', "not allowed"),
        (b"\xff\xfe", "UTF-8"),
        (b"{not json", "not valid JSON"),
        (b"1" * 5000, "not valid JSON"),
    ],
)
def test_refused_with_a_reason(raw: bytes, why: str) -> None:
    with pytest.raises(UnsafeJson, match=why):
        loads(raw)


def test_ordinary_json_is_unchanged() -> None:
    value = {"sender": "me", "message": 'pothole \U0001f600 "[{', "n": [1, 2.5, None, True, {"deep": [[[]]]}]}
    raw = json.dumps(value).encode()
    assert loads(raw) == value
    assert loads(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None  # exactly at the limit is fine
    # brackets inside strings are not nesting
    assert loads(json.dumps(["[" * 100, "\\" + "{" * 100]).encode()) == ["[" * 100, "\\" + "{" * 100]
    assert loads(b'["\\\\ud800"]') == ["\\ud800"]  # an escaped backslash, not a surrogate


def test_repair_replaces_lone_surrogates_and_drops_nul() -> None:
    raw = b'{"text": "hi \\ud800 there\\u0000", "k\\udfff": ["\\ud83d\\ude00", "\\ud83d"]}'
    assert loads(raw, repair_text=True) == {"text": "hi \ufffd there", "k\ufffd": ["\U0001f600", "\ufffd"]}
