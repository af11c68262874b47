"""What makes a service valid, and a redirect and the council details, which the same content carries.

This module is the one home of those rules. The YAML load (`knowledge/catalogue/content.py`), the CSV import
(`knowledge/catalogue/transfer.py`) and the editor's form (`knowledge/catalogue/editing.py`) all check through
`validate_service`, `validate_redirect` and `validate_council`, and store the values these return. Each
entry point reports problems its own way (file:line, spreadsheet row, beside the form field), but what
is refused and the words that say why come from here only: a `FieldError` names its field, and its message
starts with the field's name ("url '…' is not on an allowed site (…)"), whichever door the value came in by.

The rules, field by field (see the `Field(...)` declarations below):
- required fields: None, "" and [] count as missing; unknown fields are refused;
- lengths: a text field held in a `String(n)` column may be at most n characters, read from the column in
  `knowledge/models.py` so the two can't drift (PostgreSQL would refuse longer text with no useful message);
  text held in `Text` columns has an editorial limit instead (a summary residents read in a chat bubble);
- characters: no control characters (U+0000-U+001F, U+007F-U+009F) and no Unicode direction overrides or
  isolates (U+202A-U+202E, U+2066-U+2069) or byte-order marks (U+FEFF) anywhere; single-line text (titles,
  keys, links, phone numbers, owners, list items) also refuses line breaks, tabs and every invisible
  character of `knowledge.understanding.text.INVISIBLE_RE` (zero-width spaces and joiners, direction marks,
  soft hyphens).
  No editor means to type them, and they can make a title or link read differently from what it says.
  HTML is not refused: the channels and the console always show content as text, never as markup, so
  `<b>` or `<script>` is shown literally, as typed, and refusing angle brackets would also refuse honest
  text ("under <16s");
- links: well-formed https:// addresses on one of the council's allowed sites (or a subdomain), which come
  from the council details and are passed in by the caller;
- key: lower-case words joined by dots (it names the model's intent); category: one lower-case word (it
  names an export file); phone numbers as UK residents dial them; review_by a date; flags true or false.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional
from urllib.parse import urlsplit

from pydantic import BaseModel, Extra, Field, ValidationError, validator
from pydantic.fields import ModelField
from sqlalchemy import Column

from knowledge import models
from knowledge.understanding.text import INVISIBLE_RE

KEY_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
CATEGORY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# UK numbers as residents dial them: 0300 123 4567, +44 300 123 4567, or short codes (111, 999, 116 123),
# optionally followed by a short note in brackets: "101 (999 in an emergency)".
PHONE_RE = re.compile(r"^(?:(?:\+44\s?|0)\d[\d ]{8,12}|\d{3}(?: \d{3})?)(?: \([^()]{1,60}\))?$")
# Editors' example questions per service: enough to describe a topic, few enough to match every message fast.
MAX_EXAMPLES, MAX_EXAMPLE_LENGTH = 50, 300
# Other lists (what you need, synonyms): a spreadsheet cell's worth, each item a phrase.
MAX_ITEMS, MAX_ITEM_LENGTH = 100, 200
# The category names a file in the YAML layout (`services/<category>.yml`), so it is kept shorter than its
# column allows.
MAX_CATEGORY_LENGTH = 50
# Editorial limits for text kept in `Text` columns (no database limit): what fits an answer in a chat.
SUMMARY_LENGTH, ELIGIBILITY_LENGTH, DETAIL_LENGTH = 600, 1000, 600
# Bidi embeddings/overrides/isolates (they reorder how text is displayed: "Trojan source") and the
# byte-order mark: refused even in multi-line text.
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {0xFEFF}

# How a field is checked: its `kind` (see `_check_value`).
LINE, TEXT, PHONE, URL, KEY, CATEGORY, DATE, FLAG, LIST = (
    "line",
    "text",
    "phone",
    "url",
    "key",
    "category",
    "date",
    "flag",
    "list",
)

# The key names the model's intent, the category an export file: what each must look like, and the words.
_SHAPES = {
    KEY: (KEY_RE, "must be lower-case words joined by dots, like bins.missed"),
    CATEGORY: (CATEGORY_RE, "must be one lower-case word (letters, digits, _), like bins"),
}

# The council's allowed sites while one entry is validated: pydantic 1 has no validation context, so
# `_validate` sets this around each parse (a ContextVar, so concurrent validations never see each other's).
_ALLOWED_DOMAINS: ContextVar[tuple[str, ...]] = ContextVar("allowed_domains", default=())


def column_length(column: Column) -> int:
    """The length of a `String(n)` column: the most characters the database will store."""
    return int(column.type.length)


@dataclass(frozen=True)
class FieldError:
    """One problem with one field. `message` starts with the field's name and reads the same wherever
    it is shown; `field` is "" for no single field."""

    field: str
    message: str


class Checked(NamedTuple):
    """What validation found: the values to store (column names, normalised) when there are no errors,
    else None and every field's problem."""

    values: Optional[dict[str, Any]]
    errors: list[FieldError]


