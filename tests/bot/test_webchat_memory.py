"""The web chat's memory without a Rasa server: its history for the owner only, staff replies signed as
from a person, photos checked, cleaned, kept and erased, and the console showing them to staff only.

Responses are built by the functions the routes call (sanic-testing isn't installed); the routes and the
page in real Chromium are covered by tests/e2e/test_webchat_memory_browser.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest
from PIL import Image
from sqlalchemy import select

from bot.channels import webchat_memory
from bot.channels.webchat import SENDER_PREFIX
from knowledge.casework import cases
from knowledge.catalogue.content import load
from knowledge.db import session_scope
from knowledge.delivery import uploads
from knowledge.models import Attachment, CaseMessage, StaffUser
from knowledge.personal_data.erasure import PHOTO_FILES, erase
from knowledge.personal_data.retention import Periods, apply
from knowledge.personal_data.subjects import parse_identifier
from knowledge.settings import CONTENT_DIR, SettingError, settings
from knowledge.staff import AGENT, create_user
from tests.bot.console_helpers import PASSWORD, client, make_db, running_console, signed_in
from tests.bot.test_webchat_page import Recorder, post_full

GPS_IFD = 0x8825


@pytest.fixture(autouse=True)
def _own_var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Uploaded photos go under this test's own var dir."""
    var = tmp_path / "var"
    monkeypatch.setenv("COUNCILBOT_VAR_DIR", str(var))
    return var


def start(sender: str, text: str = "pothole") -> str:
    """Start a web chat conversation as the page does; returns its owner token."""
    status, _, headers = post_full(
        Recorder(({"text": "Report it at https://example.org/pothole"},)),
        {
            "sender": sender,
            "message": text,
        },
    )
    assert status == 200
    return headers["X-Conversation-Token"]


def events_for(*pairs: tuple[str, str, float, Optional[list[dict]]]) -> webchat_memory.EventsLookup:
    """A tracker store holding these (kind, text, timestamp, buttons) events for any conversation."""
    events = [
        {"event": kind, "text": text, "timestamp": at, **({"data": {"buttons": buttons}} if buttons else {})}
        for kind, text, at, buttons in pairs
    ]

    async def lookup(_conversation_id: str) -> Optional[list[dict[str, Any]]]:
        return list(events)

    return lookup


def history(sender: str, token: Optional[str], events: webchat_memory.EventsLookup) -> tuple[int, Any]:
    resp = asyncio.run(webchat_memory.history_response(sender, token, events))
    return resp.status, json.loads(resp.body)


def epoch(when: dt.datetime) -> float:
    return when.replace(tzinfo=dt.UTC).timestamp()


def hand_over_with_staff_reply(kb_url: str, conversation_id: str, opened: dt.datetime, reply: str) -> str:
    """Open a case (as the bot does at handover), then Casey claims it and replies. Returns its reference."""
    with session_scope(kb_url) as session:
        case, _ = cases.open_case(session, conversation_id, "webchat", "asked", [], now=opened)
        cases.add_bot_message(session, case, f"Your reference is {case.reference}.", opened)
        casey = session.execute(select(StaffUser).where(StaffUser.username == "casey")).scalar_one_or_none()
        if casey is None:
            casey = create_user(session, "casey", "Casey Jones", AGENT, PASSWORD)
        cases.claim(session, case.id, casey, opened + dt.timedelta(minutes=1))
        msg, _ = cases.add_staff_reply(session, case.id, casey, reply, "nonce-1", opened + dt.timedelta(minutes=2))
        msg.delivery = "queued"
        return case.reference


# --- History ------------------------------------------------------------------------------------------------


