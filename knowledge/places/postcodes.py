"""UK postcodes: their shape, one spelling of each, and finding one in what a resident wrote.

A postcode is an outward code (area letters, district digits: A9, A99, AA9, AA99, A9A, AA9A) and an inward
code (a digit and two letters: 9AA), written with one space: "NS1 3NA". Residents write "ns13na",
"NS1  3NA" or "ns1-3na"; `normalise` turns each into "NS1 3NA". The shape alone says nothing of whether the
postcode exists or is the council's: the gazetteer (knowledge/places/gazetteer.py) decides that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Optional

# Every valid shape, in capitals with no space (the space is put back by `normalise`).
_SHAPE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")
# A postcode inside a sentence: word boundaries either side, the space between the halves optional (or
# doubled, or a hyphen). Case-insensitive; `normalise` checks the shape again.
_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{1,2}[0-9][A-Za-z0-9]?)[ \t\-]{0,3}([0-9][A-Za-z]{2})(?![A-Za-z0-9])")
# Something a resident may have meant as a postcode but isn't one: a lone outward code ("NS1"), a postcode
# with a character missing ("NS1 3N"), or five or more digits ("12345").
_OUTWARD_ALONE = re.compile(
    r"(?<![A-Za-z0-9])([A-Za-z]{1,2}[0-9][A-Za-z0-9]?)(?:[ \t]+([0-9][A-Za-z]?))?(?![A-Za-z0-9])"
)
_DIGITS = re.compile(r"(?<![A-Za-z0-9])[0-9]{5,}(?![A-Za-z0-9])")
_SQUASHED = re.compile(r"^[A-Za-z0-9]{2,8}$")
# What follows the word "postcode": "Postcode: NS", "my postcode is ns1 3n".
_AFTER_THE_WORD = re.compile(r"\bpost ?code\b(?:\s+is)?\s*[:\-]?\s*([A-Za-z0-9]{1,4}(?: [A-Za-z0-9]{1,3})?)\s*$", re.I)


def _letters(district: str) -> str:
    m = re.match(r"[A-Za-z]+", district)
    return m.group(0).upper() if m else ""


# Characters residents and phone keyboards mix up: a letter in a digit's place or the other way round.
_LOOKALIKES = {
    "0": "O",
    "O": "0",
    "1": "IL",
    "I": "1",
    "L": "1",
    "5": "S",
    "S": "5",
    "8": "B",
    "B": "8",
    "2": "Z",
    "Z": "2",
    "6": "G",
    "G": "6",
}


@dataclass(frozen=True)
class Found:
    """A postcode-shaped span of a message: `postcode` normalised, `start`/`end` its place in the text."""

    postcode: str
    start: int
    end: int


def normalise(text: Optional[str]) -> Optional[str]:
    """The postcode in its one spelling ("ns13na", " NS1  3NA ", "ns1-3na" -> "NS1 3NA"), or None if
    `text` is not a postcode of a valid shape."""
    squashed = re.sub(r"[\s\-]+", "", text or "").upper()
    shape = _SHAPE.match(squashed)
    return f"{shape.group(1)} {shape.group(2)}" if shape else None


def is_postcode(text: Optional[str]) -> bool:
    """Is `text` (alone) a postcode of a valid shape?"""
    return normalise(text) is not None


def find(text: str) -> Optional[Found]:
    """The first valid-shaped postcode in a sentence ("when is my bin day ns1 3na?"), or None."""
    for m in _IN_TEXT.finditer(text or ""):
        postcode = normalise(m.group(1) + m.group(2))
        if postcode is not None:
            return Found(postcode, m.start(), m.end())
    return None


def district(postcode: str) -> str:
    """The outward code ("NS1") of a postcode, or of what looks like one."""
    return (normalise(postcode) or postcode.strip().upper()).split(" ")[0]


def area(postcode: str) -> str:
    """The postcode area, its leading letters ("NS")."""
    m = re.match(r"[A-Z]+", district(postcode))
    return m.group(0) if m else ""


def attempt(text: str, districts: Iterable[str] = ()) -> Optional[str]:
    """What in `text` looks like a go at a postcode that isn't one, as written, or None.

    Caught: five or more digits ("12345"); a lone outward code of one of `districts` ("NS1", in a
    sentence or alone) or any lone outward code or half-postcode when it is the whole message ("NS1 3N",
    "AB12"); a message of letters and digits run together that isn't a postcode ("NS13NAA"). A road such as
    "the A52" inside a sentence is not caught: only the council's own districts are, there."""
    text = text or ""
    named = _AFTER_THE_WORD.search(text)  # "Postcode: NS", "my postcode is ns1"
    if named and normalise(named.group(1)) is None:
        fragment = named.group(1).strip()
        if re.search(r"[0-9]", fragment) or fragment.upper() in {_letters(d) for d in districts}:
            return fragment
    digits = _DIGITS.search(text)
    if digits:
        return digits.group(0)
    ours = {d.upper() for d in districts}
    whole = text.strip().strip(".,!?")
    for m in _OUTWARD_ALONE.finditer(text):
        if m.group(1).upper() in ours or m.group(0).strip() == whole:
            return m.group(0).strip()
    letters_and_digits = re.search(r"[0-9]", whole) and re.search(r"[A-Za-z]{2}", whole)
    if _SQUASHED.match(whole) and letters_and_digits and not re.fullmatch(r"[0-9]{1,4}[A-Za-z]?", whole):
        return whole  # ("14a" is a house number, kept out by the last test)
    return None


def lookalikes(postcode: str) -> list[str]:
    """Valid-shaped postcodes one mixed-up character away from `postcode` ("N51 3NA" -> "NS1 3NA"), for
    suggesting the one the resident probably meant; the caller keeps those that exist."""
    squashed = (normalise(postcode) or postcode).replace(" ", "").upper()
    found: list[str] = []
    for i, ch in enumerate(squashed):
        for other in _LOOKALIKES.get(ch, ""):
            candidate = normalise(squashed[:i] + other + squashed[i + 1 :])
            if candidate is not None and candidate not in found:
                found.append(candidate)
    return found
