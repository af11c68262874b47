"""The problems residents can report in the chat: eight categories, each with the one extra question the
back office needs (the "detail") and the words residents and staff see.

`key` is what is stored (`Report.category`, `ReportDraft.category`) and, unless OPEN311_SERVICE_CODES says
otherwise, the Open311 service code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Category:
    """One kind of problem. `name` is how residents and staff read it ("a pothole"); `detail_key` names the
    answer in `details`; `detail_question` is asked once, with `detail_options` as buttons (empty: free text)."""

    key: str
    name: str
    detail_key: str
    detail_question: str
    detail_options: tuple[str, ...] = ()


CATEGORIES: tuple[Category, ...] = (
    Category("pothole", "a pothole", "dangerous", "Is it dangerous to traffic or people walking?", ("Yes", "No")),
    Category(
        "street_light",
        "a street light fault",
        "fault",
        "What's wrong with the light?",
        ("Not working", "On all day", "Flickering", "Damaged"),
    ),
    Category(
        "fly_tipping",
        "fly-tipping",
        "size",
        "How much has been dumped?",
        ("A bag or two", "A car boot load", "A van load or more"),
    ),
    Category("graffiti", "graffiti", "offensive", "Is it offensive?", ("Yes", "No")),
    Category(
        "dog_fouling", "dog fouling", "where", "Where is it?", ("Pavement", "Park", "Play area", "Somewhere else")
    ),
    Category(
        "abandoned_vehicle",
        "an abandoned vehicle",
        "registration",
        "What's the number plate, if you can see it?",
    ),
    Category(
        "missed_bin",
        "a missed bin",
        "bin",
        "Which bin was missed?",
        ("General waste", "Recycling", "Garden waste", "Food waste"),
    ),
    Category("noise", "a noise problem", "when", "When does the noise happen?", ("Day", "Night", "Both")),
)

BY_KEY: dict[str, Category] = {c.key: c for c in CATEGORIES}


def get(key: Optional[str]) -> Optional[Category]:
    """The category stored as `key`, or None if there is no such category."""
    return BY_KEY.get(key or "")