def test_owner_sees_the_whole_conversation_in_order_with_staff_signed(kb_url: str) -> None:
    token = start("resident-history-0001")
    opened = dt.datetime(2026, 11, 30, 10, 0, 5)
    reference = hand_over_with_staff_reply(kb_url, SENDER_PREFIX + "resident-history-0001", opened, "Hi, I'm Casey.")
    tracker = events_for(
        ("user", "pothole", epoch(opened) - 60, None),
        ("bot", "Report it here", epoch(opened) - 59, [{"title": "Bins", "payload": "/svc_bins"}]),
        ("user", "/svc_bins", epoch(opened) - 30, None),  # the resident chose the button
        ("user", "a person please", epoch(opened) - 1, None),
        ("bot", f"Your reference is {reference}.", epoch(opened), None),
    )
    status, body = history("resident-history-0001", token, tracker)
    assert status == 200
    said = [(m["from"], m["text"], m.get("label")) for m in body["messages"]]
    assert said == [
        ("resident", "pothole", None),
        ("bot", "Report it here", None),
        ("resident", "Bins", None),  # shown as the button's title, as the page showed it
        ("resident", "a person please", None),
        ("bot", f"Your reference is {reference}.", None),  # once, though both stores hold it
        ("staff", "Hi, I'm Casey.", "Casey (Customer Services)"),
    ]
    assert not any("buttons" in m for m in body["messages"])  # the choice was made: no stale buttons
    with session_scope(kb_url) as session:
        staff_line = session.execute(select(CaseMessage).where(CaseMessage.author == "staff")).scalar_one()
    assert body["after"] == staff_line.id  # the poll continues after it: shown once


def test_buttons_stay_only_on_the_last_bot_message(kb_url: str) -> None:
    token = start("resident-buttons-0001")
    tracker = events_for(
        ("bot", "Which one?", 1000.0, [{"title": "A", "payload": "/a"}]),
        ("user", "neither", 1001.0, None),
        ("bot", "Is it one of these?", 1002.0, [{"title": "Bins", "payload": "/svc_bins"}]),
    )
    status, body = history("resident-buttons-0001", token, tracker)
    assert status == 200
    assert [m.get("buttons") for m in body["messages"]] == [None, None, [{"title": "Bins", "payload": "/svc_bins"}]]


@pytest.mark.parametrize("who", ["no token", "forged token", "another conversation's token", "unknown id"])
def test_anyone_but_the_owner_is_refused_and_learns_nothing(kb_url: str, who: str) -> None:
    owner = start("resident-private-0001", "my address is 4 Elm Road")
    other = start("resident-other-0002")
    hand_over_with_staff_reply(kb_url, SENDER_PREFIX + "resident-private-0001", dt.datetime(2026, 11, 30, 9), "Hello")
    sender, token = {
        "no token": ("resident-private-0001", None),
        "forged token": ("resident-private-0001", owner[:-4] + "AAAA"),
        "another conversation's token": ("resident-private-0001", other),
        "unknown id": ("resident-nobody-0003", owner),
    }[who]
    tracker = events_for(("user", "my address is 4 Elm Road", 1000.0, None))
    status, body = history(sender, token, tracker)
    assert status == 403
    assert set(body) == {"error"} and "Elm Road" not in json.dumps(body) and "Hello" not in json.dumps(body)
    # The same refusal whether or not the id exists: nobody learns which ids are in use.
    assert body == history("resident-nobody-0003", None, tracker)[1]
    # Nor the staff replies.
    resp = asyncio.run(webchat_memory.updates_response(sender, "0", token))
    assert resp.status == 403 and "Hello" not in resp.body.decode()


def test_history_of_a_conversation_nobody_started_is_refused(kb_url: str) -> None:
    assert history("never-started-000001", "x" * 43, events_for())[0] == 403


# --- Staff replies signed ----------------------------------------------------------------------------------


def test_staff_replies_are_signed_with_first_name_and_team_by_default(kb_url: str) -> None:
    token = start("resident-signed-0001")
    hand_over_with_staff_reply(kb_url, SENDER_PREFIX + "resident-signed-0001", dt.datetime(2026, 11, 30, 9), "Hi")
    resp = asyncio.run(webchat_memory.updates_response("resident-signed-0001", "0", token))
    shown = json.loads(resp.body)
    assert [(m["from"], m["text"], m.get("label")) for m in shown] == [("staff", "Hi", "Casey (Customer Services)")]


