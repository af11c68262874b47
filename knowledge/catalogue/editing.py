"""Editors changing what the bot says: drafts, publishing as versions, diffs and rollback.

The bot reads only the published tables (`services`, `redirects`, `council`), so a draft is never seen
by residents, and a publish is live on the next message with no retraining or restart. Every publish
records a `ContentVersion` holding a snapshot of the whole published knowledge base; a rollback publishes
an earlier snapshot again as a new version, so history only grows.

Two editors saving the same service: each form carries the service's `version`; publishing compares and
sets it in one UPDATE, so the second is refused with who changed it and when, and nothing is overwritten.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, field
from typing import Any, Optional

import yaml
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from knowledge.catalogue.service_schema import SERVICE_FIELDS, Checked, validate_service
from knowledge.delivery.conversations import utcnow
from knowledge.models import ContentVersion, Council, Redirect, Service, ServiceDraft, as_dict

# What a snapshot keeps of each table: the editable content, not bookkeeping columns.
_SKIP = {"id", "updated_at", "version"}


class EditError(Exception):
    """The change can't be published; `fields` maps each form field to what is wrong with it."""

    def __init__(self, fields: dict[str, str]):
        self.fields = fields
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))


class ConflictError(Exception):
    """Someone published this service after the editor started; the message says who and when."""


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def snapshot(session: Session) -> dict[str, Any]:
    """The whole published knowledge base as plain JSON: council, services (retired ones too), redirects."""
    session.flush()
    session.expire_all()  # rows changed by a Core UPDATE must be read again, not from the identity map
    council = session.get(Council, 1)
    return {
        "council": {k: _plain(v) for k, v in as_dict(council).items() if k not in _SKIP} if council else {},
        "services": {
            s.key: {k: _plain(v) for k, v in as_dict(s).items() if k not in _SKIP}
            for s in session.execute(select(Service).order_by(Service.key)).scalars()
        },
        "redirects": {
            r.key: {k: _plain(v) for k, v in as_dict(r).items() if k not in _SKIP}
            for r in session.execute(select(Redirect).order_by(Redirect.key)).scalars()
        },
    }


def record_version(
    session: Session, author: str, reason: str, summary: str, now: Optional[dt.datetime] = None
) -> ContentVersion:
    """Record what is published now as the next version (call after applying a change, in its transaction)."""
    if not (reason or "").strip():
        raise EditError({"reason": "Say why you are publishing this change (residents' complaints, new policy…)."})
    number = (session.execute(select(func.max(ContentVersion.number))).scalar() or 0) + 1
    version = ContentVersion(
        number=number,
        author=author,
        reason=reason.strip()[:2000],
        summary=summary[:2000],
        snapshot=snapshot(session),
        created_at=now or utcnow(),
    )
    session.add(version)
    session.flush()
    return version


def ensure_baseline(session: Session, now: Optional[dt.datetime] = None) -> None:
    """If nothing has been recorded yet (content loaded before versions existed), record what is published
    now as a version, so the first edit can be rolled back."""
    if session.execute(select(ContentVersion.id).limit(1)).first() is None:
        record_version(session, "system", "Content as it was before the first recorded change", "baseline", now)


# --- services ----------------------------------------------------------------------------------------------
EDITABLE = [name for name in SERVICE_FIELDS if name != "active"]
LIST_FIELDS = ("what_you_need", "synonyms", "examples")


def form_values(form: dict[str, Any]) -> dict[str, Any]:
    """A service as the editor's form sends it (text boxes; lists one item per line) as typed values."""
    values: dict[str, Any] = {}
    for name in EDITABLE:
        raw = form.get(name)
        if name in LIST_FIELDS:
            items = raw if isinstance(raw, list) else str(raw or "").splitlines()
            values[name] = [i.strip() for i in items if str(i).strip()]
        elif name == "always_human":
            values[name] = raw in (True, "on", "true", "1", "yes")
        elif name == "review_by":
            try:
                values[name] = dt.date.fromisoformat(str(raw).strip()) if raw else None
            except ValueError:
                values[name] = str(raw)  # reported by check_service as not a date
        else:
            values[name] = str(raw).strip() if raw is not None else ""
    return values


