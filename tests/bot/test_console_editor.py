"""Editors' pages over real HTTP: validation naming the field with published content untouched, two
editors saving at once, drafts residents never see, HTML kept as text, versions, notices, roles."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from knowledge.catalogue.content import load
from knowledge.db import session_scope
from knowledge.models import ContentVersion, Notice, Service
from knowledge.settings import CONTENT_DIR
from knowledge.staff import EDITOR, create_user
from tests.bad_service_values import BAD, IDS, LONG_URL
from tests.bot.console_helpers import PASSWORD, csrf_in, running_console, seeded_console, shown, signed_in

KEY = "roads.pothole"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with seeded_console(tmp_path_factory, "editor", env={"RASA_URL": "http://127.0.0.1:9"}) as (base, db_url):
        yield base, db_url


def form_of(page: str) -> dict[str, str]:
    """The service form's current values, as the browser would send them back."""
    fields = dict(re.findall(r'<input id="(\w+)" name="\w+" type="(?:text|date)" value="([^"]*)"', page))
    fields.update(
        {
            name: value
            for name, value in re.findall(
                r'<textarea id="(\w+)" name="\w+" rows="\d+"[^>]*>(.*?)</textarea>', page, re.S
            )
        }
    )
    import html

    fields = {k: html.unescape(v) for k, v in fields.items()}
    fields["base_version"] = re.search(r'name="base_version" value="(\d+)"', page).group(1)
    fields["csrf_token"] = csrf_in(page)
    fields.pop("question", None)
    fields.pop("reason", None)
    fields.pop("retire-reason", None)
    return fields


def published(db: str) -> Service:
    with session_scope(db) as s:
        return s.execute(select(Service).where(Service.key == KEY)).scalar_one()


def test_only_editors_and_admins_reach_content_pages(console: tuple[str, str]) -> None:
    base, _ = console
    assert signed_in(base, "agent").get("/editor").status_code == 403
    assert signed_in(base, "agent").get(f"/editor/services/{KEY}").status_code == 403
    assert "Report a pothole" in signed_in(base, "editor").get("/editor?q=pothole").text
    assert signed_in(base, "admin").get("/editor/versions").status_code == 200


def test_invalid_values_are_named_and_nothing_is_published(console: tuple[str, str]) -> None:
    base, db = console
    before = published(db).summary
    c = signed_in(base, "editor")
    form = form_of(c.get(f"/editor/services/{KEY}").text)
    form.update(url="http://evil.example/x", phone="call us", summary="x" * 700, reason="testing", action="publish")
    r = c.post(f"/editor/services/{KEY}", data=form)
    assert r.status_code == 400
    page = shown(r)
    assert "not a well-formed https:// address" in page and "is not a UK phone number" in page
    assert "keep it under 600" in page
    assert published(db).summary == before


def test_publishing_needs_a_reason(console: tuple[str, str]) -> None:
    base, db = console
    c = signed_in(base, "editor")
    form = form_of(c.get(f"/editor/services/{KEY}").text)
    form.update(summary="A new summary.", action="publish", reason="")
    r = c.post(f"/editor/services/{KEY}", data=form)
    assert r.status_code == 400 and "Say why you are publishing" in shown(r)
    assert published(db).summary != "A new summary."


def test_two_editors_saving_at_once_the_second_is_told(console: tuple[str, str]) -> None:
    base, db = console
    first, second = signed_in(base, "editor"), signed_in(base, "admin")
    form_a = form_of(first.get(f"/editor/services/{KEY}").text)
    form_b = form_of(second.get(f"/editor/services/{KEY}").text)
    form_a.update(summary="Editor A's text.", reason="A's reason", action="publish")
    form_b.update(summary="Editor B's text.", reason="B's reason", action="publish")
    assert first.post(f"/editor/services/{KEY}", data=form_a).status_code == 303
    r = second.post(f"/editor/services/{KEY}", data=form_b)
    assert r.status_code == 409 and "was changed by editor" in shown(r) and "not saved over" in shown(r)
    assert published(db).summary == "Editor A's text."
    assert "Editor B&#39;s text." in r.text or "Editor B's text." in shown(r)  # their work is still in the form


def test_a_draft_is_never_seen_by_residents(console: tuple[str, str]) -> None:
    base, db = console
    c = signed_in(base, "editor")
    before = published(db).summary
    form = form_of(c.get(f"/editor/services/{KEY}").text)
    form.update(summary="Draft only <script>alert(1)</script>", action="draft")
    r = c.post(f"/editor/services/{KEY}", data=form)
    assert r.status_code == 200 and "Draft saved" in shown(r)
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;" in r.text
    assert published(db).summary == before
    again = c.get(f"/editor/services/{KEY}").text
    assert "unpublished draft" in again and "Draft only" in again


def test_preview_without_the_bot_running_says_so_and_saves_nothing(console: tuple[str, str]) -> None:
    base, db = console
    c = signed_in(base, "editor")
    form = form_of(c.get(f"/editor/services/{KEY}").text)
    form.update(summary="Preview text", action="preview", question="pothole on my road")
    r = c.post(f"/editor/services/{KEY}", data=form)
    assert "needs the bot to be running" in shown(r)
    assert published(db).summary != "Preview text"


