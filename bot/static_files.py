"""Static files (CSS, JS, icons) served by the web chat page and the staff console.

Each is read once into memory with a content hash for its URL (`?v=<hash>`), so a changed file gets a new
URL and an unchanged one may be cached for good, and no request path ever reaches the file system.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Asset:
    """One static file: its bytes, Content-Type, and `version` (a content hash the page puts in its URL)."""

    body: bytes
    content_type: str
    version: str


def load_assets(directory: Path, types: dict[str, str]) -> dict[str, Asset]:
    """The files in `directory` whose suffix is in `types` (suffix -> Content-Type), by file name."""
    found = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in types:
            body = path.read_bytes()
            found[path.name] = Asset(body, types[path.suffix], hashlib.sha256(body).hexdigest()[:12])
    return found
