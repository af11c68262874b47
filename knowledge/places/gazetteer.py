"""The council's gazetteer: every street and postcode it serves, read from a CSV file (setting
`GAZETTEER_PATH`, by default the shipped `knowledge/content/places/gazetteer.csv`).

One row is one stretch of a street with one postcode: its ward, the house numbers on it, a map point, and
what the council does there (which weekday general waste goes, recycling week A or B, gritting route).
A file with a bad row is refused whole, with an error naming the line and the column, so an editor's
mistake can't quietly send residents the wrong bin day. Loaded files are kept per path (`load`), so reading
the gazetteer on every message is cheap; a changed file is read again (the cache key includes its mtime).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

from knowledge.places.postcodes import district, normalise
from knowledge.settings import settings

COLUMNS = (
    "street",
    "postcode",
    "ward",
    "house_numbers",
    "lat",
    "lon",
    "bin_day",
    "recycling_week",
    "gritting_route",
)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
RECYCLING_WEEKS = ("A", "B")  # A: odd ISO week number, B: even
GRITTING_ROUTES = ("primary", "secondary", "none")
_NUMBERS = re.compile(r"^\s*(\d{1,5})\s*(?:-\s*(\d{1,5}))?\s*$")


class GazetteerError(ValueError):
    """The gazetteer file can't be used; the message names the file, line and column."""


@dataclass(frozen=True)
class Row:
    """One stretch of one street with one postcode.

    `first_number`..`last_number`: the house numbers on this stretch (inclusive; "1-40", or "7" for one).
    `lat`, `lon`: a WGS84 point on the street (maps, Open311's lat/long). `bin_weekday`: the weekday general
    waste is collected every week, Monday=0 .. Sunday=6. `recycling_week`: "A" (recycling in odd ISO weeks)
    or "B" (even). `gritting_route`: "primary" (treated on every run), "secondary" (after prolonged snow) or
    "none". `line`: where the row is in the file (1 is the header), for editors."""

    street: str
    postcode: str
    ward: str
    first_number: int
    last_number: int
    lat: float
    lon: float
    bin_weekday: int
    recycling_week: str
    gritting_route: str
    line: int = 0

    @property
    def house_numbers(self) -> str:
        """The numbers as residents read them: "1 to 40", or "7"."""
        if self.first_number == self.last_number:
            return str(self.first_number)
        return f"{self.first_number} to {self.last_number}"

    @property
    def bin_day(self) -> str:
        """The collection weekday's name: "Wednesday"."""
        return WEEKDAYS[self.bin_weekday].capitalize()

    @property
    def district(self) -> str:
        """The postcode district ("NS1"), as area notices name it."""
        return district(self.postcode)

    def has_number(self, number: int) -> bool:
        """Is house `number` on this stretch?"""
        return self.first_number <= number <= self.last_number


class Gazetteer:
    """All rows of one gazetteer file, in file order (`rows`), with look-ups by postcode and street. Built
    once per file and shared: nothing changes it after loading."""

    def __init__(self, rows: Iterable[Row], path: Optional[Path] = None) -> None:
        self.rows: tuple[Row, ...] = tuple(rows)
        self.path = path
        by_postcode: dict[str, list[Row]] = {}
        by_street: dict[str, list[Row]] = {}
        for row in self.rows:
            by_postcode.setdefault(row.postcode, []).append(row)
            by_street.setdefault(row.street.lower(), []).append(row)
        self._by_postcode = {k: tuple(v) for k, v in by_postcode.items()}
        self._by_street = {k: tuple(sorted(v, key=lambda r: r.first_number)) for k, v in by_street.items()}

    def __repr__(self) -> str:
        return f"Gazetteer({len(self.rows)} rows from {self.path or 'text'})"

    def by_postcode(self, postcode: str) -> tuple[Row, ...]:
        """Rows with this postcode (any spelling: "ns13na" finds "NS1 3NA"); none if unknown."""
        return self._by_postcode.get(normalise(postcode) or "", ())

    def by_street(self, street: str) -> tuple[Row, ...]:
        """Rows of the street with exactly this name (any case), lowest house numbers first."""
        return self._by_street.get(street.strip().lower(), ())

    def streets(self) -> list[str]:
        """Every street name once, in file order."""
        return list(dict.fromkeys(r.street for r in self.rows))

    def postcodes(self) -> list[str]:
        """Every postcode once, in file order."""
        return list(self._by_postcode)

    def districts(self) -> set[str]:
        """The postcode districts the council serves ("NS1", "NS2", ...): a valid postcode in any other
        district belongs to another council."""
        return {r.district for r in self.rows}


