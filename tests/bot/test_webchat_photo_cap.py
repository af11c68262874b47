"""Review of issue 12 (web chat photos): nothing caps how many photos one conversation (or the server) keeps.
The rate limits are per minute (20 a conversation, 60 an address), so over a day one address can keep
86,400 photos of up to 10 MB each (~6.7 MB stored for a noisy 1800x1800 PNG) under var/uploads, on the disk
that by default also holds the SQLite knowledge base and tracker. Before the fix: with the per-minute limits
switched off here to stand for time passing, 200 photos into one conversation are all kept."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.bot.test_webchat_memory import _own_var_dir, files, send_photo, start  # noqa: F401 - fixture

CAP_AT_MOST = 100  # any per-conversation cap would do; none exists


def test_one_conversation_cannot_keep_photos_without_end(
    kb_url: str,
    _own_var_dir: Path,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("RATE_LIMIT_PER_SENDER_PER_MINUTE", "RATE_LIMIT_PER_ADDRESS_PER_MINUTE"):
        monkeypatch.setenv(name, "0")  # as if the uploads were spread over hours
    token = start("resident-flood-000001")
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(out, "PNG")
    kept = sum(send_photo("resident-flood-000001", out.getvalue(), token)[0] == 200 for _ in range(200))
    assert kept <= CAP_AT_MOST and len(files(_own_var_dir)) <= CAP_AT_MOST, f"{kept} photos kept for one conversation"
