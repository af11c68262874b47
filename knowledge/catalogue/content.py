"""Seed content: the YAML files under `knowledge/content/` that editors and developers read and edit.

Layout: `council.yml` (one mapping), `services/<category>.yml` (a list under `services:`) and
`redirects.yml` (a list under `redirects:`). `validate` reports every problem with file and line (what
makes an entry valid is `knowledge/catalogue/service_schema.py`'s to say); `load` applies the files to the database
all-or-nothing and is idempotent; `export` writes the database back out in the same layout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.catalogue.service_schema import (
    COUNCIL_FIELDS,
    SERVICE_FIELDS,
    Checked,
    allowed_domains_of,
    validate_council,
    validate_redirect,
    validate_service,
)
from knowledge.models import Council, Redirect, Service, as_dict

LINE = "__line__"


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
    """Check every entry against the schema (`knowledge/catalogue/service_schema.py`: fields, types, lengths,
    characters, links, phone numbers) and that no two services or redirects share a key."""
    errors: list[ContentError] = []
    c = content.council
    domains = allowed_domains_of(c)
    if c:
        errors += _located(c, "council", validate_council(_clean(c)))
    seen: dict[tuple[str, str], ContentError] = {}
    for kind, items, check in (
        ("service", content.services, validate_service),
        ("redirect", content.redirects, validate_redirect),
    ):
        for item in items:
            errors += _located(item, f"{kind} '{item.get('key', '?')}'", check(_clean(item), domains))
            key = item.get("key")
            if isinstance(key, str):
                where = ContentError(item["__file__"], item[LINE], "")
                if (kind, key) in seen:
                    first = seen[(kind, key)]
                    errors.append(
                        ContentError(
                            where.path, where.line, f"duplicate {kind} key '{key}' (first at {first.path}:{first.line})"
                        )
                    )
                else:
                    seen[(kind, key)] = where
    return errors


def _located(item: dict, label: str, checked: Checked) -> list[ContentError]:
    """The schema's field errors for `item`, located at its file and line and labelled with what it is.
    A valid item's fields are replaced by the values that will be stored (`emergency: 999` as text, a
    folded summary without its last line break), so the content read is the content loaded."""
    if checked.values is not None:
        for column, value in checked.values.items():
            name = "to" if column == "to_name" else column  # a redirect's `to` is stored as `to_name`
            if name in item:
                item[name] = value
    path, line = item.get("__file__", "?"), item.get(LINE, 1)
    return [ContentError(path, line, f"{label}: {e.message}", e.field or None) for e in checked.errors]


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
        return (
            f"added {len(self.added)}, updated {len(self.updated)}, unchanged {self.unchanged}, "
            f"retired {len(self.retired)}"
        )


def load(session: Session, content_dir: Path) -> LoadReport:
    """Apply the content files to the database in the caller's transaction. Raises ContentInvalid (and
    writes nothing) if any file has a problem. Services missing from the files are retired, not deleted."""
    content, errors = read_content(content_dir)
    if errors:
        raise ContentInvalid(errors)
    report = LoadReport()
    council = session.get(Council, 1) or Council(id=1)
    for name, value in _council_values(content.council).items():
        setattr(council, name, value)
    session.add(council)

    existing = {s.key: s for s in session.execute(select(Service)).scalars()}
    for item in content.services:
        values = _service_values(item)
        _upsert(session, existing.pop(values["key"], None), Service, values, report)
    for leftover in existing.values():
        if leftover.active:
            leftover.active = False
            report.retired.append(leftover.key)

    existing_r = {r.key: r for r in session.execute(select(Redirect)).scalars()}
    for item in content.redirects:
        values = _redirect_values(item)
        _upsert(session, existing_r.pop(values["key"], None), Redirect, values, report)
    for leftover in existing_r.values():
        session.delete(leftover)
        report.retired.append(leftover.key)
    session.flush()
    return report


def _stored(checked: Checked) -> dict:
    """The values to store for an entry `validate` has passed (so checking it again can't fail)."""
    if checked.values is None:
        raise ContentInvalid([ContentError("?", 1, e.message, e.field) for e in checked.errors])
    return checked.values


def _service_values(item: dict) -> dict:
    """A validated service's column values. Its link was checked against the allowed sites by `validate`."""
    return _stored(validate_service(_clean(item), ()))


def _redirect_values(item: dict) -> dict:
    """A validated redirect's column values (`to` as `to_name`)."""
    return _stored(validate_redirect(_clean(item), ()))


def _council_values(council: dict) -> dict:
    """The validated council details' column values."""
    return _stored(validate_council(_clean(council)))


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
        data = {
            "key": r.key,
            "to": r.to_name,
            "url": r.url,
            "phone": r.phone,
            "summary": r.summary,
            "synonyms": r.synonyms,
        }
        redirects.append({k: v for k, v in data.items() if v not in (None, [])})
    written.append(_dump(out_dir / "redirects.yml", {"redirects": redirects}))
    return written


def _dump(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
    return path
