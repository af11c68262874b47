"""Publishing, drafts, versions, diffs and rollback in the knowledge layer."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from knowledge.catalogue import editing
from knowledge.db import session_scope
from knowledge.models import ContentVersion, Service, ServiceDraft

KEY = "roads.pothole"


def current(kb_url: str, key: str = KEY) -> Service:
    with session_scope(kb_url) as s:
        return s.execute(select(Service).where(Service.key == key)).scalar_one()


def values_of(svc: Service, **changes: object) -> dict:
    return {**{name: getattr(svc, name) for name in editing.EDITABLE}, **changes}


def test_problems_are_reported_by_field(kb_url: str) -> None:
    svc = current(kb_url)
    with session_scope(kb_url) as s:
        problems = editing.check_service(
            s, values_of(svc, title="", url="https://evil.example/x", phone="12", synonyms=[])
        )
    assert set(problems) == {"title", "url", "phone", "synonyms"}
    assert "not on an allowed site" in problems["url"]


def test_the_first_publish_keeps_a_baseline_to_roll_back_to(kb_url: str) -> None:
    svc = current(kb_url)
    with session_scope(kb_url) as s:
        version = editing.publish_service(s, "eddie", values_of(svc, summary="New words."), svc.version, "why")
    with session_scope(kb_url) as s:
        numbers = [(v.number, v.author, v.summary) for v in editing.versions(s)]
    assert numbers == [(2, "eddie", "changed roads.pothole: summary"), (1, "system", "baseline")]
    assert version.snapshot["services"][KEY]["summary"] == "New words."
    assert current(kb_url).version == svc.version + 1


def test_a_stale_version_is_refused_and_changes_nothing(kb_url: str) -> None:
    svc = current(kb_url)
    with session_scope(kb_url) as s:
        editing.publish_service(s, "ann", values_of(svc, summary="Ann's words."), svc.version, "first")
    with pytest.raises(editing.ConflictError, match="changed by ann"), session_scope(kb_url) as s:
        editing.publish_service(s, "bob", values_of(svc, summary="Bob's words."), svc.version, "second")
    assert current(kb_url).summary == "Ann's words."
    with session_scope(kb_url) as s:
        assert len(editing.versions(s)) == 2  # baseline and Ann's; nothing for Bob


def test_publishing_needs_a_reason(kb_url: str) -> None:
    svc = current(kb_url)
    with pytest.raises(editing.EditError) as err, session_scope(kb_url) as s:
        editing.publish_service(s, "eddie", values_of(svc, summary="x"), svc.version, "  ")
    assert "reason" in err.value.fields
    assert current(kb_url).summary == svc.summary


def test_drafts_are_kept_apart_and_cleared_by_publishing(kb_url: str) -> None:
    svc = current(kb_url)
    with session_scope(kb_url) as s:
        editing.save_draft(s, "eddie", KEY, values_of(svc, summary="Draft words."), svc.version)
    assert current(kb_url).summary == svc.summary
    with session_scope(kb_url) as s:
        assert editing.draft_for(s, "eddie", KEY).data["summary"] == "Draft words."
        assert editing.draft_for(s, "other", KEY) is None
        editing.publish_service(s, "eddie", values_of(svc, summary="Draft words."), svc.version, "done")
    with session_scope(kb_url) as s:
        assert s.execute(select(ServiceDraft)).first() is None


def test_diff_and_rollback_restore_text_and_retire_later_services(kb_url: str) -> None:
    svc = current(kb_url)
    with session_scope(kb_url) as s:
        editing.publish_service(s, "eddie", values_of(svc, summary="Changed."), svc.version, "change")
        new = values_of(
            svc, key="roads.bridges", title="Report a damaged bridge", url="https://www.northshire.gov.uk/roads/bridges"
        )
        editing.publish_service(s, "eddie", new, 0, "add")
    with session_scope(kb_url) as s:
        diff = editing.diff(s, 1, 3)
        assert set(diff.changes) == {f"services/{KEY}", "services/roads.bridges"}
        assert "+summary: Changed." in diff.changes[f"services/{KEY}"]
        rolled = editing.rollback(s, "eddie", 1, "undo")
    assert rolled.number == 4 and current(kb_url).summary == svc.summary
    assert current(kb_url, "roads.bridges").active is False  # kept, but no longer offered
    with session_scope(kb_url) as s:
        assert editing.diff(s, 1, 4).changes.keys() == {"services/roads.bridges"}
        assert s.execute(select(ContentVersion.reason).where(ContentVersion.number == 4)).scalar_one() == "undo"
