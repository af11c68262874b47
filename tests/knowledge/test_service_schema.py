"""One service schema: the YAML load and the CSV import refuse the same bad values with the same words
(the editor's form is shown refusing them too, in tests/bot/test_console_editor.py), and the schema's
limits are the database columns'."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import String, select

from knowledge.catalogue import editing
from knowledge.catalogue.content import ContentInvalid, load, read_content
from knowledge.catalogue.service_schema import (
    CouncilSchema,
    RedirectSchema,
    ServiceSchema,
    validate_redirect,
    validate_service,
)
from knowledge.catalogue.transfer import apply_import, export_csv, plan_csv
from knowledge.db import session_scope
from knowledge.models import ContentVersion, Council, Redirect, Service
from tests.bad_service_values import BAD, IDS, KEY


def published(kb_url: str) -> tuple[dict, int]:
    with session_scope(kb_url) as s:
        svc = s.execute(select(Service).where(Service.key == KEY)).scalar_one()
        versions = len(s.execute(select(ContentVersion)).all())
        return {"title": svc.title, "url": svc.url, "version": svc.version}, versions


@pytest.mark.parametrize("name,value,expected", BAD, ids=IDS)
def test_yaml_load_refuses_it_with_the_schemas_words(
    kb_url: str, content_copy: Path, name: str, value: str, expected: str
) -> None:
    roads = content_copy / "services" / "roads.yml"
    text = roads.read_text(encoding="utf-8")
    original = {
        "title": "title: Report a pothole\n",
        "url": "url: https://www.northshire.gov.uk/roads/report-a-pothole\n",
    }[name]
    roads.write_text(text.replace(original, f"{name}: {json.dumps(value)}\n", 1), encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if row.strip() == f"- key: {KEY}")

    _, errors = read_content(content_copy)
    assert [str(e) for e in errors] == [f"{roads}:{line}: service '{KEY}': {expected}"]
    assert errors[0].field == name
    before = published(kb_url)
    with pytest.raises(ContentInvalid), session_scope(kb_url) as s:
        load(s, content_copy)
    assert published(kb_url) == before


def _csv_with(kb_url: str, name: str, value: str) -> tuple[str, int]:
    with session_scope(kb_url) as s:
        rows = list(csv.DictReader(io.StringIO(export_csv(s))))
    number = next(i for i, row in enumerate(rows, 2) if row["key"] == KEY)
    rows[number - 2][name] = value
    out = io.StringIO()
    writer = csv.DictWriter(out, list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue(), number


@pytest.mark.parametrize("name,value,expected", BAD, ids=IDS)
def test_csv_import_refuses_it_with_the_same_words(kb_url: str, name: str, value: str, expected: str) -> None:
    data, row = _csv_with(kb_url, name, value)
    before = published(kb_url)
    with session_scope(kb_url) as s:
        plan = plan_csv(s, data, "services.csv")
    assert [str(e) for e in plan.errors] == [f"services.csv:{row}: service '{KEY}': {expected}"]
    with pytest.raises(ContentInvalid), session_scope(kb_url) as s:
        apply_import(s, plan, "eddie", "Annual review")
    assert published(kb_url) == before


@pytest.mark.parametrize("name,value,expected", BAD, ids=IDS)
def test_the_editors_publish_refuses_it_with_the_same_words(kb_url: str, name: str, value: str, expected: str) -> None:
    before = published(kb_url)
    with session_scope(kb_url) as s:
        svc = s.execute(select(Service).where(Service.key == KEY)).scalar_one()
        values = {**{n: getattr(svc, n) for n in editing.EDITABLE}, name: value}
    with pytest.raises(editing.EditError) as refused, session_scope(kb_url) as s:
        editing.publish_service(s, "eddie", values, before[0]["version"], "testing")
    assert refused.value.fields == {name: expected}
    assert published(kb_url) == before


def _service(**changes: object) -> dict:
    values = {
        "key": "bins.missed",
        "title": "Report a missed bin",
        "url": "https://www.northshire.gov.uk/bins",
        "category": "bins",
        "summary": "Tell us.",
        "phone": "0300 123 4567",
        "synonyms": ["missed bin"],
        "owner": "Waste team",
        "review_by": dt.date(2027, 3, 31),
    }
    return {**values, **changes}


def test_text_typed_in_a_form_box_keeps_its_line_breaks_as_newlines() -> None:
    checked = validate_service(
        _service(summary="First line.\r\nSecond line.\r\n", eligibility=""), ["northshire.gov.uk"]
    )
    assert checked.errors == []
    assert checked.values["summary"] == "First line.\nSecond line."
    assert checked.values["eligibility"] is None and checked.values["examples"] == []
    assert checked.values["active"] is True and checked.values["always_human"] is False


@pytest.mark.parametrize(
    "changes,field,expected",
    [
        ({"title": "Missed\nbin"}, "title", "title has a control character (U+000A) at character 7"),
        ({"summary": "Tell \u2066us\u2069."}, "summary", "summary has a control character (U+2066) at character 6"),
        (
            {"synonyms": ["bin", "mis\u200bsed"]},
            "synonyms",
            "synonyms has a control character (U+200B) at character 4 of item 2",
        ),
        (
            {"what_you_need": ["x" * 201]},
            "what_you_need",
            "what_you_need has an item of 201 characters; keep each under 200",
        ),
        ({"examples": ["where is my bin?"] * 51}, "examples", "examples: at most 50 questions of up to 300 characters"),
        ({"phone": "0300 123 4567 (" + "x" * 40 + ")"}, "phone", "phone is 56 characters; keep it under 50"),
        ({"owner": ""}, "owner", "missing required field 'owner'"),
        ({"titel": "Typo"}, "titel", "unknown field 'titel' (allowed: key, title, url,"),
    ],
)
def test_each_rule_names_its_field(changes: dict, field: str, expected: str) -> None:
    checked = validate_service(_service(**changes), ["northshire.gov.uk"])
    assert checked.values is None
    assert [e.field for e in checked.errors] == [field]
    assert expected in checked.errors[0].message


def test_line_breaks_and_tabs_are_fine_in_a_summary() -> None:
    assert validate_service(_service(summary="One.\nTwo.\tThree."), []).errors == []


def test_redirects_keep_their_own_names_and_the_same_rules() -> None:
    checked = validate_redirect(
        {"key": "police", "to": "the police", "summary": "Call 101.", "url": "https://x.police.uk"}, ["police.uk"]
    )
    assert checked.values == {
        "key": "police",
        "to_name": "the police",
        "url": "https://x.police.uk",
        "phone": None,
        "summary": "Call 101.",
        "synonyms": [],
    }
    refused = validate_redirect({"key": "police", "to": "x" * 301, "summary": "Call 101."}, [])
    assert [e.message for e in refused.errors] == ["to is 301 characters; keep it under 300"]


@pytest.mark.parametrize(
    "schema,model,renamed",
    [
        (ServiceSchema, Service, {}),
        (RedirectSchema, Redirect, {"to": "to_name"}),
        (CouncilSchema, Council, {}),
    ],
    ids=["service", "redirect", "council"],
)
def test_length_limits_are_the_database_columns(schema: type, model: type, renamed: dict) -> None:
    """Text the schema accepts always fits its column: on PostgreSQL a longer value is an error page."""
    checked = 0
    for name, field in schema.__fields__.items():
        column = model.__table__.columns[renamed.get(name, name)]
        if isinstance(column.type, String) and column.type.length:
            limit = field.field_info.max_length
            if name == "category":  # it names an export file, so it is kept shorter on purpose
                assert limit is not None and limit <= column.type.length
            else:
                assert limit == column.type.length, name
            checked += 1
    assert checked >= 4