def _parse_row(values: dict[str, str], line: int, where: str) -> Row:
    def bad(column: str, why: str) -> GazetteerError:
        return GazetteerError(f"{where}, line {line}, column {column}: {why}")

    def text(column: str) -> str:
        value = (values.get(column) or "").strip()
        if not value:
            raise bad(column, "empty")
        return value

    postcode = normalise(text("postcode"))
    if postcode is None:
        raise bad("postcode", f"{values.get('postcode')!r} is not a UK postcode")
    numbers = _NUMBERS.match(text("house_numbers"))
    if numbers is None:
        raise bad("house_numbers", f"{values.get('house_numbers')!r} should be a range like 1-40, or one number")
    first = int(numbers.group(1))
    last = int(numbers.group(2) or first)
    if last < first:
        raise bad("house_numbers", f"{values.get('house_numbers')!r} ends before it starts")
    coords: list[float] = []
    for column, limit in (("lat", 90.0), ("lon", 180.0)):
        try:
            value = float(text(column))
        except ValueError:
            raise bad(column, f"{values.get(column)!r} is not a number") from None
        if not -limit <= value <= limit or value != value:
            raise bad(column, f"{value} is outside -{limit:g} to {limit:g}")
        coords.append(value)
    day = text("bin_day").lower()
    if day not in WEEKDAYS:
        raise bad("bin_day", f"{values.get('bin_day')!r} is not a weekday name like Wednesday")
    week = text("recycling_week").upper()
    if week not in RECYCLING_WEEKS:
        raise bad("recycling_week", f"{values.get('recycling_week')!r} should be A or B")
    route = text("gritting_route").lower()
    if route not in GRITTING_ROUTES:
        raise bad("gritting_route", f"{values.get('gritting_route')!r} should be primary, secondary or none")
    return Row(
        street=" ".join(text("street").split()),
        postcode=postcode,
        ward=text("ward"),
        first_number=first,
        last_number=last,
        lat=coords[0],
        lon=coords[1],
        bin_weekday=WEEKDAYS.index(day),
        recycling_week=week,
        gritting_route=route,
        line=line,
    )


def parse(lines: Iterable[str], where: str = "gazetteer") -> Gazetteer:
    """A gazetteer from CSV text (header row first). Raises GazetteerError naming `where`, the line and
    the column of the first problem."""
    reader = csv.DictReader(lines)
    rows = []
    try:
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise GazetteerError(f"{where}, line 1: missing column(s) {', '.join(missing)}")
        for values in reader:
            if not any((v or "").strip() for v in values.values() if isinstance(v, str)):
                continue  # a blank line between blocks is harmless
            rows.append(_parse_row(values, reader.line_num, where))
    except csv.Error as error:  # a field over 128 KB: the file is damaged, say where
        raise GazetteerError(f"{where}, line {reader.line_num + 1}: {error}") from None
    if not rows:
        raise GazetteerError(f"{where}: no streets")
    return Gazetteer(rows)


@lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int) -> Gazetteer:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return Gazetteer(parse(f, where=str(path)).rows, path)


def load(path: Path) -> Gazetteer:
    """The gazetteer in the CSV file at `path`, read once per path while the file is unchanged. Raises
    GazetteerError for a bad row (naming line and column), OSError if the file can't be read."""
    path = Path(path).resolve()
    return _load(path, path.stat().st_mtime_ns)


def gazetteer() -> Gazetteer:
    """The council's gazetteer (setting GAZETTEER_PATH; by default the shipped file)."""
    return load(settings().gazetteer_path)
