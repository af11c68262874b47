"""A report's status: ours, what residents are told about each, and how Open311 statuses map onto them.

Our statuses follow mySociety's extension of GeoReport v2 (FixMyStreet's states), so a back office that
speaks it maps one to one; a plain GeoReport v2 server only says `open` or `closed`.
"""

from __future__ import annotations

from typing import Optional

# In the order a report usually moves through them.
STATUSES: tuple[str, ...] = (
    "open",
    "investigating",
    "action_scheduled",
    "in_progress",
    "fixed",
    "no_further_action",
    "not_councils_responsibility",
    "duplicate",
    "closed",
)

# Still being dealt with: offered as a duplicate to the next resident, polled for changes.
OPEN_STATUSES: frozenset[str] = frozenset({"open", "investigating", "action_scheduled", "in_progress"})

# What a resident is told when their report reaches each status: one short sentence, plain English.
_RESIDENT_WORDS: dict[str, str] = {
    "open": "We've got your report and will look at it soon.",
    "investigating": "We're looking into it.",
    "action_scheduled": "We've inspected it and the repair is booked.",
    "in_progress": "Work to put it right has started.",
    "fixed": "It's been fixed. Thank you for telling us.",
    "no_further_action": "We've looked at it and decided no work is needed.",
    "not_councils_responsibility": "It isn't something the council looks after, so we've closed your report.",
    "duplicate": "Someone else reported this too, so we're dealing with it on their report.",
    "closed": "We've closed your report.",
}

# Staff see these in the console.
_STAFF_LABELS: dict[str, str] = {
    "open": "Open",
    "investigating": "Investigating",
    "action_scheduled": "Action scheduled",
    "in_progress": "In progress",
    "fixed": "Fixed",
    "no_further_action": "No further action",
    "not_councils_responsibility": "Not the council's responsibility",
    "duplicate": "Duplicate",
    "closed": "Closed",
}

# Open311 (plain `open`/`closed` and mySociety's extension values) to ours. Keys are upper case; lookups
# upper-case what the server sent.
_FROM_OPEN311: dict[str, str] = {
    "OPEN": "open",
    "INVESTIGATING": "investigating",
    "IN_PROGRESS": "in_progress",
    "ACTION_SCHEDULED": "action_scheduled",
    "FIXED": "fixed",
    "NO_FURTHER_ACTION": "no_further_action",
    "NOT_COUNCILS_RESPONSIBILITY": "not_councils_responsibility",
    "DUPLICATE": "duplicate",
    "CLOSED": "closed",
}


def is_open(status: str) -> bool:
    """True while the report is still being dealt with (not fixed, closed or otherwise finished)."""
    return status in OPEN_STATUSES


def resident_words(status: str) -> str:
    """The sentence a resident gets about `status`. Raises KeyError for a status that isn't ours."""
    return _RESIDENT_WORDS[status]


def staff_label(status: str) -> str:
    """How the console names `status`."""
    return _STAFF_LABELS.get(status, status)


def from_open311(value: Optional[str]) -> Optional[str]:
    """Our status for an Open311 status (`open`, `closed`, `IN_PROGRESS`…; any case, spaces read as
    underscores). None when the value is missing or unknown: the caller keeps the report's status."""
    if not value:
        return None
    return _FROM_OPEN311.get(value.strip().upper().replace(" ", "_"))