def test_staff_replies_can_be_signed_by_the_team_alone(kb_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBCHAT_STAFF_NAME", "team")
    monkeypatch.setenv("WEBCHAT_TEAM_NAME", "Northshire Contact Centre")
    token = start("resident-team-00001")
    hand_over_with_staff_reply(kb_url, SENDER_PREFIX + "resident-team-00001", dt.datetime(2026, 11, 30, 9), "Hi")
    resp = asyncio.run(webchat_memory.updates_response("resident-team-00001", "0", token))
    assert [m.get("label") for m in json.loads(resp.body)] == ["Northshire Contact Centre"]
    assert "Casey" not in resp.body.decode()


def test_an_unknown_staff_name_style_stops_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBCHAT_STAFF_NAME", "surname")
    with pytest.raises(SettingError, match="WEBCHAT_STAFF_NAME"):
        settings()


# --- Photos ---------------------------------------------------------------------------------------------------


def png_with_gps() -> bytes:
    """A small PNG whose EXIF says where it was taken (51.5N) and with what camera."""
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Ltd"  # Make
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)})
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "PNG", exif=exif)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(GPS_IFD)  # the test photo really has a position
    return data


def send_photo(
    sender: str, body: Optional[bytes], token: Optional[str], reads: Optional[list[int]] = None
) -> tuple[int, Any, dict]:
    """POST /photo with `body` (None: over the size limit, as the route's reader reports it). The limit of
    each read the handler made is appended to `reads`."""

    async def read(limit: int) -> Optional[bytes]:
        if reads is not None:
            reads.append(limit)
        return None if body is None or len(body) > limit else body

    resp = asyncio.run(webchat_memory.photo_response(read, sender, token))
    return resp.status, json.loads(resp.body), dict(resp.headers)


def stored(kb_url: str) -> list[Attachment]:
    with session_scope(kb_url) as session:
        return list(session.execute(select(Attachment).order_by(Attachment.id)).scalars())


def files(var: Path) -> list[Path]:
    folder = var / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_a_photo_is_kept_without_its_location_and_answered_like_a_platform_photo(
    kb_url: str, _own_var_dir: Path
) -> None:
    token = start("resident-photo-00001")
    status, replies, _ = send_photo("resident-photo-00001", png_with_gps(), token)
    assert status == 200
    assert "kept the photo" in replies[0]["text"]  # the bot's attachment note, as for Messenger
    [row] = stored(kb_url)
    assert (row.conversation_id, row.channel, row.kind, row.mime_type) == (
        SENDER_PREFIX + "resident-photo-00001",
        "webchat",
        "image",
        "image/png",
    )
    [path] = files(_own_var_dir)
    assert uploads.path_of(row.media_id) == path
    kept = path.read_bytes()
    assert b"SpyCam" not in kept and b"Exif" not in kept
    with Image.open(path) as image:
        assert not image.getexif() and "exif" not in image.info
        assert image.size == (40, 30) and image.getpixel((5, 5))[:3] == (200, 30, 30)
    # Never in the page's static folder, which is served.
    assert webchat_memory.__file__ and "static" not in str(path)
    status, body = history("resident-photo-00001", token, events_for())
    assert {"from": "resident", "text": "", "photo": True} in body["messages"]


