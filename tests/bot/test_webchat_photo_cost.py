"""Review of issue 12 (web chat photos): a small upload that decodes to ~60 megapixels is accepted and
costs about a gigabyte of memory and seconds of CPU per upload. (It failed before the fix.)"""

from __future__ import annotations

import io
import time

from PIL import Image

from knowledge.delivery import uploads


def test_a_quarter_megabyte_png_that_decodes_to_59_megapixels_is_refused_or_cheap() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (7700, 7700), (10, 200, 30, 128)).save(out, "PNG")
    data = out.getvalue()
    assert len(data) < 1_000_000  # well under the 10 MB default limit
    started = time.monotonic()
    try:
        uploads.clean_photo(data, 10 * 1024 * 1024)
    except uploads.PhotoRefused:
        return
    took = time.monotonic() - started
    # Two of these at once (PHOTO_DECODES) fill both decode slots of a process for seconds, at ~1 GB each.
    assert took < 1.0, f"a {len(data)} byte upload took {took:.1f}s to clean and was kept"
