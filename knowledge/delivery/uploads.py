"""Photos residents upload themselves (the web chat's "Attach a photo"): checked, cleaned, kept on disk.

The platform channels keep only a reference to a photo (the platform's URL or media id). A web chat photo
has no platform to keep it, so the file is ours: it is checked from its bytes (Pillow must open it as a
JPEG, PNG, GIF or WebP, whatever its name or declared type says), re-encoded from its pixels alone so no
metadata survives (EXIF with the phone's GPS position, the camera, comments, colour profiles), scaled to
at most MAX_SIDE pixels a side, and written under the uploads folder (`uploads_dir()`) with a random
name. That folder is never served as it stands: signed-in staff
see a photo through the console (`bot/console/views/photos.py`), which looks the file up by its
`Attachment` row.

The `Attachment` row (kind image, `channel` the resident's channel) names the file in `media_id` as
`upload/<file name>`; `url` stays empty. The file is written in full to a hidden `.part` name first, then
the row is committed, then the file is renamed to its name, then the row is looked for again: if an erasure
ran in between (it deletes the files its rows name, then the rows), the file just published is deleted too.
Whatever step a process dies at, there may be a row whose file is missing (shown to staff as deleted) or a
`.part` file no row leads to (deleted by `sweep_partial`), never a complete photo that erasure could not find.

Disk is finite: a conversation keeps at most WEBCHAT_PHOTOS_PER_CONVERSATION photos, the whole service at
most WEBCHAT_PHOTOS_PER_DAY a day (`over_cap`, counted in the transaction that inserts the row), and no photo
is taken while the uploads folder's disk has less than WEBCHAT_UPLOADS_MIN_FREE_BYTES free (`room_to_keep`).
The folder is WEBCHAT_UPLOADS_DIR, so it can be a volume of its own, apart from the databases.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
import secrets
import shutil
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from knowledge.models import Attachment
from knowledge.settings import settings, var_dir

log = logging.getLogger(__name__)

STORED_PREFIX = "upload/"  # Attachment.media_id of a file we keep: "upload/<name>"
# Names we make: 32 hex characters and our own suffix. Anything else is never opened, so no row or request
# can point at another file.
NAME_RE = re.compile(r"^[0-9a-f]{32}\.(?:jpg|png)$")
# What Pillow may identify an upload as, and what we keep it as. JPEG stays JPEG (a photo); the others
# become PNG, which keeps transparency and is lossless (only the first frame of an animation is kept).
KEPT_AS = {"JPEG": "JPEG", "PNG": "PNG", "GIF": "PNG", "WEBP": "PNG"}
MIME = {"JPEG": "image/jpeg", "PNG": "image/png"}
SUFFIX = {"JPEG": ".jpg", "PNG": ".png"}
# A photo from a phone is 12-50 megapixels, but staff need no more than a screen's worth. Beyond this, a
# small file can still decode to gigabytes of pixels (a "decompression bomb"): refused before decoding.
# At 24 MP a decode is ~100 MB (RGBA) for under a second; 4 bytes a pixel is the most any kept mode takes.
MAX_PIXELS = 24_000_000
# Kept photos are scaled down to fit this many pixels a side (a JPEG is decoded at a reduced scale already,
# which is cheaper than decoding in full and shrinking after).
MAX_SIDE = 4096
JPEG_QUALITY = 90
ORPHAN_GRACE = dt.timedelta(hours=1)  # a .part file younger than this may still be being written


class PhotoRefused(Exception):
    """The upload isn't kept. `reason` is too_large or not_image (from its bytes), limit (this conversation
    or the service today keeps as many photos as it may) or no_room (the disk is nearly full)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CleanPhoto:
    """A photo re-encoded from its pixels only: `data` to write, `mime_type`, `suffix` for the file name."""

    data: bytes
    mime_type: str
    suffix: str
    width: int
    height: int


def uploads_dir() -> Path:
    """Where uploaded photos are kept: WEBCHAT_UPLOADS_DIR, or `uploads` under the var dir; never inside a
    folder that is served."""
    configured = settings().webchat_uploads_dir
    path = Path(configured) if configured else var_dir() / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def room_to_keep() -> bool:
    """Is there room for another photo: does the uploads folder's disk keep WEBCHAT_UPLOADS_MIN_FREE_BYTES
    free (the databases, logs and tracker may share it)? Checked before an upload is read at all."""
    return shutil.disk_usage(uploads_dir()).free >= settings().webchat_uploads_min_free_bytes


def over_cap(session: Session, conversation_id: str, now: dt.datetime) -> bool:
    """Does this conversation keep as many photos as it may, or the service as many as it may today (UTC)?
    Call in the transaction that inserts the row, after locking the conversation's row, so two uploads
    into one conversation can't both take the last place. (The daily cap may be passed by the few uploads
    that different conversations make at the same instant.)"""
    s = settings()
    kept = session.execute(
        select(func.count(Attachment.id)).where(
            Attachment.conversation_id == conversation_id, Attachment.media_id.like(STORED_PREFIX + "%")
        )
    ).scalar_one()
    if kept >= s.webchat_photos_per_conversation:
        return True
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = session.execute(
        select(func.count(Attachment.id)).where(
            Attachment.received_at >= midnight, Attachment.media_id.like(STORED_PREFIX + "%")
        )
    ).scalar_one()
    return bool(today >= s.webchat_photos_per_day)


