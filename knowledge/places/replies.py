"""Every sentence residents see about places, bin days and gritting: one function per outcome.

Plain English, short enough for a phone screen, no jargon. Dates read "Wednesday 2 December", or "today"
and "tomorrow". Nothing here looks anything up: callers pass in what to say, so the wording can be tested
on its own and changed in one place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Optional

from knowledge.places.gritting import GrittingNotice
from knowledge.places.where import Outcome, Place, Where

FIND_LOCAL_COUNCIL = "https://www.gov.uk/find-local-council"
EXAMPLE_POSTCODE = "NS1 3NA"  # a real one of the demo council's, as an example of the shape

ROUTE_WORDS = {
    "primary": "is on a main gritting route. We treat it every time we grit",
    "secondary": (
        "is on a second-priority gritting route. We treat it after prolonged snow, once the main routes are clear"
    ),
    "none": "is not on a gritting route, so we do not usually grit it",
}


def ask_place(url: Optional[str] = None, public: bool = False) -> str:
    """The question the place form asks; with `url`, where to look it up instead. In a public comment the
    bot never asks for an address where everyone can read it: a private message instead."""
    if public:
        look = f"You can look it up here: {url}\n" if url else ""
        return f"{look}Or send us your postcode in a private message and I'll tell you."
    question = "What's your postcode, or street and house number?"
    return f"{question}\nOr look it up yourself: {url}" if url else question


def date_words(day: dt.date, today: dt.date) -> str:
    """ "today", "tomorrow", or "Wednesday 2 December" (the year only when it isn't this year's)."""
    if day == today:
        return "today"
    if day == today + dt.timedelta(days=1):
        return "tomorrow"
    words = f"{day:%A} {day.day} {day:%B}"
    return words if day.year == today.year else f"{words} {day.year}"


def _choices(places: Sequence[Place]) -> str:
    names = [p.street for p in places]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def where_problem(where: Where, council_phone: Optional[str] = None, council_name: str = "the council") -> str:
    """The sentence for any outcome but FOUND: what went wrong and what to send instead. `council_phone`
    is added where a person may help (an unknown street or postcode)."""
    call = f" Or call us on {council_phone}." if council_phone else ""
    o = where.outcome
    if o is Outcome.SEVERAL:
        return f"There's more than one street like that: {_choices(where.choices)}. Which one is it?"
    if o is Outcome.NUMBER_NOT_ON_STREET and where.place is not None:
        number = f"number {where.house_number}" if where.house_number else "that number"
        if where.postcode:
            return (
                f"There's no {number} in {where.postcode}: it covers {where.numbers} {where.place.street}. "
                "Check the number or the postcode."
            )
        return (
            f"There's no {number} on {where.place.street}: it has numbers {where.numbers}. "
            "Check the number, or send your postcode."
        )
    if o is Outcome.NOT_A_POSTCODE:
        if where.suggestion:
            return f"{where.postcode} isn't a postcode I recognise. Did you mean {where.suggestion}?"
        return (
            f"That isn't a postcode I recognise. A full postcode looks like {EXAMPLE_POSTCODE}. "
            "You can send your street and house number instead."
        )
    if o is Outcome.OUTSIDE_AREA:
        return (
            f"{where.postcode} isn't in {council_name}'s area, so another council looks after it. "
            f"Find your local council on GOV.UK: {FIND_LOCAL_COUNCIL}"
        )
    if o is Outcome.UNKNOWN_POSTCODE:
        return f"I can't find {where.postcode}. Check it, or send your street and house number.{call}"
    if o is Outcome.UNKNOWN_STREET:
        named = where.street or "that street"
        if where.choices:
            return f"I can't find {named} in our area. Did you mean {_choices(where.choices)}?"
        return f"I can't find {named} in our area. Check the spelling, or send your postcode.{call}"
    if o is Outcome.PIN_TOO_FAR:
        return (
            "That location isn't near any street I know in our area. Send your postcode, or street and house "
            "number, instead."
        )
    return "I couldn't see a place in that. Send your postcode, or street and house number."


def bin_day_answer(
    place: Place,
    general: dt.date,
    recycling: dt.date,
    today: dt.date,
    url: Optional[str] = None,
    general_moved: bool = False,
    recycling_moved: bool = False,
    needs_number: bool = False,
    public: bool = False,
) -> str:
    """The next collections for a place:

        Bin collections for 14 Swallow Street, NS1 3NA:
        General waste: today.
        Recycling and garden waste: Wednesday 9 December.

    `general_moved`, `recycling_moved`: a bank holiday moved that collection a day later. `needs_number`:
    the street was found without a number and its parts have different days, so the answer is for one part
    of it and the resident is asked for their number. `public`: a reply everyone can read names the street
    only, never the house number or postcode."""
    if public:
        where = place.street
    elif place.house_number or not needs_number:
        where = place.address
    else:
        where = f"{place.street} ({place.postcode})"
    late = " (a day later than usual because of the bank holiday)"
    lines = [
        f"Bin collections for {where}:",
        f"General waste: {date_words(general, today)}{late if general_moved else ''}.",
        f"Recycling and garden waste: {date_words(recycling, today)}{late if recycling_moved else ''}.",
    ]
    if needs_number:
        lines.append("Parts of the street have different days: send your house number to check yours.")
    if url:
        lines.append(f"Your collection calendar: {url}")
    return "\n".join(lines)


def gritting_answer(place: Place, notices: Sequence[GrittingNotice], url: Optional[str] = None) -> str:
    """Is the place's street gritted: its route in words, then the gritting notices in force ("Gritters are
    out tonight..."), or that none is planned tonight."""
    route = ROUTE_WORDS.get(place.row.gritting_route, ROUTE_WORDS["none"])
    lines = [f"{place.street} {route}."]
    if notices:
        lines += [f"{n.title}: {n.body}".replace("..", ".") if n.title else n.body for n in notices]
    else:
        lines.append("We have no gritting planned tonight.")
    if url:
        lines.append(f"Routes and grit bins: {url}")
    return "\n".join(lines)


def gave_up(url: Optional[str], phone: Optional[str]) -> str:
    """After two re-asks: where to look it up, or who to call."""
    parts = ["Sorry, I still can't find that address."]
    if url:
        parts.append(f"You can look it up here: {url}")
    if phone:
        parts.append(f"Or call us on {phone}.")
    return "\n".join(parts)


def unavailable(url: Optional[str], phone: Optional[str]) -> str:
    """The address look-up itself failed (the gazetteer couldn't be read): where else to find the answer."""
    parts = ["Sorry, I can't look up addresses just now."]
    if url:
        parts.append(f"You can check on our website: {url}")
    if phone:
        parts.append(f"Or call us on {phone}.")
    return "\n".join(parts)


def stopped() -> str:
    """The resident said stop or cancel."""
    return "OK, I've stopped. What else can I help with?"
