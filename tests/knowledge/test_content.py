"""Seed content: coverage of the catalogue, validation messages, idempotent all-or-nothing load, export."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from knowledge.catalogue.content import ContentInvalid, export, load, read_content
from knowledge.db import session_scope
from knowledge.models import Service
from knowledge.settings import CONTENT_DIR


def test_shipped_content_is_valid() -> None:
    content, errors = read_content(CONTENT_DIR)
    assert errors == []
    assert len(content.services) >= 52


def test_every_catalogue_service_is_covered_at_its_exact_address(catalogue: dict) -> None:
    content, _ = read_content(CONTENT_DIR)
    by_key = {s["key"]: s for s in content.services}
    site = catalogue["council"]["site"]
    for entry in catalogue["services"]:
        assert entry["key"] in by_key, f"{entry['key']} missing from knowledge/content"
        assert by_key[entry["key"]]["url"] == site + entry["path"]
    redirects = {r["key"] for r in content.redirects}
    assert redirects >= {r["key"] for r in catalogue["redirects"]}
    assert str(content.council["phone"]) == catalogue["council"]["phone"]


def _break(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    "old,new,expected",
    [
        (
            "url: https://www.northshire.gov.uk/bins/report-missed-collection",
            "url: htp//northshire bins",
            "not a well-formed https:// address",
        ),
        (
            "url: https://www.northshire.gov.uk/bins/report-missed-collection",
            "url: https://evil.example.com/bins",
            "not on an allowed site",
        ),
        ("key: bins.missed", "key: bins.collection_day", "duplicate service key 'bins.collection_day'"),
        (
            "title: Report a missed bin collection",
            "title: Report a missed bin collection\n    title: Again",
            "field 'title' appears twice",
        ),
        ("title: Report a missed bin collection", "titel: Report a missed bin collection", "unknown field 'titel'"),
        ("review_by: 2027", "review_by: soon #", "must be a date"),
    ],
)
def test_validation_names_file_line_and_problem(content_copy: Path, old: str, new: str, expected: str) -> None:
    bins = content_copy / "services" / "bins.yml"
    _break(bins, old, new)
    _, errors = read_content(content_copy)
    assert errors, "the broken file was accepted"
    messages = [str(e) for e in errors]
    assert any(expected in m and str(bins) in m for m in messages), messages
    assert all(e.line >= 1 for e in errors)


def test_invalid_yaml_is_reported_with_its_line(content_copy: Path) -> None:
    bins = content_copy / "services" / "bins.yml"
    lines = bins.read_text().splitlines()
    lines[5] = lines[5] + " : : ["
    bins.write_text("\n".join(lines))
    _, errors = read_content(content_copy)
    assert any("not valid YAML" in str(e) and e.line >= 5 for e in errors)


def test_load_is_idempotent(kb_url: str) -> None:
    with session_scope(kb_url) as session:
        report = load(session, CONTENT_DIR)
    assert report.added == [] and report.updated == [] and report.retired == []
    assert report.unchanged >= 56


def test_load_is_all_or_nothing(kb_url: str, content_copy: Path) -> None:
    _break(content_copy / "services" / "roads.yml", "Report a pothole", "Pothole (changed)")
    _break(content_copy / "services" / "bins.yml", "key: bins.missed", "key: Bins Missed!")
    with pytest.raises(ContentInvalid), session_scope(kb_url) as session:
        load(session, content_copy)
    with session_scope(kb_url) as session:
        titles = set(session.execute(select(Service.title)).scalars())
    assert "Report a pothole" in titles and "Pothole (changed)" not in titles


def test_load_updates_and_retires(kb_url: str, content_copy: Path) -> None:
    _break(content_copy / "services" / "roads.yml", "title: Report a pothole", "title: Report a pothole or crater")
    jobs = content_copy / "services" / "council.yml"
    text = jobs.read_text()
    start = text.index("  - key: jobs")
    end = text.find("\n  - key:", start + 1)
    jobs.write_text(text[:start] + (text[end + 1 :] if end != -1 else ""))
    with session_scope(kb_url) as session:
        report = load(session, content_copy)
    assert report.updated == ["roads.pothole"]
    assert report.retired == ["jobs"]
    with session_scope(kb_url) as session:
        jobs_row = session.execute(select(Service).where(Service.key == "jobs")).scalar_one()
        assert jobs_row.active is False  # retired, history kept


def test_export_round_trips(kb_url: str, tmp_path: Path) -> None:
    out = tmp_path / "exported"
    with session_scope(kb_url) as session:
        export(session, out)
    exported, errors = read_content(out)
    assert errors == []
    original, _ = read_content(CONTENT_DIR)

    def strip(items: list[dict]) -> dict:
        return {
            i["key"]: {k: v for k, v in i.items() if not k.startswith("__") and v not in (None, False)} for i in items
        }

    assert strip(exported.services) == strip(original.services)
    assert strip(exported.redirects) == strip(original.redirects)


def test_a_control_character_is_reported_not_a_crash(content_copy) -> None:  # type: ignore[no-untyped-def]
    from knowledge.catalogue.content import read_content

    path = content_copy / "redirects.yml"
    path.write_text(path.read_text() + "\n# bad \x07 byte\n")
    _, errors = read_content(content_copy)
    assert any("redirects.yml" in e.path and "not valid YAML" in e.message for e in errors)


def test_a_category_that_is_a_path_is_refused(content_copy) -> None:  # type: ignore[no-untyped-def]
    from knowledge.catalogue.content import read_content, validate

    path = content_copy / "services" / "roads.yml"
    path.write_text(path.read_text().replace("category: roads", "category: ../../etc", 1))
    content, errors = read_content(content_copy)
    assert any("category '../../etc' must be one lower-case word" in e.message for e in errors + validate(content))
