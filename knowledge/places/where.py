"""Where a resident means: a postcode, a street with or without a house number, a postcode and number, or a
shared map pin, read against the gazetteer.

`resolve(text)` reads a message or a form answer; `from_pin(lat, lon)` matches a pin to the nearest
gazetteer point. Both return a `Where` whose `outcome` is one clear case the caller can word
(knowledge/places/replies.py words them all): found, several streets match, that number isn't on the
street, not a postcode, another council's postcode, a postcode of ours we don't know, an unknown street,
a pin too far from any street, or nothing place-like at all.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Optional

from knowledge.places import postcodes
from knowledge.places.gazetteer import Gazetteer, Row, gazetteer
from knowledge.settings import settings


class Outcome(StrEnum):
    """What reading a place came to."""

    FOUND = "found"  # `place` is set
    SEVERAL = "several"  # more than one street matches: `choices`, one Place per street
    NUMBER_NOT_ON_STREET = "number_not_on_street"  # `numbers` says which numbers there are; `place` the street
    NOT_A_POSTCODE = "not_a_postcode"  # `postcode`: what was written; `suggestion`: ours it looks like
    OUTSIDE_AREA = "outside_area"  # a valid postcode of another council: `postcode`
    UNKNOWN_POSTCODE = "unknown_postcode"  # a valid postcode in one of our districts that we don't have
    UNKNOWN_STREET = "unknown_street"  # looks like a street ("Mill Lane"), not ours: `street`
    PIN_TOO_FAR = "pin_too_far"  # a pin further than PLACE_PIN_MAX_METRES from any street ("in the sea")
    NOTHING = "nothing"  # nothing place-like in the text


@dataclass(frozen=True)
class Place:
    """A place in the council's area. `house_number` as written ("14", "14a") or None; `lat`, `lon` the
    gazetteer's point on the street, or the resident's own pin for `from_pin`; `row` the gazetteer row
    (bin day, recycling week, gritting route)."""

    street: str
    house_number: Optional[str]
    postcode: str
    ward: str
    lat: float
    lon: float
    row: Row

    @property
    def address(self) -> str:
        """ "14 Swallow Street, NS1 3NA" (no number: "Swallow Street, NS1 3NA")."""
        first = f"{self.house_number} {self.street}" if self.house_number else self.street
        return f"{first}, {self.postcode}"


@dataclass(frozen=True)
class Where:
    """The outcome of reading a place, and what the caller needs to word it.

    `place`: the place found (also set for NUMBER_NOT_ON_STREET: the street without the number).
    `choices`: the streets that match equally (SEVERAL). `numbers`: the house numbers the street or
    postcode has, as words ("1 to 80"), for NUMBER_NOT_ON_STREET. `postcode`: the postcode the resident
    gave, normalised where it has a valid shape, else as written. `suggestion`: one of our postcodes a
    mistyped one looks like ("N51 3NA" -> "NS1 3NA"). `street`: the street name as the resident wrote it
    (UNKNOWN_STREET, with `choices` the streets of that name but another type: "Mill Close" for "Mill
    Lane"). `house_number`: the number the resident gave (NUMBER_NOT_ON_STREET). `needs_number`: the
    street was found without a number but its stretches differ in bin collections, so a number (or
    postcode) would make a bin answer sure. `distance_m`: how far a pin was from the nearest gazetteer
    point."""

    outcome: Outcome
    place: Optional[Place] = None
    choices: list[Place] = field(default_factory=list)
    numbers: Optional[str] = None
    postcode: Optional[str] = None
    suggestion: Optional[str] = None
    street: Optional[str] = None
    house_number: Optional[str] = None
    needs_number: bool = False
    distance_m: Optional[float] = None

    @property
    def found(self) -> bool:
        return self.outcome is Outcome.FOUND

    @property
    def remembered(self) -> Optional[str]:
        """What a conversation keeps of a found place, to `resolve` again later: its address, or the street
        alone when a number would help (`needs_number`), so reading it back still says so."""
        if self.place is None:
            return None
        return self.place.street if self.needs_number else self.place.address


# Street types as residents abbreviate them, to the gazetteer's spelling.
STREET_TYPES = {
    "street": "street",
    "st": "street",
    "str": "street",
    "road": "road",
    "rd": "road",
    "avenue": "avenue",
    "ave": "avenue",
    "av": "avenue",
    "avn": "avenue",
    "lane": "lane",
    "ln": "lane",
    "close": "close",
    "cl": "close",
    "drive": "drive",
    "dr": "drive",
    "drv": "drive",
    "way": "way",
    "wy": "way",
    "crescent": "crescent",
    "cres": "crescent",
    "cresc": "crescent",
    "cr": "crescent",
    "grove": "grove",
    "gr": "grove",
    "gro": "grove",
    "rise": "rise",
    "walk": "walk",
    "wlk": "walk",
    "wk": "walk",
    "place": "place",
    "pl": "place",
    "terrace": "terrace",
    "ter": "terrace",
    "terr": "terrace",
    "court": "court",
    "ct": "court",
    "gardens": "gardens",
    "gdns": "gardens",
    "hill": "hill",
    "row": "row",
    "view": "view",
    "park": "park",
    "square": "square",
    "sq": "square",
    "mews": "mews",
}
# How alike a typed word must be to a street's (difflib ratio): "swallw" ~ "swallow" is 0.92.
WORD_ALIKE = 0.8
# A street named with another type ("Mill Lane" for Mill Close) scores this much less: only a suggestion.
WRONG_TYPE = 0.5
# Names this short must be typed exactly: "elm" is not "elk", "oak" is not "oat".
EXACT_BELOW = 5
_TOKEN = re.compile(r"[A-Za-z0-9']+")
_HOUSE_NUMBER = re.compile(r"^[0-9]{1,4}[a-z]?$")
# Words that introduce a house number ("number 52", "no 14"); not "flat": a flat number isn't the house's.
_NUMBER_WORDS = {"no", "number", "num", "nr", "house"}
# How many words either side of a street are searched for "number 52" ("swallw street by number 52").
NUMBER_NEAR = 5
_NEGATIONS = {"not", "isn't", "isnt", "never"}
EARTH_RADIUS_M = 6_371_000.0


@dataclass
class _Token:
    word: str  # lower case, street types spelt out
    start: int
    end: int


def _tokens(text: str) -> list[_Token]:
    out = []
    for m in _TOKEN.finditer(text):
        word = m.group(0).lower().strip("'")
        out.append(_Token(STREET_TYPES.get(word, word), m.start(), m.end()))
    return out


def _alike(typed: str, real: str) -> float:
    if typed == real:
        return 1.0
    if len(real) < EXACT_BELOW or len(typed) < EXACT_BELOW - 1 or abs(len(typed) - len(real)) > 2:
        return 0.0
    matcher = difflib.SequenceMatcher(None, typed, real)
    # The cheap upper bound first: a long message against a large gazetteer makes many comparisons.
    return matcher.ratio() if matcher.quick_ratio() >= WORD_ALIKE else 0.0


def _type_alike(typed: str, kind: str) -> bool:
    """Is `typed` the street type `kind`, perhaps misspelt ("lne" for lane, "cresent" for crescent)? Types
    are short words, so no length floor here; but another real type ("rise" for "road") never counts."""
    if typed in STREET_TYPES.values():
        return typed == kind
    return difflib.SequenceMatcher(None, typed, kind).ratio() >= WORD_ALIKE


@dataclass
class _StreetMatch:
    street: str
    score: float
    start: int  # token index where the match starts
    end: int  # token index after it
    typed_type: bool  # the resident wrote a street type (street, road...) that matched


def _street_matches(tokens: list[_Token], gaz: Gazetteer, short_answer: bool) -> list[_StreetMatch]:
    """Streets named in the tokens, best first. A street's name words must each be alike; its type word
    ("Street") must match too, unless the message is a short answer ("swallow") or a number comes first
    ("14 swallow"), when the name alone will do."""
    words = [t.word for t in tokens]
    matches: list[_StreetMatch] = []
    for street in gaz.streets():
        parts = street.lower().split()
        kind = parts[-1] if parts[-1] in STREET_TYPES.values() else None
        # The name's words spelt as the tokens are ("St Mary's Road": "st" is read as "street" in both).
        name = [STREET_TYPES.get(w, w) for w in (parts[:-1] if kind else parts)]
        best: Optional[_StreetMatch] = None
        for i in range(len(words) - len(name) + 1):
            scores = [_alike(words[i + j], name[j]) for j in range(len(name))]
            if min(scores) < WORD_ALIKE:
                continue
            score = sum(scores) / len(scores)
            end = i + len(name)
            typed_type = kind is not None and end < len(words) and words[end] in (kind,)
            if typed_type:
                end += 1
            elif kind is not None:
                near_type = end < len(words) and _type_alike(words[end], kind)
                if near_type:
                    end, typed_type = end + 1, True
                elif end < len(words) and words[end] in STREET_TYPES.values():
                    # Another type ("Mill Lane" for Mill Close): not this street, but worth suggesting.
                    end, score = end + 1, score - WRONG_TYPE
                else:
                    after_number = i > 0 and _HOUSE_NUMBER.match(words[i - 1]) is not None
                    if not (short_answer or after_number):
                        continue
                    score -= 0.05  # the name alone: below any match with its type
            candidate = _StreetMatch(street, score, i, end, typed_type)
            if best is None or candidate.score > best.score:
                best = candidate
        if best is not None:
            matches.append(best)
    return sorted(matches, key=lambda m: -m.score)


def _introduced_number(tokens: list[_Token], lo: int, hi: int) -> Optional[str]:
    """The first "number 52" / "no 14" between token indexes `lo` and `hi`."""
    for j in range(max(lo, 0), min(hi, len(tokens)) - 1):
        if tokens[j].word in _NUMBER_WORDS and _HOUSE_NUMBER.match(tokens[j + 1].word):
            return tokens[j + 1].word
    return None


def _number_before(tokens: list[_Token], index: int) -> Optional[str]:
    """The house number before token `index`: right before it ("14 swallow st", "no 14 swallow st"), or
    introduced a few words earlier ("number 45 on Lark Lane")."""
    if index > 0 and _HOUSE_NUMBER.match(tokens[index - 1].word):
        return tokens[index - 1].word
    return _introduced_number(tokens, index - NUMBER_NEAR, index)


def _number_after(text: str, tokens: list[_Token], index: int) -> Optional[str]:
    """The house number after token `index`: introduced within a few words ("swallow street by number 52"),
    or bare right after it ("Albert Drive, 17", "alder wy 70", "king rd 50 innit") unless an amount word
    follows: "swallow street 2 weeks running" has none."""
    introduced = _introduced_number(tokens, index, index + NUMBER_NEAR + 1)
    if introduced is not None:
        return introduced
    if index < len(tokens) and _HOUSE_NUMBER.match(tokens[index].word):
        between = text[tokens[index - 1].end : tokens[index].start] if index > 0 else ""
        following = tokens[index + 1].word.lower() if index + 1 < len(tokens) else ""
        # "maple cres 43 thx", "king rd 50 innit": a number straight after the street is its house number,
        # unless the next word makes it an amount ("swallow street 2 weeks running", "3 times", "5pm").
        if index == len(tokens) - 1 or "," in between or following.rstrip(".,!?") not in _AMOUNT_WORDS:
            return tokens[index].word
    return None


# Words after a number that make it an amount or a time, not a house number.
_AMOUNT_WORDS = frozenset(
    [
        "week",
        "weeks",
        "wk",
        "wks",
        "day",
        "days",
        "hour",
        "hours",
        "hr",
        "hrs",
        "minute",
        "minutes",
        "min",
        "mins",
        "month",
        "months",
        "year",
        "years",
        "yr",
        "yrs",
        "time",
        "times",
        "am",
        "pm",
        "o'clock",
        "oclock",
        "quid",
        "pounds",
        "pound",
        "p",
        "percent",
        "%",
        "nights",
        "night",
        "mornings",
        "morning",
        "bags",
        "bag",
        "cars",
        "car",
        "people",
        "kids",
        "children",
        "of",
        "x",
    ]
)


def _number_value(number: str) -> int:
    return int(re.match(r"[0-9]+", number).group(0))  # type: ignore[union-attr]


def _numbers_text(rows: tuple[Row, ...] | list[Row]) -> str:
    """The house numbers of rows as words, touching ranges joined: "1 to 80", "1 to 40 and 50 to 60"."""
    spans: list[list[int]] = []
    for r in sorted(rows, key=lambda r: r.first_number):
        if spans and r.first_number <= spans[-1][1] + 1:
            spans[-1][1] = max(spans[-1][1], r.last_number)
        else:
            spans.append([r.first_number, r.last_number])
    words = [str(a) if a == b else f"{a} to {b}" for a, b in spans]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _place(row: Row, number: Optional[str] = None) -> Place:
    return Place(row.street, number, row.postcode, row.ward, row.lat, row.lon, row)


def _bins_differ(rows: tuple[Row, ...]) -> bool:
    return len({(r.bin_weekday, r.recycling_week) for r in rows}) > 1


def _on_street(street: str, number: Optional[str], gaz: Gazetteer) -> Where:
    rows = gaz.by_street(street)
    if number is None:
        return Where(Outcome.FOUND, place=_place(rows[0]), needs_number=_bins_differ(rows))
    with_number = [r for r in rows if r.has_number(_number_value(number))]
    if with_number:
        return Where(Outcome.FOUND, place=_place(with_number[0], number))
    return Where(Outcome.NUMBER_NOT_ON_STREET, place=_place(rows[0]), numbers=_numbers_text(rows), house_number=number)


def _from_postcode(found: postcodes.Found, text: str, tokens: list[_Token], gaz: Gazetteer) -> Where:
    rows = gaz.by_postcode(found.postcode)
    if not rows:
        ours = [p for p in postcodes.lookalikes(found.postcode) if gaz.by_postcode(p)]
        if ours:
            return Where(Outcome.NOT_A_POSTCODE, postcode=found.postcode, suggestion=ours[0])
        if postcodes.district(found.postcode) in gaz.districts():
            return Where(Outcome.UNKNOWN_POSTCODE, postcode=found.postcode)
        return Where(Outcome.OUTSIDE_AREA, postcode=found.postcode)
    # The number: just before the postcode ("14, NS1 3NA"), after it ("NS1 3NA number 14"), or before a
    # street named alongside it ("14 Swallow Street, NS1 3NA").
    first = next(i for i, t in enumerate(tokens) if t.start >= found.start)
    after = next((i for i, t in enumerate(tokens) if t.start >= found.end), len(tokens))
    number = _number_before(tokens, first) or _number_after(text, tokens, after)
    streets = {r.street for r in rows}
    named = [m for m in _street_matches(tokens[:first], gaz, short_answer=False) if m.street in streets]
    if named:
        rows = tuple(r for r in rows if r.street == named[0].street)
        number = number or _number_before(tokens, named[0].start)
    elif len(streets) > 1 and number is None:
        firsts = {r.street: r for r in reversed(rows)}  # the first row of each street
        return Where(Outcome.SEVERAL, choices=[_place(firsts[s]) for s in dict.fromkeys(r.street for r in rows)])
    if number is None:
        return Where(Outcome.FOUND, place=_place(rows[0]))
    with_number = [r for r in rows if r.has_number(_number_value(number))]
    if with_number:
        return Where(Outcome.FOUND, place=_place(with_number[0], number))
    return Where(
        Outcome.NUMBER_NOT_ON_STREET,
        place=_place(rows[0]),
        numbers=_numbers_text(rows),
        postcode=found.postcode,
        house_number=number,
    )


# "Mill Lane" (capitalised) or "14 mill lane" (after a number, any case): a street we don't have, to name it.
_TYPES = "|".join(sorted(set(STREET_TYPES), key=len, reverse=True))
_UNKNOWN_STREET = (
    re.compile(r"\b((?:[A-Z][a-z']+ ){1,3}(?i:" + _TYPES + r"))\b"),
    re.compile(r"\b[0-9]{1,4}[a-z]?,? ((?:[a-z']+ ){1,3}(?:" + _TYPES + r"))\b", re.IGNORECASE),
    # "its on pudding lane": after on/in/at/along, any case
    re.compile(r"\b(?:on|in|at|along|down|up)\s+((?:[a-z']+ ){1,2}(?:" + _TYPES + r"))\b", re.IGNORECASE),
)
_NOT_NAMES = {"my", "our", "the", "a", "this", "that", "your", "his", "her", "their", "on", "in", "of", "at", "for"}


def _unknown_street(text: str) -> Optional[str]:
    for pattern in _UNKNOWN_STREET:
        for m in pattern.finditer(text):
            words = m.group(1).split()
            while len(words) > 1 and words[0].lower() in _NOT_NAMES:
                words = words[1:]
            if len(words) >= 2:
                return " ".join(STREET_TYPES.get(w.lower(), w.lower()) for w in words).title()
    return None


def resolve(text: str, gaz: Optional[Gazetteer] = None) -> Where:
    """Where `text` (a whole message, or an answer to "what's your postcode?") says, against `gaz` (the
    council's gazetteer by default). A postcode wins over a street; a valid postcode that isn't ours says
    whose it may be (see `Outcome`)."""
    gaz = gaz or gazetteer()
    text = text or ""
    tokens = _tokens(text)
    found = postcodes.find(text)
    if found is not None:
        return _from_postcode(found, text, tokens, gaz)
    short_answer = len(tokens) <= 3
    matches = _street_matches(tokens, gaz, short_answer)
    if matches and matches[0].score <= 1 - WRONG_TYPE:
        # Only the name matched, with another type: an unknown street, with the ones it may be.
        typed = " ".join(t.word for t in tokens[matches[0].start : matches[0].end]).title()
        suggestions = [_place(gaz.by_street(m.street)[0]) for m in matches if m.score <= 1 - WRONG_TYPE]
        return Where(Outcome.UNKNOWN_STREET, street=typed, choices=suggestions)
    if matches:
        top = [m for m in matches if m.score >= matches[0].score - 0.01]
        if len(top) > 1:  # "77 Swallow Rise, not Swallow Street": not the one denied
            top = [m for m in top if not (m.start > 0 and tokens[m.start - 1].word in _NEGATIONS)] or top
        if len(top) > 1:  # the one the house number goes with
            numbered = [m for m in top if _number_before(tokens, m.start) or _number_after(text, tokens, m.end)]
            top = numbered if len(numbered) == 1 else top
        if len(top) > 1:
            return Where(Outcome.SEVERAL, choices=[_place(gaz.by_street(m.street)[0]) for m in top])
        m = top[0]
        number = _number_before(tokens, m.start) or _number_after(text, tokens, m.end)
        return _on_street(m.street, number, gaz)
    attempt = postcodes.attempt(text, gaz.districts())
    if attempt is not None:
        return Where(Outcome.NOT_A_POSTCODE, postcode=attempt)
    unknown = _unknown_street(text)
    if unknown is not None:
        return Where(Outcome.UNKNOWN_STREET, street=unknown)
    return Where(Outcome.NOTHING)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres between two WGS84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def from_pin(lat: float, lon: float, gaz: Optional[Gazetteer] = None, max_metres: Optional[float] = None) -> Where:
    """The street nearest a shared location pin. FOUND with the pin's own `lat`/`lon` (more exact than the
    street's point, for a report) and the nearest row; PIN_TOO_FAR when no gazetteer point is within
    `max_metres` (setting PLACE_PIN_MAX_METRES, default 400): a pin in the sea or another council's area.
    `distance_m` says how far the nearest point was either way."""
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        # Not a point on Earth (a broken client's pin): angles wrap round, so 412.63 would otherwise pass for
        # 52.63 and be sent to the back office as it is; infinity can't be measured at all.
        return Where(Outcome.PIN_TOO_FAR)
    gaz = gaz or gazetteer()
    limit = settings().place_pin_max_metres if max_metres is None else max_metres
    nearest = min(gaz.rows, key=lambda r: distance_m(lat, lon, r.lat, r.lon))
    metres = distance_m(lat, lon, nearest.lat, nearest.lon)
    if metres > limit:
        return Where(Outcome.PIN_TOO_FAR, distance_m=metres)
    place = Place(nearest.street, None, nearest.postcode, nearest.ward, lat, lon, nearest)
    return Where(Outcome.FOUND, place=place, distance_m=metres)