def _checked(session: Session, values: dict[str, Any]) -> Checked:
    council = session.get(Council, 1)
    domains = (council.allowed_domains or []) if council else []
    return validate_service(values, domains)


def _by_field(checked: Checked) -> dict[str, str]:
    problems: dict[str, str] = {}
    for error in checked.errors:
        problems.setdefault(error.field or "form", error.message)
    return problems


def check_service(session: Session, values: dict[str, Any]) -> dict[str, str]:
    """What is wrong with a service's values, by field: the schema's messages (`knowledge/catalogue/service_schema.py`),
    word for word as the content files and the CSV import report them."""
    return _by_field(_checked(session, values))


def _summary_of(before: Optional[dict], after: dict) -> str:
    if before is None:
        return f"added {after['key']}"
    changed = [k for k in EDITABLE if _plain(before.get(k)) != _plain(after.get(k))]
    return f"changed {after['key']}: {', '.join(changed) or 'nothing'}"


def publish_service(
    session: Session,
    author: str,
    values: dict[str, Any],
    base_version: int,
    reason: str,
    now: Optional[dt.datetime] = None,
) -> ContentVersion:
    """Publish one service's new values (a new service when `base_version` is 0). Raises EditError for
    invalid values, ConflictError if the service changed since `base_version`."""
    checked = _checked(session, values)
    if checked.values is None:
        raise EditError(_by_field(checked))
    # Stored as the schema normalised them (trimmed, blanks as None); `active` is not the form's to set.
    values = {k: v for k, v in checked.values.items() if k in EDITABLE}
    now = now or utcnow()
    ensure_baseline(session, now)
    key = values["key"]
    row = session.execute(select(Service).where(Service.key == key)).scalar_one_or_none()
    if base_version == 0:
        if row is not None:
            raise EditError({"key": f"There is already a service with the key {key}."})
        before = None
        session.add(Service(**values, active=True, version=1))
    else:
        if row is None:
            raise EditError({"key": f"There is no service with the key {key}."})
        before = as_dict(row)
        won = (
            session.execute(
                update(Service)
                .where(Service.key == key, Service.version == base_version)
                .values(**values, version=Service.version + 1, updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            == 1
        )
        if not won:
            session.refresh(row)
            last = session.execute(
                select(ContentVersion)
                .where(ContentVersion.summary.contains(key))
                .order_by(ContentVersion.number.desc())
                .limit(1)
            ).scalar()
            who = f" by {last.author} at {last.created_at:%H:%M on %d %b}" if last else ""
            raise ConflictError(
                f"{row.title} was changed{who} after you started editing. Your changes were not "
                f"saved over theirs: reload to see the current text, then make your change again."
            )
    session.flush()
    version = record_version(session, author, reason, _summary_of(before, values), now)
    session.execute(
        ServiceDraft.__table__.delete().where(ServiceDraft.service_key == key, ServiceDraft.author == author)
    )
    return version


def set_active(
    session: Session, author: str, key: str, active: bool, reason: str, now: Optional[dt.datetime] = None
) -> ContentVersion:
    """Retire a service (it stops being offered; its history stays) or bring it back."""
    ensure_baseline(session, now)
    row = session.execute(select(Service).where(Service.key == key)).scalar_one_or_none()
    if row is None:
        raise EditError({"key": f"There is no service with the key {key}."})
    row.active, row.version = active, row.version + 1
    session.flush()
    return record_version(session, author, reason, f"{'restored' if active else 'retired'} {key}", now)


def save_draft(session: Session, author: str, key: str, values: dict[str, Any], base_version: int) -> ServiceDraft:
    """Keep an editor's work in progress. Residents never see drafts."""
    draft = session.execute(
        select(ServiceDraft).where(ServiceDraft.service_key == key, ServiceDraft.author == author)
    ).scalar_one_or_none()
    data = {k: _plain(v) for k, v in values.items()}
    if draft is None:
        draft = ServiceDraft(service_key=key, author=author, data=data, base_version=base_version)
        session.add(draft)
    else:
        draft.data, draft.base_version = data, base_version
    session.flush()
    return draft


def draft_for(session: Session, author: str, key: str) -> Optional[ServiceDraft]:
    return session.execute(
        select(ServiceDraft).where(ServiceDraft.service_key == key, ServiceDraft.author == author)
    ).scalar_one_or_none()


# --- versions ----------------------------------------------------------------------------------------------
def versions(session: Session, limit: int = 100) -> list[ContentVersion]:
    return list(session.execute(select(ContentVersion).order_by(ContentVersion.number.desc()).limit(limit)).scalars())


def version(session: Session, number: int) -> Optional[ContentVersion]:
    return session.execute(select(ContentVersion).where(ContentVersion.number == number)).scalar_one_or_none()


@dataclass
class Diff:
    """What differs between two versions: per changed item, a unified diff of its YAML."""

    older: int
    newer: int
    changes: dict[str, list[str]] = field(default_factory=dict)


def diff(session: Session, older: int, newer: int) -> Diff:
    a, b = version(session, older), version(session, newer)
    if a is None or b is None:
        raise EditError({"version": "Choose two versions that exist."})
    result = Diff(older, newer)
    for part in ("council", "services", "redirects"):
        left, right = a.snapshot.get(part, {}), b.snapshot.get(part, {})
        if part == "council":
            left, right = {"council": left}, {"council": right}
        for key in sorted(set(left) | set(right)):
            if left.get(key) != right.get(key):
                old_text = yaml.safe_dump(left.get(key), sort_keys=True, allow_unicode=True).splitlines()
                new_text = yaml.safe_dump(right.get(key), sort_keys=True, allow_unicode=True).splitlines()
                result.changes[f"{part}/{key}" if part != "council" else "council"] = list(
                    difflib.unified_diff(
                        old_text if left.get(key) is not None else [],
                        new_text if right.get(key) is not None else [],
                        f"version {older}",
                        f"version {newer}",
                        lineterm="",
                    )
                )
    return result


def rollback(
    session: Session, author: str, number: int, reason: str, now: Optional[dt.datetime] = None
) -> ContentVersion:
    """Publish version `number`'s content again, as a new version. Services added since are retired."""
    old = version(session, number)
    if old is None:
        raise EditError({"version": f"There is no version {number}."})
    snap = old.snapshot
    council = session.get(Council, 1)
    if council is not None and snap.get("council"):
        for k, v in snap["council"].items():
            setattr(council, k, v)
    services = {s.key: s for s in session.execute(select(Service)).scalars()}
    for key, data in snap.get("services", {}).items():
        values = {
            k: (dt.date.fromisoformat(v) if k == "review_by" and isinstance(v, str) else v) for k, v in data.items()
        }
        row = services.pop(key, None)
        if row is None:
            session.add(Service(**values, version=1))
        else:
            for k, v in values.items():
                setattr(row, k, v)
            row.version += 1
    for row in services.values():  # added after that version: retire, keep history
        row.active, row.version = False, row.version + 1
    redirects = {r.key: r for r in session.execute(select(Redirect)).scalars()}
    for key, data in snap.get("redirects", {}).items():
        row = redirects.pop(key, None)
        if row is None:
            session.add(Redirect(**data))
        else:
            for k, v in data.items():
                setattr(row, k, v)
    for row in redirects.values():
        session.delete(row)
    session.flush()
    return record_version(
        session, author, reason or f"Roll back to version {number}", f"rolled back to version {number}", now
    )