def clean_photo(data: bytes, max_bytes: int) -> CleanPhoto:
    """`data` as a photo with nothing but its pixels (turned upright first, since the EXIF orientation that
    said how goes with the rest), at most MAX_SIDE pixels a side, or PhotoRefused: larger than `max_bytes`,
    over MAX_PIXELS, or not an image Pillow opens."""
    if len(data) > max_bytes:
        raise PhotoRefused("too_large")
    if not data:
        raise PhotoRefused("not_image")
    try:
        with warnings.catch_warnings():
            # Pillow warns (rather than refuses) between MAX_IMAGE_PIXELS and twice that: refuse both.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kept_as = KEPT_AS.get(probe.format or "")
                if kept_as is None:
                    raise PhotoRefused("not_image")
                if probe.width * probe.height > MAX_PIXELS:
                    raise PhotoRefused("too_large")
                probe.verify()  # a truncated or corrupt file fails here, before decoding it in full
            with Image.open(io.BytesIO(data)) as image:
                if image.format == "JPEG":
                    # Decode at 1/2, 1/4 or 1/8 scale when that still covers MAX_SIDE: far less memory and CPU.
                    image.draft("RGB", (MAX_SIDE, MAX_SIDE))
                image.load()
                upright = ImageOps.exif_transpose(image) or image
                mode = _plain_mode(upright, kept_as)
                # convert() makes a new image (a copy even in the same mode), so thumbnail() below never
                # touches the decoded original; only one full-size copy exists at a time.
                clean = upright.convert(mode)
                del upright
                clean.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
                # Nothing but pixels is saved: no EXIF, XMP, ICC profile or text chunks (the encoders read
                # these from `info` when not given them).
                clean.info = {}
    except PhotoRefused:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoRefused("not_image") from None
    except (OSError, SyntaxError, ValueError, TypeError, EOFError, MemoryError):
        raise PhotoRefused("not_image") from None
    out = io.BytesIO()
    # No optimize=True: it costs a second encoding pass for a few per cent of disk.
    if kept_as == "JPEG":
        clean.save(out, "JPEG", quality=JPEG_QUALITY)
    else:
        clean.save(out, "PNG")
    return CleanPhoto(out.getvalue(), MIME[kept_as], SUFFIX[kept_as], clean.width, clean.height)


def _plain_mode(image: Image.Image, kept_as: str) -> str:
    """RGB, or RGBA when a PNG has transparency to keep (JPEG has none)."""
    if kept_as == "PNG" and (image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info):
        return "RGBA"
    return "RGB"


def new_media_id(photo: CleanPhoto) -> str:
    """A fresh `Attachment.media_id` ("upload/<random name>") for `photo`."""
    return STORED_PREFIX + secrets.token_hex(16) + photo.suffix


def _name_of(media_id: str) -> str:
    name = media_id[len(STORED_PREFIX) :]
    if not media_id.startswith(STORED_PREFIX) or not NAME_RE.match(name):
        raise ValueError("not a stored photo's media id")
    return name


def partial_path(media_id: str) -> Path:
    """Where `media_id`'s file is written before it is published: a hidden `.part` name that nothing reads
    and `sweep_partial` deletes if it is left behind."""
    return uploads_dir() / f".{_name_of(media_id)}.part"


def write_partial(media_id: str, photo: CleanPhoto) -> Path:
    """Write `photo` in full to `partial_path(media_id)` and flush it to disk; readable by our user only.
    Nothing is left if the write fails."""
    partial = partial_path(media_id)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(photo.data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return partial


def publish(media_id: str) -> Path:
    """Rename `media_id`'s written `.part` file to its name (atomic: a reader never finds half a file)."""
    final = uploads_dir() / _name_of(media_id)
    os.replace(partial_path(media_id), final)
    return final


def discard(media_id: str) -> None:
    """Delete `media_id`'s file, written or published, whichever exists (a photo whose row never came to be,
    or was erased while it was being published)."""
    partial_path(media_id).unlink(missing_ok=True)
    (uploads_dir() / _name_of(media_id)).unlink(missing_ok=True)


def path_of(media_id: Optional[str]) -> Optional[Path]:
    """The file a stored photo's `media_id` names, or None if it isn't one of ours (or is gone)."""
    if not media_id or not media_id.startswith(STORED_PREFIX):
        return None
    name = media_id[len(STORED_PREFIX) :]
    if not NAME_RE.match(name):
        return None
    path = uploads_dir() / name
    return path if path.is_file() else None


def stored_files(session: Session, conversation_ids: Iterable[str]) -> list[str]:
    """The `media_id`s of photos we keep for these conversations (for erasure and retention)."""
    ids = sorted(set(conversation_ids))
    found: list[str] = []
    for i in range(0, len(ids), 500):  # databases cap the parameters of one IN
        found += session.execute(
            select(Attachment.media_id).where(
                Attachment.conversation_id.in_(ids[i : i + 500]), Attachment.media_id.like(STORED_PREFIX + "%")
            )
        ).scalars()
    return [m for m in found if m]


def delete_files(media_ids: Iterable[str]) -> int:
    """Delete the stored photos named by `media_ids`; returns how many files went. Missing files are fine
    (a run that died half-way is simply run again)."""
    gone = 0
    for media_id in media_ids:
        path = path_of(media_id)
        if path is not None:
            path.unlink(missing_ok=True)
            gone += 1
    return gone


def sweep_partial(now: Optional[float] = None, grace: dt.timedelta = ORPHAN_GRACE) -> int:
    """Delete half-written files (`.<name>.part`) older than `grace`, left by a process that died while
    writing one. Returns how many went. Complete files are never swept: each has its row (see above), and
    the folder may be shared by another database's processes, whose rows this one can't see."""
    cutoff = (now if now is not None else time.time()) - grace.total_seconds()
    gone = 0
    for path in uploads_dir().iterdir():
        name = path.name
        partial = name.startswith(".") and name.endswith(".part") and NAME_RE.match(name[1:-5])
        if partial and path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            gone += 1
    return gone
