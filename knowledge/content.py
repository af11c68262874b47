"""Seed content: the YAML files under `knowledge/content/` that editors and developers read and edit.

Layout: `council.yml` (one mapping), `services/<category>.yml` (a list under `services:`) and
`redirects.yml` (a list under `redirects:`). `validate` reports every problem with file and line;
`load` applies the files to the database all-or-nothing and is idempotent; `export` writes the database
back out in the same layout.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional
from urllib.parse import urlsplit

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.models import Council, Redirect, Service, as_dict

LINE = "__line__"

COUNCIL_FIELDS = {
    "name": True, "site": True, "phone": True, "opening_hours": True, "out_of_hours_social_care": True,
    "emergency": True, "samaritans": True, "allowed_domains": True,
}
# field name -> required?
SERVICE_FIELDS = {
    "key": True, "title": True, "url": True, "category": True, "summary": True, "what_you_need": False,
    "phone": True, "eligibility": False, "cost": False, "timing": False, "synonyms": True, "examples": False,
    "owner": True, "review_by": True, "always_human": False, "active": False,
}
REDIRECT_FIELDS = {"key": True, "to": True, "url": False, "phone": False, "summary": True, "synonyms": False}

KEY_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
CATEGORY_RE = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
# UK numbers as residents dial them: 0300 123 4567, +44 300 123 4567, or short codes (111, 999, 116 123),
# optionally followed by a short note in brackets: "101 (999 in an emergency)".
PHONE_RE = re.compile(r"^(?:(?:\+44\s?|0)\d[\d ]{8,12}|\d{3}(?: \d{3})?)(?: \([^()]{1,60}\))?$")
# Editors' example questions per service: enough to describe a topic, few enough to match every message fast.
MAX_EXAMPLES, MAX_EXAMPLE_LENGTH = 50, 300
MAX_LENGTHS = {"title": 200, "summary": 600, "eligibility": 1000, "cost": 600, "timing": 600, "owner": 200, "to": 300}


@dataclass(frozen=True)
class ContentError:
    """One problem in a content file, located for the person who has to fix it."""

    path: str
    line: int
    message: str
    field: Optional[str] = None  # the field the problem is in, for forms that show it beside the field

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ContentInvalid(Exception):
    """The content files have problems; nothing was written. `errors` lists them all."""

    def __init__(self, errors: list[ContentError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass
class Content:
    """Everything the content files say, as plain dicts (each carrying its source file and line)."""

    council: dict[str, Any] = field(default_factory=dict)
    services: list[dict[str, Any]] = field(default_factory=list)
    redirects: list[dict[str, Any]] = field(default_factory=list)


class _Loader(yaml.SafeLoader):
    """SafeLoader that remembers each mapping's line and refuses duplicate fields (PyYAML would silently
    keep the last one, which hides an editor's mistake)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"field '{key}' appears twice (first on line {seen[key]})", key_node.start_mark
                )
            seen[key] = line
        mapping = super().construct_mapping(node, deep=True)
        mapping[LINE] = node.start_mark.line + 1
        return mapping


def _read_yaml(path: Path, errors: list[ContentError]) -> Optional[dict]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except UnicodeDecodeError:
        errors.append(ContentError(str(path), 1, "file is not valid UTF-8"))
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        errors.append(ContentError(str(path), (mark.line + 1) if mark else 1, f"not valid YAML: {exc.problem}"))
        return None
    except yaml.YAMLError as exc:  # e.g. a control character: ReaderError has no mark, only a position
        line = 1 + path.read_text(encoding="utf-8")[: getattr(exc, "position", 0)].count("\n")
        errors.append(ContentError(str(path), line, f"not valid YAML: {getattr(exc, 'reason', exc)}"))
        return None
    if not isinstance(data, dict):
        errors.append(ContentError(str(path), 1, "expected a mapping at the top of the file"))
        return None
    return data


def read_content(content_dir: Path) -> tuple[Content, list[ContentError]]:
    """Read and validate every content file under `content_dir`; returns the content and all errors."""
    errors: list[ContentError] = []
    content = Content()
    council_path = content_dir / "council.yml"
    if not council_path.exists():
        errors.append(ContentError(str(council_path), 1, "missing file"))
    else:
        data = _read_yaml(council_path, errors)
        if data is not None:
            content.council = dict(data.get("council") or {}, __file__=str(council_path))
            content.council.setdefault(LINE, 1)
    for path in sorted((content_dir / "services").glob("*.yml")):
        data = _read_yaml(path, errors)
        for item in _items(data, "services", path, errors):
            content.services.append(item)
    redirects_path = content_dir / "redirects.yml"
    if redirects_path.exists():
        data = _read_yaml(redirects_path, errors)
        content.redirects.extend(_items(data, "redirects", redirects_path, errors))
    errors.extend(validate(content))
    return content, errors


