"""The unanswered questions page of the staff console over real HTTP: editors see groups with counts and
escaped examples, agents are refused, and the export downloads exactly the ticked messages as YAML."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
import yaml
from sqlalchemy import select

from knowledge.catalogue.unanswered import record
from knowledge.db import session_scope
from knowledge.models import UnansweredQuestion
from tests.bot.console_helpers import csrf_in, make_db, running_console, shown, signed_in

PAYLOAD = "<script>alert('x')</script> bins not collected"
TEXTS = {
    "bins1": ("bins not collected", "fallback"),
    "bins2": ("bin not collected!!", "fallback"),
    "bins3": (PAYLOAD, "handover"),
    "permit": ("how do I renew my parking permit", "low_confidence"),
    "pothole": ('pothole: outside #4 - it\'s "huge"', "fallback"),
}
CHECKBOX = re.compile(r'<input type="checkbox" id="([^"]+)" name="ids" value="([^"]+)">\s*<label for="\1">([^<]*)<')


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, dict[str, int]]]:
    tmp = tmp_path_factory.mktemp("unanswered")
    db_url = make_db(tmp)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ids = {}
    with session_scope(db_url) as session:
        for i, (name, (text, kind)) in enumerate(TEXTS.items()):
            ids[name] = record(
                session, text, kind, conversation_id=f"web:{name}", now=now - dt.timedelta(hours=len(TEXTS) - i)
            ).id
        record(session, "very old question about bins", "fallback", now=now - dt.timedelta(days=60))
    with running_console(db_url, tmp / "console.log") as base:
        yield base, db_url, ids


def checkboxes(page: str) -> dict[str, tuple[str, str]]:
    """Checkbox id -> (value, label as shown) for every tickable example on the page."""
    import html

    return {m.group(1): (m.group(2), html.unescape(m.group(3))) for m in CHECKBOX.finditer(page)}


def test_editor_sees_groups_with_counts_kinds_and_escaped_examples(console) -> None:
    base, _, ids = console
    resp = signed_in(base, "editor").get("/editor/unanswered?days=30")
    assert resp.status_code == 200
    page = shown(resp)
    assert "Unanswered questions" in page and "5 messages in 3 groups" in page
    assert "very old question" not in page
    assert PAYLOAD not in resp.text and "&lt;script&gt;" in resp.text  # shown as text, never run
    boxes = checkboxes(resp.text)
    # The bins group is biggest, so first; its "whole group" box carries all three ids, newest first.
    assert boxes["g1-all"][0] == f"{ids['bins3']},{ids['bins2']},{ids['bins1']}"
    assert [boxes[f"g1-e{i}"][1] for i in (1, 2, 3)] == [PAYLOAD, "bin not collected!!", "bins not collected"]
    assert "3 messages" in page and "fallback 2, handover 1" in page
    assert {boxes["g2-e1"][1], boxes["g3-e1"][1]} == {TEXTS["permit"][0], TEXTS["pothole"][0]}


def test_filters_by_kind_and_period(console) -> None:
    base, _, _ = console
    c = signed_in(base, "editor")
    page = shown(c.get("/editor/unanswered?kind=handover"))
    assert "1 message in 1 group" in page
    page = shown(c.get("/editor/unanswered?days=90"))
    assert "very old question about bins" in page


def test_agent_is_refused(console) -> None:
    base, _, _ = console
    c = signed_in(base, "agent")
    assert c.get("/editor/unanswered").status_code == 403
    token = csrf_in(c.get("/").text)
    assert c.post("/editor/unanswered/export", data={"csrf_token": token, "ids": "1"}).status_code == 403


def test_export_without_csrf_is_refused_and_marks_nothing(console) -> None:
    base, db_url, ids = console
    c = signed_in(base, "editor")
    assert c.post("/editor/unanswered/export", data={"ids": str(ids["permit"])}).status_code == 403
    with session_scope(db_url) as session:
        assert session.get(UnansweredQuestion, ids["permit"]).exported_at is None


def test_export_downloads_exactly_the_chosen_texts(console) -> None:
    base, db_url, ids = console
    c = signed_in(base, "editor")
    page = c.get("/editor/unanswered").text
    boxes = checkboxes(page)
    chosen = [boxes["g1-all"][0]] + [value for value, label in boxes.values() if label == TEXTS["pothole"][0]]
    resp = c.post("/editor/unanswered/export", data={"csrf_token": csrf_in(page), "ids": chosen})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/yaml")
    assert resp.headers["content-disposition"] == 'attachment; filename="candidate-examples.yml"'
    [entry] = yaml.safe_load(resp.text)["nlu"]
    assert entry["intent"] == "candidate_unlabelled"
    assert [line[2:] for line in entry["examples"].splitlines()] == [
        "bins not collected",
        "bin not collected!!",
        PAYLOAD,
        TEXTS["pothole"][0],
    ]
    with session_scope(db_url) as session:
        exported = {r.id for r in session.execute(select(UnansweredQuestion)).scalars() if r.exported_at}
    assert exported == {ids["bins1"], ids["bins2"], ids["bins3"], ids["pothole"]}
    assert "4 exported already" not in shown(c.get("/editor/unanswered"))
    assert "3 exported already" in shown(c.get("/editor/unanswered"))


def test_export_with_nothing_ticked_explains(console) -> None:
    base, _, _ = console
    c = signed_in(base, "editor")
    token = csrf_in(c.get("/editor/unanswered").text)
    resp = c.post("/editor/unanswered/export", data={"csrf_token": token})
    assert resp.status_code == 400
    assert "Select at least one message" in shown(resp)
    resp = c.post("/editor/unanswered/export", data={"csrf_token": token, "ids": "999999"})
    assert resp.status_code == 400 and "exists any more" in shown(resp)