def test_a_photo_too_large_is_refused_with_the_limit_and_nothing_kept(
    kb_url: str, _own_var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBCHAT_PHOTO_MAX_BYTES", "2048")
    token = start("resident-large-00001")
    big = io.BytesIO()
    Image.effect_noise((200, 200), 64).convert("RGB").save(big, "PNG")
    assert len(big.getvalue()) > 2048
    for body in (big.getvalue(), None):  # None: the route stopped reading it at the limit
        status, replies, _ = send_photo("resident-large-00001", body, token)
        assert status == 413
        assert "too large" in replies[0]["text"] and "2 KB" in replies[0]["text"]
    assert stored(kb_url) == [] and files(_own_var_dir) == []


@pytest.mark.parametrize(
    "body",
    [
        b"This is a text file called holiday.jpg\n" * 20,
        b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 10,  # a JPEG's first bytes, then nonsense
        b"",
        b"%PDF-1.4 a pdf",
    ],
)
def test_a_file_that_isnt_an_image_is_refused_by_its_bytes(kb_url: str, _own_var_dir: Path, body: bytes) -> None:
    token = start("resident-notimg-0001")
    status, replies, _ = send_photo("resident-notimg-0001", body, token)
    assert status == 415 and "isn't a photo" in replies[0]["text"]
    assert stored(kb_url) == [] and files(_own_var_dir) == []


def test_a_photo_for_someone_elses_conversation_is_refused(kb_url: str, _own_var_dir: Path) -> None:
    start("resident-victim-0001")
    other = start("resident-mallory-001")
    for token in (None, other, "forged-" * 5):
        status, body, _ = send_photo("resident-victim-0001", png_with_gps(), token)
        assert status == 403 and set(body) == {"error"}
    assert stored(kb_url) == [] and files(_own_var_dir) == []


def test_a_photo_can_start_a_conversation_and_gets_its_token(kb_url: str) -> None:
    status, _, headers = send_photo("resident-first-00001", png_with_gps(), None)
    assert status == 200 and headers.get("X-Conversation-Token")
    assert history("resident-first-00001", headers["X-Conversation-Token"], events_for())[0] == 200


def test_a_photo_while_staff_have_the_case_goes_onto_the_case(kb_url: str) -> None:
    token = start("resident-case-000001")
    hand_over_with_staff_reply(
        kb_url, SENDER_PREFIX + "resident-case-000001", dt.datetime.now() - dt.timedelta(minutes=40), "Hi"
    )
    status, replies, _ = send_photo("resident-case-000001", png_with_gps(), token)
    assert status == 200 and "kept the photo" not in json.dumps(replies)  # staff have it: no bot note
    with session_scope(kb_url) as session:
        lines = session.execute(
            select(CaseMessage).where(CaseMessage.author == "resident").order_by(CaseMessage.id)
        ).scalars()
        assert [(m.meta or {}).get("attachments") for m in lines] == [["image"]]


def test_erasure_deletes_the_photo_file_with_its_row(kb_url: str, _own_var_dir: Path, tmp_path: Path) -> None:
    token = start("resident-erase-00001")
    send_photo("resident-erase-00001", png_with_gps(), token)
    keep = start("resident-keep-000001")
    send_photo("resident-keep-000001", png_with_gps(), keep)
    assert len(files(_own_var_dir)) == 2
    tracker_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    dry = erase(parse_identifier(SENDER_PREFIX + "resident-erase-00001"), kb_url, tracker_url, "test", dry_run=True)
    assert dry.counts[PHOTO_FILES] == 1 and len(files(_own_var_dir)) == 2  # a dry run only counts
    report = erase(parse_identifier(SENDER_PREFIX + "resident-erase-00001"), kb_url, tracker_url, "test")
    assert report.counts[PHOTO_FILES] == 1 and report.counts["attachments"] == 1
    [left] = stored(kb_url)
    assert left.conversation_id == SENDER_PREFIX + "resident-keep-000001"
    assert files(_own_var_dir) == [uploads.path_of(left.media_id)]


def test_retention_deletes_old_photos_and_half_written_files(kb_url: str, _own_var_dir: Path, tmp_path: Path) -> None:
    token = start("resident-old-0000001")
    send_photo("resident-old-0000001", png_with_gps(), token)
    partial = uploads.uploads_dir() / (".%s.png.part" % ("ab" * 16))  # a crash while writing a file
    partial.write_bytes(b"x")
    os.utime(partial, (time.time() - 7200, time.time() - 7200))
    young = uploads.uploads_dir() / (".%s.jpg.part" % ("cd" * 16))  # may be being written right now
    young.write_bytes(b"x")
    tracker_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    later = dt.datetime.now() + dt.timedelta(days=400)
    report = apply(kb_url, tracker_url, Periods(dt.timedelta(days=183), None, None), now=later)
    assert report.counts[PHOTO_FILES] == 2  # the photo and the old half-written file
    assert stored(kb_url) == [] and files(_own_var_dir) == [young]


def test_the_row_is_recorded_before_the_file_and_goes_if_the_file_cannot_be_written(
    kb_url: str, _own_var_dir: Path
) -> None:
    token = start("resident-disk-000001")
    # The disk refuses the write: where the folder should be there is a file (works even as root).
    _own_var_dir.mkdir(parents=True, exist_ok=True)
    (_own_var_dir / "uploads").write_bytes(b"")
    status, replies, _ = send_photo("resident-disk-000001", png_with_gps(), token)
    (_own_var_dir / "uploads").unlink()
    assert status == 503 and "try again" in replies[0]["text"]
    assert stored(kb_url) == [] and files(_own_var_dir) == []


def test_names_that_are_not_ours_never_reach_the_file_system() -> None:
    for media_id in ("upload/../../knowledge.db", "upload/x.png", "https://example.org/a.png", None, "ab" * 16):
        assert uploads.path_of(media_id) is None


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, "PNG")  # 100 megapixels in a few kilobytes
    assert len(out.getvalue()) < 100_000
    with pytest.raises(uploads.PhotoRefused):
        uploads.clean_photo(out.getvalue(), 10 * 1024 * 1024)