def _items(data: Optional[dict], name: str, path: Path, errors: list[ContentError]) -> Iterable[dict]:
    if data is None:
        return []
    items = data.get(name)
    if not isinstance(items, list):
        errors.append(ContentError(str(path), data.get(LINE, 1), f"expected a list under '{name}:'"))
        return []
    good = []
    for item in items:
        if not isinstance(item, dict):
            errors.append(ContentError(str(path), data.get(LINE, 1), f"each entry under '{name}:' must be a mapping"))
            continue
        item["__file__"] = str(path)
        good.append(item)
    return good


def validate(content: Content) -> list[ContentError]:
    """Check required fields, types, URLs, phone numbers and duplicate keys."""
    errors: list[ContentError] = []
    c = content.council
    domains = [d.lower() for d in (c.get("allowed_domains") or []) if isinstance(d, str)]
    if c:
        errors += _check_fields(c, COUNCIL_FIELDS, "council", domains)
    seen: dict[str, ContentError] = {}
    for kind, items, fields in (("service", content.services, SERVICE_FIELDS),
                                ("redirect", content.redirects, REDIRECT_FIELDS)):
        for item in items:
            label = f"{kind} '{item.get('key', '?')}'"
            errors += _check_fields(item, fields, label, domains)
            key = item.get("key")
            if isinstance(key, str):
                where = ContentError(item["__file__"], item[LINE], "")
                if (kind, key) in seen:
                    first = seen[(kind, key)]
                    errors.append(ContentError(where.path, where.line,
                                               f"duplicate {kind} key '{key}' (first at {first.path}:{first.line})"))
                else:
                    seen[(kind, key)] = where
    return errors


def _check_fields(item: dict, fields: dict[str, bool], label: str, domains: list[str]) -> list[ContentError]:
    path, line = item.get("__file__", "?"), item.get(LINE, 1)
    errs = []

    def err(name: str, message: str) -> None:
        errs.append(ContentError(path, line, f"{label}: {message}", name))

    for name in item:
        if name not in fields and name not in (LINE, "__file__"):
            err(name, f"unknown field '{name}' (allowed: {', '.join(fields)})")
    for name, required in fields.items():
        value = item.get(name)
        if value is None or value == "" or value == []:
            if required:
                err(name, f"missing required field '{name}'")
            continue
        if name in ("phone", "emergency", "samaritans", "out_of_hours_social_care"):
            value = item[name] = str(value)
            if not PHONE_RE.match(value):
                err(name, f"{name} '{value}' is not a UK phone number like 0300 123 4567")
        elif name in ("url", "site"):
            problem = url_problem(value, domains)
            if problem:
                err(name, f"{name} {problem}")
        elif name == "key":
            if not isinstance(value, str) or not KEY_RE.match(value):
                err(name, f"key '{value}' must be lower-case words joined by dots, like bins.missed")
        elif name == "category":
            # It names an export file (services/<category>.yml): one plain word, never a path.
            if not isinstance(value, str) or not CATEGORY_RE.match(value):
                err(name, f"category '{value}' must be one lower-case word (letters, digits, _), like bins")
        elif name == "review_by":
            if not isinstance(value, dt.date):
                err(name, f"review_by '{value}' must be a date like 2027-03-31")
        elif name in ("what_you_need", "synonyms", "examples", "allowed_domains"):
            if isinstance(value, list):  # bare numbers like 111 are words too
                value = item[name] = [str(v) if isinstance(v, (int, float)) else v for v in value]
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                err(name, f"{name} must be a list of text items")
            elif name == "examples" and (len(value) > MAX_EXAMPLES or any(len(v) > MAX_EXAMPLE_LENGTH for v in value)):
                err(name, f"examples: at most {MAX_EXAMPLES} questions of up to {MAX_EXAMPLE_LENGTH} characters each")
        elif name in ("always_human", "active"):
            if not isinstance(value, bool):
                err(name, f"{name} must be true or false")
        elif not isinstance(value, str):
            err(name, f"{name} must be text")
        elif name in MAX_LENGTHS and len(value) > MAX_LENGTHS[name]:
            err(name, f"{name} is {len(value)} characters; keep it under {MAX_LENGTHS[name]}")
    return errs


