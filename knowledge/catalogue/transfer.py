"""Import and export of the whole knowledge base: the YAML layout of `knowledge/content/` and a CSV of
services for spreadsheets.

CSV layout: one row per service, the header row naming the `SERVICE_FIELDS` columns (export writes them
in that order; import takes any order but wants each exactly once). `what_you_need` and `synonyms` hold
their items joined with " | "; `always_human` and `active` are true or false; `review_by` is YYYY-MM-DD.
UTF-8, with or without a byte-order mark. Export writes every service, retired ones with active=false.
A CSV import changes services only; council details and redirects come from the YAML layout.

An import is planned before it is applied: `plan_import` compares the source with what is published and
says, service by service and field by field, what would change (the dry run); `apply_import` makes exactly
those changes in the caller's transaction, bumps each changed service's `version` (so an editor with the
old text open is told rather than overwriting the import), and records the result as a content version.
Any problem in the source means nothing is changed, and every problem is reported at once, located as
`file:line` (for a CSV the line is the spreadsheet row, header = row 1).

What a service may hold is `knowledge/catalogue/service_schema.py`'s to say, the same for a CSV row as for the YAML
files and the editor's form; this module only locates each problem at its row. HTML is kept as typed
(every channel shows content as text); control characters and Unicode direction overrides are refused.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from knowledge.catalogue.content import (
    LINE,
    Content,
    ContentError,
    ContentInvalid,
    _council_values,
    _redirect_values,
    _service_values,
    read_content,
    validate,
)
from knowledge.catalogue.editing import ConflictError, EditError, ensure_baseline, record_version
from knowledge.catalogue.service_schema import COUNCIL_FIELDS, SERVICE_FIELDS
from knowledge.delivery.conversations import utcnow
from knowledge.models import Council, Redirect, Service, as_dict

COLUMNS = list(SERVICE_FIELDS)
LIST_FIELDS = ("what_you_need", "synonyms", "examples")
BOOL_FIELDS = ("always_human", "active")
LIST_SEPARATOR = " | "
MAX_CSV_BYTES = 2 * 1024 * 1024
MAX_ROWS = 2000
MAX_ERRORS = 100  # a wholly wrong file would otherwise list thousands; the first hundred say enough


# --- CSV -------------------------------------------------------------------------------------------------


# A cell starting with one of these runs as a formula when a spreadsheet opens the file ("CSV injection").
# Export puts an apostrophe in front, as spreadsheets themselves do, and import takes it off again.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name in LIST_FIELDS:
        text = LIST_SEPARATOR.join(str(v) for v in value or [])
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dt.date):
        text = value.isoformat()
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _uncell(raw: str) -> str:
    """A cell as exported: without the apostrophe that defused a formula-like start."""
    return raw[1:] if raw.startswith("'") and raw[1:].startswith(_FORMULA_START) else raw


def export_csv(session: Session) -> str:
    """Every service (retired ones with active=false) as CSV text, header first. Write it as UTF-8; with a
    byte-order mark ("utf-8-sig") spreadsheets open it with the right characters."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for svc in session.execute(select(Service).order_by(Service.key)).scalars():
        values = as_dict(svc)
        writer.writerow([_cell(name, values.get(name)) for name in COLUMNS])
    return out.getvalue()


def _decode(data: Union[str, bytes], source_name: str, errors: list[ContentError]) -> Optional[str]:
    if isinstance(data, str):
        return data[1:] if data.startswith("\ufeff") else data
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):  # .xlsx (a zip) or .xls
        errors.append(
            ContentError(
                source_name,
                1,
                "this is a spreadsheet workbook, not a CSV file: in your "
                'spreadsheet use Save As and choose "CSV UTF-8"',
            )
        )
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data.count(b"\n", 0, exc.start) + 1
        errors.append(
            ContentError(
                source_name,
                row,
                f"this line has bytes that are not UTF-8 text (byte "
                f'{exc.start + 1}). Save the file as "CSV UTF-8" and try again',
            )
        )
        return None