def test_versions_show_who_why_and_a_diff(console: tuple[str, str]) -> None:
    base, db = console
    c = signed_in(base, "editor")
    form = form_of(c.get(f"/editor/services/{KEY}").text)
    form.update(summary="Versioned text.", reason="Checking versions", action="publish")
    assert c.post(f"/editor/services/{KEY}", data=form).status_code == 303
    with session_scope(db) as s:
        numbers = sorted(s.execute(select(ContentVersion.number)).scalars())
    page = shown(c.get("/editor/versions", params={"a": numbers[-2], "b": numbers[-1]}))
    assert "Checking versions" in page and "+summary: Versioned text." in page


def test_adding_a_service_and_retiring_it(console: tuple[str, str]) -> None:
    base, db = console
    c = signed_in(base, "editor")
    token = csrf_in(c.get("/editor/services/new").text)
    form = {
        "csrf_token": token,
        "base_version": "0",
        "key": "roads.bridges",
        "title": "Report a damaged bridge",
        "url": "https://www.northshire.gov.uk/roads/bridges",
        "category": "roads",
        "summary": "Tell us about damage to a bridge or its railings.",
        "phone": "0300 123 4567",
        "synonyms": "bridge\nrailings",
        "owner": "Highways team",
        "review_by": "2027-06-30",
        "reason": "New service",
        "action": "publish",
    }
    assert c.post("/editor/services/new", data=form).status_code == 303
    assert c.post("/editor/services/new", data=form).status_code == 400  # the key is taken
    token = csrf_in(c.get("/editor/services/roads.bridges").text)
    assert (
        c.post("/editor/services/roads.bridges/retire", data={"csrf_token": token, "reason": "Merged"}).status_code
        == 303
    )
    with session_scope(db) as s:
        assert s.execute(select(Service.active).where(Service.key == "roads.bridges")).scalar_one() is False


def test_notices_are_added_with_checks(console: tuple[str, str]) -> None:
    base, db = console
    c = signed_in(base, "editor")
    token = csrf_in(c.get("/editor/notices").text)
    start = dt.datetime.now() + dt.timedelta(hours=1)
    bad = c.post(
        "/editor/notices",
        data={
            "csrf_token": token,
            "title": "Gritting",
            "body": "Out tonight.",
            "service_keys": "roads.gritting",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert bad.status_code == 400 and "The end must be after the start" in shown(bad)
    ok = c.post(
        "/editor/notices",
        data={
            "csrf_token": token,
            "title": "Gritting tonight",
            "body": "Gritters are out from 6pm on priority routes.",
            "service_keys": ["roads.gritting", "roads.pothole"],
            "area": "nb1",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + dt.timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert ok.status_code == 303
    with session_scope(db) as s:
        notice = s.execute(select(Notice)).scalars().all()[-1]
        assert notice.service_keys == ["roads.gritting", "roads.pothole"] and notice.area == "NB1"
    assert "Gritting tonight" in shown(c.get("/editor/notices"))


def test_posts_without_csrf_are_refused(console: tuple[str, str]) -> None:
    base, db = console
    c = signed_in(base, "editor")
    before = published(db).summary
    r = c.post(f"/editor/services/{KEY}", data={"summary": "csrf-less", "action": "publish", "reason": "x"})
    assert r.status_code == 403 and published(db).summary == before


def test_a_form_too_large_to_read_is_told_so(console: tuple[str, str]) -> None:
    base, db = console
    c = signed_in(base, "editor")
    before = published(db).summary
    token = csrf_in(c.get(f"/editor/services/{KEY}").text)
    r = c.post(
        f"/editor/services/{KEY}",
        data={"csrf_token": token, "summary": "x" * (2 * 1024 * 1024), "action": "publish", "reason": "big"},
    )
    assert r.status_code == 413 and "larger than 1 MB" in shown(r)
    assert published(db).summary == before


def beside(page: str, name: str) -> str:
    """The message shown next to form field `name` (empty if none)."""
    match = re.search(rf'<p class="error-message" id="{name}-error">(.*?)</p>', page, re.S)
    return match.group(1) if match else ""


def publish_with(base: str, name: str, value: str) -> tuple[int, str]:
    c = signed_in(base, "editor")
    form = form_of(c.get(f"/editor/services/{KEY}").text)
    form.update({name: value, "reason": "testing", "action": "publish"})
    r = c.post(f"/editor/services/{KEY}", data=form)
    return r.status_code, shown(r)


def state(db: str) -> tuple:
    with session_scope(db) as s:
        svc = s.execute(select(Service).where(Service.key == KEY)).scalar_one()
        return svc.title, svc.url, svc.version, len(s.execute(select(ContentVersion)).all())


@pytest.mark.parametrize("name,value,expected", BAD, ids=IDS)
def test_bad_input_is_refused_beside_its_field_in_the_schemas_words(
    console: tuple[str, str], name: str, value: str, expected: str
) -> None:
    """The same words as the YAML load and the CSV import (tests/knowledge/test_service_schema.py)."""
    base, db = console
    before = state(db)
    status, page = publish_with(base, name, value)
    assert status == 400
    assert beside(page, name) == expected
    assert state(db) == before  # nothing published, no version recorded


@pytest.mark.postgres
def test_on_postgresql_an_over_long_link_is_a_field_error_not_an_error_page(pg_schema_url: str, tmp_path: Path) -> None:
    with session_scope(pg_schema_url) as s:
        load(s, CONTENT_DIR)
        create_user(s, "editor", "Eddie Editor", EDITOR, PASSWORD)
    before = state(pg_schema_url)
    with running_console(pg_schema_url, tmp_path / "console.log") as base:
        status, page = publish_with(base, "url", LONG_URL)
    assert status == 400
    assert beside(page, "url") == "url is 665 characters; keep it under 500"
    assert state(pg_schema_url) == before
