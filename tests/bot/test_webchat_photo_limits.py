"""What a web chat photo may cost: how many a conversation and the service keep, the disk space left, what
is checked before the upload is even read, how large a kept photo is, and that a photo erased while it
was being kept leaves no file behind. The handler is called as the route calls it (see
tests/bot/test_webchat_memory.py); the attacker review's own tests are test_webchat_photo_cap.py,
test_webchat_photo_cost.py, test_webchat_history_cost.py and test_webchat_shared_screen.py beside it."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import event
from sqlalchemy.orm import Session

from bot.channels.webchat import SENDER_PREFIX
from knowledge.delivery import uploads
from knowledge.personal_data.erasure import erase
from knowledge.personal_data.subjects import parse_identifier
from tests.bot.test_webchat_memory import _own_var_dir, files, send_photo, start, stored  # noqa: F401 - fixture


def small_png(colour: tuple[int, int, int] = (1, 2, 3)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(out, "PNG")
    return out.getvalue()


def test_a_conversation_keeps_only_its_cap_and_the_next_photo_is_refused_unread(
    kb_url: str,
    _own_var_dir: Path,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBCHAT_PHOTOS_PER_CONVERSATION", "3")
    token = start("resident-capped-00001")
    assert [send_photo("resident-capped-00001", small_png(), token)[0] for _ in range(3)] == [200, 200, 200]
    reads: list[int] = []
    status, replies, _ = send_photo("resident-capped-00001", small_png(), token, reads)
    assert status == 429 and "can't keep any more photos" in replies[0]["text"]
    assert reads == [0]  # only drained so the browser sees the answer, never kept or decoded
    assert len(stored(kb_url)) == 3 and len(files(_own_var_dir)) == 3
    # Another conversation is not affected by this one's cap.
    other = start("resident-capped-00002")
    assert send_photo("resident-capped-00002", small_png(), other)[0] == 200


def test_the_service_keeps_only_its_daily_cap_across_conversations(
    kb_url: str,
    _own_var_dir: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBCHAT_PHOTOS_PER_DAY", "2")
    statuses = []
    for n in range(4):
        sender = f"resident-daily-0000{n}"
        statuses.append(send_photo(sender, small_png(), start(sender))[0])
    assert statuses == [200, 200, 429, 429]
    assert len(stored(kb_url)) == 2 and len(files(_own_var_dir)) == 2


def test_photos_are_refused_with_a_reason_when_the_disk_is_nearly_full(
    kb_url: str,
    _own_var_dir: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WEBCHAT_UPLOADS_MIN_FREE_BYTES", str(10**18))  # more than any disk has free
    token = start("resident-diskfull-001")
    reads: list[int] = []
    status, replies, _ = send_photo("resident-diskfull-001", small_png(), token, reads)
    assert status == 507 and "can't take photos just now" in replies[0]["text"]
    assert reads == [0] and stored(kb_url) == [] and files(_own_var_dir) == []


def test_photos_go_to_the_uploads_folder_the_setting_names(
    kb_url: str,
    _own_var_dir: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    volume = tmp_path / "photo-volume"
    monkeypatch.setenv("WEBCHAT_UPLOADS_DIR", str(volume))
    token = start("resident-volume-0001")
    assert send_photo("resident-volume-0001", small_png(), token)[0] == 200
    [row] = stored(kb_url)
    [kept] = list(volume.iterdir())
    assert uploads.path_of(row.media_id) == kept and files(_own_var_dir) == []


def test_someone_elses_conversation_or_a_flood_never_gets_the_body_read(
    kb_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start("resident-victim-00009")
    reads: list[int] = []
    assert send_photo("resident-victim-00009", small_png(), "forged-" * 5, reads)[0] == 403
    assert reads == []
    monkeypatch.setenv("RATE_LIMIT_PER_SENDER_PER_MINUTE", "1")
    token = start("resident-flood-000009")  # the first message uses this minute's one
    assert send_photo("resident-flood-000009", small_png(), token, reads)[0] == 429
    assert reads == []


def test_a_large_photo_is_kept_scaled_down_to_the_longest_side_allowed() -> None:
    out = io.BytesIO()
    Image.new("RGB", (6000, 3000), (10, 120, 200)).save(out, "JPEG", quality=80)
    clean = uploads.clean_photo(out.getvalue(), 10 * 1024 * 1024)
    assert (clean.width, clean.height) == (uploads.MAX_SIDE, uploads.MAX_SIDE // 2)
    with Image.open(io.BytesIO(clean.data)) as kept:
        assert kept.size == (clean.width, clean.height) and kept.format == "JPEG"
        assert max(abs(a - b) for a, b in zip(kept.getpixel((100, 100)), (10, 120, 200), strict=True)) < 8


def test_a_photo_over_the_pixel_cap_is_refused_as_too_large() -> None:
    out = io.BytesIO()
    Image.new("L", (5000, 5000)).save(out, "PNG")  # 25 megapixels in a few kilobytes
    with pytest.raises(uploads.PhotoRefused) as refused:
        uploads.clean_photo(out.getvalue(), 10 * 1024 * 1024)
    assert refused.value.reason == "too_large"


@pytest.fixture
def erased_on_commit(kb_url: str, tmp_path: Path) -> Iterator[tuple[list[str], Callable[[Session], None]]]:
    """Erase a resident's data the moment the first commit that holds their photo's row ends, as an erasure
    run by staff at that instant would: before the photo's file has been published. Appends the erased
    conversation ids to the list it yields, with the listener to attach."""
    erased: list[str] = []
    busy: list[bool] = []  # the look and the erasure commit sessions of their own: not looked at again
    tracker_url = f"sqlite:///{tmp_path / 'tracker.db'}"

    def after_commit(session: Session) -> None:
        if erased or busy:
            return
        busy.append(True)
        try:
            rows = stored(kb_url)
            if rows:
                erased.append(rows[0].conversation_id)
                erase(parse_identifier(rows[0].conversation_id), kb_url, tracker_url, "test")
        finally:
            busy.clear()

    try:
        yield erased, after_commit  # the test starts listening once its conversation exists
    finally:
        if event.contains(Session, "after_commit", after_commit):
            event.remove(Session, "after_commit", after_commit)


def test_a_photo_erased_while_it_is_being_kept_leaves_no_file(
    kb_url: str,
    _own_var_dir: Path,  # noqa: F811
    erased_on_commit: tuple[list[str], Callable[[Session], None]],
) -> None:
    token = start("resident-erasing-0001")
    event.listen(Session, "after_commit", erased_on_commit[1])
    status: Any = send_photo("resident-erasing-0001", small_png(), token)[0]
    assert erased_on_commit[0] == [SENDER_PREFIX + "resident-erasing-0001"]  # the erasure did run in between
    assert status == 200
    assert stored(kb_url) == [] and files(_own_var_dir) == []