def test_a_phone_photo_is_turned_upright_before_its_orientation_is_dropped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    out = io.BytesIO()
    Image.new("RGB", (60, 20), (0, 0, 255)).save(out, "JPEG", exif=exif)
    clean = uploads.clean_photo(out.getvalue(), 10 * 1024 * 1024)
    assert (clean.width, clean.height, clean.mime_type) == (20, 60, "image/jpeg")
    assert not Image.open(io.BytesIO(clean.data)).getexif()


# --- The console shows photos to signed-in staff only ----------------------------------------------------


@pytest.fixture
def console_with_photo(
    tmp_path: Path, _own_var_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str, int]]:
    """(console URL, case reference, photo id): a web chat photo on a case, and a console over it."""
    db_url = make_db(tmp_path)
    with session_scope(db_url) as session:  # the case page words suggestions from the council's content
        load(session, CONTENT_DIR)
    monkeypatch.setenv("DATABASE_URL", db_url)
    token = start("resident-console-001")
    send_photo("resident-console-001", png_with_gps(), token)
    reference = hand_over_with_staff_reply(
        db_url, SENDER_PREFIX + "resident-console-001", dt.datetime(2026, 11, 30, 9), "Hi"
    )
    [row] = stored(db_url)
    with running_console(db_url, tmp_path / "console.log", env={"COUNCILBOT_VAR_DIR": str(_own_var_dir)}) as base:
        yield base, reference, row.id


def test_console_shows_the_photo_to_signed_in_staff_only(console_with_photo: tuple[str, str, int]) -> None:
    base, reference, photo_id = console_with_photo
    url = f"/cases/{reference}/photos/{photo_id}"
    with client(base) as anonymous:
        assert anonymous.get(url).status_code in (302, 303, 401)
        assert anonymous.get(f"/cases/{reference}/photos").status_code in (302, 303, 401)
    with signed_in(base, "agent") as agent:
        case_page = agent.get(f"/cases/{reference}")
        assert f'href="/cases/{reference}/photos"' in case_page.text and "1 photo the resident sent" in case_page.text
        page = agent.get(f"/cases/{reference}/photos")
        assert page.status_code == 200 and f'src="{url}"' in page.text
        resp = agent.get(url)
        assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
        assert "no-store" in resp.headers["cache-control"]
        assert Image.open(io.BytesIO(resp.content)).size == (40, 30)
        # Only through its own case: another case's reference or a made-up id shows nothing.
        assert agent.get(f"/cases/NC-2026-999999/photos/{photo_id}").status_code == 404
        assert agent.get(f"/cases/{reference}/photos/{photo_id + 1}").status_code == 404
    with signed_in(base, "editor") as editor:
        assert editor.get(url).status_code == 403