def url_problem(value: Any, allowed_domains: Sequence[str]) -> Optional[str]:
    """Why `value` is not an acceptable link for residents, or None if it is. No allowed domains means
    any site (the council details list none yet)."""
    if not isinstance(value, str):
        return "must be text"
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or " " in value:
        return f"'{value}' is not a well-formed https:// address"
    host = parts.hostname.lower()
    if allowed_domains and not any(host == d or host.endswith("." + d) for d in allowed_domains):
        return f"'{value}' is not on an allowed site ({', '.join(allowed_domains)})"
    return None


def character_problem(text: str, single_line: bool) -> Optional[str]:
    """The first character no editor means to type in `text`, described with its position, or None."""
    for position, char in enumerate(text, 1):
        code = ord(char)
        if not single_line and char in "\n\t":
            continue
        if unicodedata.category(char) == "Cc" or code in _BIDI or (single_line and INVISIBLE_RE.match(char)):
            return f"a control character (U+{code:04X}) at character {position}"
    return None


def _check_value(name: str, value: Any, field: ModelField) -> Any:
    """`value` checked and normalised for field `name`, or ValueError saying what is wrong with it."""
    kind = field.field_info.extra["kind"]
    limit = field.field_info.max_length
    if kind == PHONE and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # YAML reads `emergency: 999` as a number
    if kind == TEXT and isinstance(value, str):
        value = value.replace("\r\n", "\n").replace("\r", "\n")  # a form's text box sends \r\n
    if isinstance(value, str):
        value = value.strip()
    if kind == LIST and isinstance(value, list):  # bare numbers like 111 are words too
        value = [(str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for v in value]
        value = [v.strip() if isinstance(v, str) else v for v in value]
    if value is None or value == "" or value == []:
        if field.required:
            raise ValueError(f"missing required field '{name}'")
        return field.get_default()

    if kind == DATE:
        if not isinstance(value, dt.date):
            raise ValueError(f"{name} '{value}' must be a date like 2027-03-31")
        return value
    if kind == FLAG:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if kind == LIST:
        return _check_list(name, value, field)
    if not isinstance(value, str):
        raise ValueError(f"{name} '{value}' {_SHAPES[kind][1]}" if kind in _SHAPES else f"{name} must be text")
    problem = character_problem(value, single_line=kind != TEXT)
    if problem:
        raise ValueError(f"{name} has {problem}; retype that part of the text")
    if limit is not None and len(value) > limit:
        raise ValueError(f"{name} is {len(value)} characters; keep it under {limit}")
    if kind == PHONE and not PHONE_RE.match(value):
        raise ValueError(f"{name} '{value}' is not a UK phone number like 0300 123 4567")
    if kind == URL and (problem := url_problem(value, _ALLOWED_DOMAINS.get())):
        raise ValueError(f"{name} {problem}")
    if kind in _SHAPES and not _SHAPES[kind][0].match(value):
        raise ValueError(f"{name} '{value}' {_SHAPES[kind][1]}")
    return value


def _check_list(name: str, value: Any, field: ModelField) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{name} must be a list of text items")
    for number, item in enumerate(value, 1):
        if problem := character_problem(item, single_line=True):
            raise ValueError(f"{name} has {problem} of item {number}; retype that part of the text")
    most, longest = field.field_info.max_items, field.field_info.extra.get("item_length")
    if name == "examples":
        if len(value) > MAX_EXAMPLES or any(len(v) > MAX_EXAMPLE_LENGTH for v in value):
            raise ValueError(
                f"examples: at most {MAX_EXAMPLES} questions of up to {MAX_EXAMPLE_LENGTH} characters each"
            )
        return value
    if most is not None and len(value) > most:
        raise ValueError(f"{name} has {len(value)} items; keep it under {most}")
    if longest is not None and (length := max(len(v) for v in value)) > longest:
        raise ValueError(f"{name} has an item of {length} characters; keep each under {longest}")
    return value


class _Entry(BaseModel):
    """Shared by the entries below: unknown fields are refused, and every field goes through
    `_check_value` first, so all messages are ours rather than pydantic's."""

    class Config:
        extra = Extra.forbid

    @validator("*", pre=True)
    def _check(cls, value: Any, field: ModelField) -> Any:  # noqa: N805 - pydantic passes the class
        return _check_value(field.name, value, field)


def _line(column: Column, required: bool = True) -> Any:
    return Field(... if required else None, max_length=column_length(column), kind=LINE)


def _phone(column: Column, required: bool = True) -> Any:
    return Field(... if required else None, max_length=column_length(column), kind=PHONE)


def _url(column: Column, required: bool = True) -> Any:
    return Field(... if required else None, max_length=column_length(column), kind=URL)


def _list(required: bool, limited: bool = True) -> Any:
    limits: dict[str, Any] = {"max_items": MAX_ITEMS, "item_length": MAX_ITEM_LENGTH} if limited else {}
    if required:
        return Field(..., kind=LIST, **limits)
    return Field(default_factory=list, kind=LIST, **limits)


# The tables' columns, whose lengths the schema takes as its own.
_S, _R, _C = models.Service.__table__.c, models.Redirect.__table__.c, models.Council.__table__.c


class ServiceSchema(_Entry):
    """A council service as editors write it (YAML, CSV row, editor form); field names are the columns'."""

    key: str = Field(..., max_length=column_length(_S.key), kind=KEY)
    title: str = _line(_S.title)
    url: str = _url(_S.url)
    category: str = Field(..., max_length=MAX_CATEGORY_LENGTH, kind=CATEGORY)
    summary: str = Field(..., max_length=SUMMARY_LENGTH, kind=TEXT)
    what_you_need: list[str] = _list(required=False)
    phone: str = _phone(_S.phone)
    eligibility: Optional[str] = Field(None, max_length=ELIGIBILITY_LENGTH, kind=TEXT)
    cost: Optional[str] = Field(None, max_length=DETAIL_LENGTH, kind=TEXT)
    timing: Optional[str] = Field(None, max_length=DETAIL_LENGTH, kind=TEXT)
    synonyms: list[str] = _list(required=True)
    examples: list[str] = _list(required=False)
    owner: str = _line(_S.owner)
    review_by: dt.date = Field(..., kind=DATE)
    always_human: bool = Field(False, kind=FLAG)
    active: bool = Field(True, kind=FLAG)  # retired services stay in the table, no longer offered


class RedirectSchema(_Entry):
    """Another body residents are sent to. `to` reads after "contact" and is stored as `to_name`."""

    key: str = Field(..., max_length=column_length(_R.key), kind=KEY)
    to: str = _line(_R.to_name)
    url: Optional[str] = _url(_R.url, required=False)
    phone: Optional[str] = _phone(_R.phone, required=False)
    summary: str = Field(..., max_length=SUMMARY_LENGTH, kind=TEXT)
    synonyms: list[str] = _list(required=False)


class CouncilSchema(_Entry):
    """The council-wide details. `allowed_domains` are the sites links may point to (subdomains too)."""

    name: str = _line(_C.name)
    site: str = _url(_C.site)
    phone: str = _phone(_C.phone)
    opening_hours: str = _line(_C.opening_hours)
    out_of_hours_social_care: str = _phone(_C.out_of_hours_social_care)
    emergency: str = _phone(_C.emergency)
    samaritans: str = _phone(_C.samaritans)
    allowed_domains: list[str] = _list(required=True, limited=False)


def _fields(schema: type[_Entry]) -> dict[str, bool]:
    return {name: f.required is True for name, f in schema.__fields__.items()}


# field name -> required?, in the order files and spreadsheets show them
SERVICE_FIELDS = _fields(ServiceSchema)
REDIRECT_FIELDS = _fields(RedirectSchema)
COUNCIL_FIELDS = _fields(CouncilSchema)


def _validate(schema: type[_Entry], data: Mapping[str, Any], allowed_domains: Iterable[str]) -> Checked:
    token = _ALLOWED_DOMAINS.set(tuple(d.lower() for d in allowed_domains if isinstance(d, str)))
    try:
        entry = schema.parse_obj(dict(data))
    except ValidationError as exc:
        return Checked(None, [_field_error(schema, e) for e in exc.errors()])
    finally:
        _ALLOWED_DOMAINS.reset(token)
    return Checked(entry.dict(), [])


def _field_error(schema: type[_Entry], error: Mapping[str, Any]) -> FieldError:
    name = str(error["loc"][0]) if error["loc"] else ""
    if error["type"] == "value_error.missing":
        return FieldError(name, f"missing required field '{name}'")
    if error["type"] == "value_error.extra":
        return FieldError(name, f"unknown field '{name}' (allowed: {', '.join(schema.__fields__)})")
    if error["type"] == "value_error":  # ours, raised by `_check_value`
        return FieldError(name, error["msg"])
    return FieldError(name, f"{name}: {error['msg']}")  # pydantic's own: unreachable while `_check_value` runs first


def validate_service(data: Mapping[str, Any], allowed_domains: Iterable[str]) -> Checked:
    """A service's fields (as `SERVICE_FIELDS` names them) checked: its values to store, or its problems.
    `allowed_domains` are the council's allowed sites for its link."""
    return _validate(ServiceSchema, data, allowed_domains)


def validate_redirect(data: Mapping[str, Any], allowed_domains: Iterable[str]) -> Checked:
    """A redirect checked; its values use the column names (`to` is stored as `to_name`)."""
    checked = _validate(RedirectSchema, data, allowed_domains)
    if checked.values is not None:
        checked.values["to_name"] = checked.values.pop("to")
    return checked


def allowed_domains_of(council: Mapping[str, Any]) -> list[str]:
    """The council details' allowed sites, lower-case (ignoring anything that is not text)."""
    return [d.lower() for d in (council.get("allowed_domains") or []) if isinstance(d, str)]


def validate_council(data: Mapping[str, Any]) -> Checked:
    """The council details checked; its own site must be on its own allowed sites."""
    return _validate(CouncilSchema, data, allowed_domains_of(data))