def url_problem(value: Any, allowed_domains: list[str]) -> Optional[str]:
    """Why `value` is not an acceptable link for residents, or None if it is."""
    if not isinstance(value, str):
        return "must be text"
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or " " in value:
        return f"'{value}' is not a well-formed https:// address"
    host = parts.hostname.lower()
    if allowed_domains and not any(host == d or host.endswith("." + d) for d in allowed_domains):
        return f"'{value}' is not on an allowed site ({', '.join(allowed_domains)})"
    return None


def _clean(item: dict) -> dict:
    return {k: v for k, v in item.items() if k not in (LINE, "__file__")}


@dataclass
class LoadReport:
    """What `load` changed, by service/redirect key."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    retired: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"added {len(self.added)}, updated {len(self.updated)}, unchanged {self.unchanged}, "
                f"retired {len(self.retired)}")


def load(session: Session, content_dir: Path) -> LoadReport:
    """Apply the content files to the database in the caller's transaction. Raises ContentInvalid (and
    writes nothing) if any file has a problem. Services missing from the files are retired, not deleted."""
    content, errors = read_content(content_dir)
    if errors:
        raise ContentInvalid(errors)
    report = LoadReport()
    council = session.get(Council, 1) or Council(id=1)
    for name, value in _clean(content.council).items():
        setattr(council, name, value)
    session.add(council)

    existing = {s.key: s for s in session.execute(select(Service)).scalars()}
    for item in content.services:
        values = _service_values(_clean(item))
        _upsert(session, existing.pop(values["key"], None), Service, values, report)
    for leftover in existing.values():
        if leftover.active:
            leftover.active = False
            report.retired.append(leftover.key)

    existing_r = {r.key: r for r in session.execute(select(Redirect)).scalars()}
    for item in content.redirects:
        values = _clean(item)
        values = {"key": values["key"], "to_name": values["to"], "url": values.get("url"),
                  "phone": values.get("phone"), "summary": values["summary"].strip(),
                  "synonyms": values.get("synonyms") or []}
        _upsert(session, existing_r.pop(values["key"], None), Redirect, values, report)
    for leftover in existing_r.values():
        session.delete(leftover)
        report.retired.append(leftover.key)
    session.flush()
    return report


def _service_values(item: dict) -> dict:
    values = {name: item.get(name) for name in SERVICE_FIELDS}
    values["summary"] = values["summary"].strip()
    for name in ("eligibility", "cost", "timing"):
        values[name] = (values[name] or "").strip() or None
    values["examples"] = values["examples"] or []
    values["what_you_need"] = values["what_you_need"] or []
    values["always_human"] = bool(values["always_human"])
    values["active"] = True if values["active"] is None else values["active"]
    return values


def _upsert(session: Session, row: Any, model: type, values: dict, report: LoadReport) -> None:
    if row is None:
        session.add(model(**values))
        report.added.append(values["key"])
        return
    current = as_dict(row)
    changed = {k: v for k, v in values.items() if current.get(k) != v}
    if not changed:
        report.unchanged += 1
        return
    for k, v in changed.items():
        setattr(row, k, v)
    report.updated.append(values["key"])


def export(session: Session, out_dir: Path) -> list[Path]:
    """Write the database's content to `out_dir` in the seed layout; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "services").mkdir(exist_ok=True)
    written = []
    council = session.get(Council, 1)
    if council is not None:
        data = {k: v for k, v in as_dict(council).items() if k in COUNCIL_FIELDS}
        written.append(_dump(out_dir / "council.yml", {"council": data}))
    by_category: dict[str, list[dict]] = {}
    for svc in session.execute(select(Service).order_by(Service.key)).scalars():
        data = {k: v for k, v in as_dict(svc).items() if k in SERVICE_FIELDS and v not in (None, [])}
        if data.get("always_human") is False:
            data.pop("always_human")
        if data.get("active") is True:
            data.pop("active")
        by_category.setdefault(svc.category, []).append(data)
    for category, items in sorted(by_category.items()):
        written.append(_dump(out_dir / "services" / f"{category}.yml", {"services": items}))
    redirects = []
    for r in session.execute(select(Redirect).order_by(Redirect.key)).scalars():
        data = {"key": r.key, "to": r.to_name, "url": r.url, "phone": r.phone, "summary": r.summary,
                "synonyms": r.synonyms}
        redirects.append({k: v for k, v in data.items() if v not in (None, [])})
    written.append(_dump(out_dir / "redirects.yml", {"redirects": redirects}))
    return written


def _dump(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
    return path