def _row_to_item(row: list[str], header: list[str]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for name, raw in zip(header, row, strict=False):
        text = _uncell(raw.strip()).replace("\r\n", "\n").replace("\r", "\n").strip()
        value: Any
        if name in LIST_FIELDS:
            value = [part.strip() for part in text.split("|")] if text else None
        elif text == "":
            value = None
        elif name in BOOL_FIELDS:
            # Anything else stays text, and `validate` says it must be true or false.
            value = {"true": True, "false": False}.get(text.lower(), text)
        elif name == "review_by":
            try:
                value = dt.date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else text
            except ValueError:  # 2027-02-30: left as text for `validate` to call not a date
                value = text
        else:
            value = text
        if value is not None:
            item[name] = value
    return item


def read_csv(data: Union[str, bytes], source_name: str) -> tuple[list[dict], list[ContentError]]:
    """Services from CSV `data` (text, or bytes in UTF-8) as the dicts `read_content` makes, each with
    `__file__` = `source_name` and `__line__` = its row (header = 1). The errors are the file's structure
    (header, quoting, cells per row, encoding, size); field values are checked by `check`."""
    errors: list[ContentError] = []
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    if size > MAX_CSV_BYTES:
        errors.append(
            ContentError(
                source_name,
                1,
                f"the file is {size / 1024 / 1024:.1f} MB; the most that can be "
                f"imported at once is {MAX_CSV_BYTES // 1024 // 1024} MB",
            )
        )
        return [], errors
    text = _decode(data, source_name, errors)
    if text is None:
        return [], errors
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    number = 0
    try:
        for row in reader:
            number += 1
            rows.append((number, row))
            if number > MAX_ROWS + 1:
                errors.append(ContentError(source_name, number, f"more than {MAX_ROWS} services; split the file"))
                return [], errors
    except csv.Error as exc:
        # The reader can't find where this row ends, so the rows after it can't be trusted either.
        errors.append(
            ContentError(
                source_name,
                number + 1,
                f"row {number + 1} can't be read: {exc}. Check the "
                "quotes in this row: a cell with a comma, quote or "
                "line break must be in double quotes, and a quote "
                'inside it written twice ("")',
            )
        )
        return [], errors
    if not rows or not any(cell.strip() for cell in rows[0][1]):
        errors.append(ContentError(source_name, 1, f"the first row must name the columns: {', '.join(COLUMNS)}"))
        return [], errors

    header = [cell.strip().lower() for cell in rows[0][1]]
    while header and not header[-1]:  # empty columns a spreadsheet kept at the right
        header.pop()
    seen: set[str] = set()
    for name in header:
        if name in seen:
            errors.append(ContentError(source_name, 1, f"column '{name}' appears twice in the header"))
        elif name not in SERVICE_FIELDS:
            errors.append(ContentError(source_name, 1, f"unknown column '{name}' (allowed: {', '.join(COLUMNS)})"))
        seen.add(name)
    for name in COLUMNS:
        if name not in seen:
            errors.append(ContentError(source_name, 1, f"missing column '{name}'"))
    if errors:
        return [], errors

    items = []
    for number, row in rows[1:]:
        if not any(cell.strip() for cell in row):
            continue  # blank rows: spreadsheets leave them at the end
        if len(row) > len(header) and not any(cell.strip() for cell in row[len(header) :]):
            row = row[: len(header)]
        if len(row) != len(header):
            errors.append(
                ContentError(
                    source_name,
                    number,
                    f"row {number} has {len(row)} cells but the header has "
                    f"{len(header)}; check for a missing or extra comma",
                )
            )
            continue
        item = _row_to_item(row, header)
        item["__file__"], item[LINE] = source_name, number
        items.append(item)
    return items, errors


# --- checks -------------------------------------------------------------------------------------------------


def check(content: Content) -> list[ContentError]:
    """Everything wrong with `content` (the schema's rules and duplicate keys, as `validate` finds them),
    in file and row order."""
    return sorted(validate(content), key=lambda e: (e.path, e.line))


# --- planning ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    """One field of one item: what is published now (`before`) and what the import would publish."""

    field: str
    before: Any
    after: Any


@dataclass
class ImportPlan:
    """What importing `source` would do (the dry run), or why it can't: `errors` non-empty means nothing
    may be applied. Keys are service/redirect keys; `changed` maps a key to its field changes. After
    `apply_import`, `version` is the content version it published (None if there was nothing to change)."""

    source: str
    kind: str  # "csv" (services only) or "yaml" (council, services, redirects)
    errors: list[ContentError] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    changed: dict[str, list[FieldChange]] = field(default_factory=dict)
    retired: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    council: list[FieldChange] = field(default_factory=list)
    redirects_added: list[str] = field(default_factory=list)
    redirects_changed: dict[str, list[FieldChange]] = field(default_factory=dict)
    redirects_removed: list[str] = field(default_factory=list)
    version: Optional[int] = None
    # What apply writes: the source's values by key, and the service versions the plan was made against.
    _content: Content = field(default_factory=Content, repr=False)
    _services: dict[str, dict] = field(default_factory=dict, repr=False)
    _redirects: dict[str, dict] = field(default_factory=dict, repr=False)
    _base_versions: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def has_changes(self) -> bool:
        return bool(
            self.added
            or self.changed
            or self.retired
            or self.council
            or self.redirects_added
            or self.redirects_changed
            or self.redirects_removed
        )

    @property
    def fingerprint(self) -> str:
        """A digest of the changes, to tell whether a plan made later would do the same."""

        def changes(d: dict[str, list[FieldChange]]) -> dict:
            return {k: [(c.field, as_text(c.before), as_text(c.after)) for c in v] for k, v in sorted(d.items())}

        data = [
            self.source,
            self.kind,
            [str(e) for e in self.errors],
            self.added,
            changes(self.changed),
            self.retired,
            changes({"council": self.council}),
            self.redirects_added,
            changes(self.redirects_changed),
            self.redirects_removed,
        ]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()

    def summary(self) -> str:
        """One line for the version history."""
        parts = []
        for label, keys in (
            ("added", self.added),
            ("changed", list(self.changed)),
            ("retired", self.retired),
            ("added redirects", self.redirects_added),
            ("changed redirects", list(self.redirects_changed)),
            ("removed redirects", self.redirects_removed),
        ):
            if keys:
                parts.append(f"{label} {', '.join(keys)}")
        if self.council:
            parts.append(f"changed council {', '.join(c.field for c in self.council)}")
        return f"imported {Path(self.source).name}: " + ("; ".join(parts) or "no changes")

    def describe(self, width: int = 300) -> str:
        """The plan as text for people: problems, or what would be added, changed and retired."""
        name = Path(self.source).name
        if self.errors:
            lines = [f"{len(self.errors)} problem(s) in {name}; nothing can be imported until they are fixed:"]
            lines += [f"  {e}" for e in self.errors]
            return "\n".join(lines)
        scope = (
            "services only; council details and redirects are not changed"
            if self.kind == "csv"
            else "council details, services and redirects"
        )
        lines = [
            f"Import of {name} ({scope}):",
            f"  services: {len(self.added)} added, {len(self.changed)} changed, {len(self.retired)} retired, "
            f"{len(self.unchanged)} unchanged",
        ]
        if self.kind == "yaml":
            lines.append(
                f"  redirects: {len(self.redirects_added)} added, {len(self.redirects_changed)} changed, "
                f"{len(self.redirects_removed)} removed"
            )
        if not self.has_changes:
            lines.append("Nothing would change: the published content already matches.")
            return "\n".join(lines)

        def changes(title: str, d: dict[str, list[FieldChange]]) -> None:
            for key, field_changes in d.items():
                lines.append(f"{title} {key}:")
                for c in field_changes:
                    before, after = _short(as_text(c.before), width), _short(as_text(c.after), width)
                    lines.append(f"    {c.field}: {before} -> {after}")

        for key in self.added:
            lines.append(f"Add service {key}: {self._services[key].get('title', '')}")
        changes("Change service", self.changed)
        for key in self.retired:
            lines.append(f"Retire service {key} (no longer offered; its history is kept)")
        if self.council:
            changes("Change", {"council details": self.council})
        for key in self.redirects_added:
            lines.append(f"Add redirect {key}")
        changes("Change redirect", self.redirects_changed)
        for key in self.redirects_removed:
            lines.append(f"Remove redirect {key}")
        return "\n".join(lines)


def as_text(value: Any) -> str:
    """A field value as an editor would type it (lists as in the CSV), for diffs and fingerprints."""
    if value is None or value == []:
        return "(empty)"
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _short(text: str, width: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _diff(before: dict, after: dict, fields: list[str]) -> list[FieldChange]:
    def same(a: Any, b: Any) -> bool:
        return a == b or (a in (None, "", []) and b in (None, "", []))

    return [
        FieldChange(name, before.get(name), after.get(name))
        for name in fields
        if not same(before.get(name), after.get(name))
    ]


def _published_council(session: Session) -> dict:
    council = session.get(Council, 1)
    if council is None:
        return {}
    data = {k: v for k, v in as_dict(council).items() if k in COUNCIL_FIELDS and v not in (None, [])}
    return dict(data, __file__="published council details", **{LINE: 1})


def _make_plan(
    session: Session, content: Content, kind: str, source: str, errors: Optional[list[ContentError]] = None
) -> ImportPlan:
    plan = ImportPlan(source=source, kind=kind, _content=content)
    plan.errors = list(errors or [])
    if plan.errors:
        plan.errors = _capped(plan.errors, source)
        return plan
    services = {s.key: s for s in session.execute(select(Service)).scalars()}
    plan._base_versions = {key: row.version for key, row in services.items()}
    service_fields = list(SERVICE_FIELDS)
    for item in content.services:
        values = _service_values(item)
        key = values["key"]
        plan._services[key] = values
        row = services.get(key)
        if row is None:
            plan.added.append(key)
            continue
        changes = _diff(as_dict(row), values, service_fields)
        if changes:
            plan.changed[key] = changes
        else:
            plan.unchanged.append(key)
    for key, row in sorted(services.items()):
        if key not in plan._services and row.active:
            plan.retired.append(key)
    if kind == "yaml":
        council = session.get(Council, 1)
        current = as_dict(council) if council is not None else {}
        plan.council = _diff(current, _council_values(content.council), list(COUNCIL_FIELDS))
        redirects = {r.key: r for r in session.execute(select(Redirect)).scalars()}
        redirect_fields = ["to_name", "url", "phone", "summary", "synonyms"]
        for item in content.redirects:
            values = _redirect_values(item)
            plan._redirects[values["key"]] = values
            row = redirects.get(values["key"])
            if row is None:
                plan.redirects_added.append(values["key"])
            elif changes := _diff(as_dict(row), values, redirect_fields):
                plan.redirects_changed[values["key"]] = changes
        plan.redirects_removed = sorted(k for k in redirects if k not in plan._redirects)
    return plan


def _capped(errors: list[ContentError], source: str) -> list[ContentError]:
    if len(errors) <= MAX_ERRORS:
        return errors
    last = errors[MAX_ERRORS - 1]
    return errors[:MAX_ERRORS] + [
        ContentError(last.path, last.line, f"... and {len(errors) - MAX_ERRORS} more problems not listed")
    ]


def plan_csv(session: Session, data: Union[str, bytes], source_name: str) -> ImportPlan:
    """The plan for importing CSV `data` (services only), named `source_name` in messages."""
    items, errors = read_csv(data, source_name)
    # Links are checked against the published council's allowed sites; the council itself isn't changed.
    content = Content(council=_published_council(session), services=items)
    errors = sorted(errors + check(content), key=lambda e: (e.path, e.line))
    return _make_plan(session, content, "csv", source_name, errors)


def plan_import(session: Session, source: Path) -> ImportPlan:
    """What importing `source` would change, read-only: a content directory in the YAML layout (council,
    services, redirects) or a `.csv` file (services only)."""
    source = Path(source)
    if source.is_dir():
        unreadable = _unprintable(source)
        if unreadable:
            return ImportPlan(source=str(source), kind="yaml", errors=unreadable)
        content, errors = read_content(source)
        if not errors:
            errors = check(content)
        return _make_plan(session, content, "yaml", str(source), errors)
    if source.suffix.lower() == ".csv" and source.is_file():
        return plan_csv(session, source.read_bytes(), str(source))
    problem = (
        "no such file or directory"
        if not source.exists()
        else "expected a content directory (council.yml, services/, redirects.yml) or a .csv file"
    )
    return ImportPlan(
        source=str(source),
        kind="csv" if source.suffix.lower() == ".csv" else "yaml",
        errors=[ContentError(str(source), 1, problem)],
    )


def _unprintable(content_dir: Path) -> list[ContentError]:
    """Characters YAML refuses to read at all. `read_content` would stop at the first with no file or line,
    so they are found here first, each located."""
    errors = []
    paths = [
        content_dir / "council.yml",
        *sorted((content_dir / "services").glob("*.yml")),
        content_dir / "redirects.yml",
    ]
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # missing or not UTF-8: `read_content` says so
        for match in yaml.reader.Reader.NON_PRINTABLE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            errors.append(
                ContentError(
                    str(path),
                    line,
                    f"a control character (U+{ord(match.group()):04X}) that "
                    "can't be in a content file; retype that part of the text",
                )
            )
    return errors


# --- applying ---------------------------------------------------------------------------------------------


def apply_import(
    session: Session,
    plan_or_source: Union[ImportPlan, Path, str],
    author: str,
    reason: str,
    now: Optional[dt.datetime] = None,
) -> ImportPlan:
    """Make the plan's changes in the caller's transaction and record them as one content version; returns
    the plan applied, with `version` set (None when there was nothing to change, and nothing is recorded).

    Raises ContentInvalid (every problem) if the source has any, EditError if `reason` is empty, and
    ConflictError if a plan made earlier no longer matches what is published (someone published since:
    make a new plan and check it again). Raising leaves the caller to roll back, so nothing is half done."""
    if isinstance(plan_or_source, ImportPlan):
        given = plan_or_source
        if given.errors:
            raise ContentInvalid(given.errors)
        content = given._content
        if given.kind == "csv":  # links are checked against the council's allowed sites as they are now
            content = Content(council=_published_council(session), services=content.services)
        plan = _make_plan(session, content, given.kind, given.source, check(content))
        if plan.ok and plan.fingerprint != given.fingerprint:
            raise ConflictError(
                "The published content changed after this import was checked. Check the file "
                "again to see what it would change now."
            )
    else:
        plan = plan_import(session, Path(plan_or_source))
    if plan.errors:
        raise ContentInvalid(plan.errors)
    if not (reason or "").strip():
        raise EditError({"reason": "Say why you are importing this content (new policy, annual review…)."})
    if not plan.has_changes:
        return plan
    now = now or utcnow()
    ensure_baseline(session, now)  # content loaded before versions existed: keep it, so the import can be undone

    for key in plan.added:
        session.add(Service(**plan._services[key], version=1))
    updates = [(key, plan._services[key]) for key in plan.changed] + [(key, {"active": False}) for key in plan.retired]
    for key, values in updates:
        # Compare-and-set, as an editor's publish does: a concurrent publish makes this import fail whole.
        won = (
            session.execute(
                update(Service)
                .where(Service.key == key, Service.version == plan._base_versions[key])
                .values(**values, version=Service.version + 1, updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            == 1
        )
        if not won:
            raise ConflictError(
                f"Service {key} was changed by someone else while this import ran. Nothing was "
                "imported: check the file again and import it again."
            )

    if plan.kind == "yaml":
        council = session.get(Council, 1) or Council(id=1)
        for change in plan.council:
            setattr(council, change.field, change.after)
        session.add(council)
        redirects = {r.key: r for r in session.execute(select(Redirect)).scalars()}
        for key in plan.redirects_added:
            session.add(Redirect(**plan._redirects[key]))
        for key in plan.redirects_changed:
            for name, value in plan._redirects[key].items():
                setattr(redirects[key], name, value)
        for key in plan.redirects_removed:
            session.delete(redirects[key])
    session.flush()
    plan.version = record_version(session, author, reason, plan.summary(), now).number
    return plan
