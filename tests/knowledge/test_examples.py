"""Editors' example questions reach their service on the next message, with no retraining."""

from __future__ import annotations

import datetime as dt

from knowledge.catalogue import editing, examples
from knowledge.db import session_scope
from knowledge.models import Service


def _new_service(session, key: str, questions: list[str]) -> None:
    editing.publish_service(
        session,
        "editor",
        {
            "key": key,
            "title": "Warm spaces this winter",
            "url": "https://www.northshire.gov.uk/warm-spaces",
            "category": "community",
            "summary": "Free warm, welcoming places to spend time this winter.",
            "what_you_need": [],
            "phone": "0300 123 4567",
            "eligibility": "Anyone.",
            "cost": "Free.",
            "timing": "Most are open 10am to 4pm, Monday to Saturday.",
            "synonyms": ["warm space", "warm hub"],
            "examples": questions,
            "owner": "Communities team",
            "review_by": dt.date(2027, 3, 31),
            "always_human": False,
        },
        base_version=0,
        reason="new winter topic",
    )


def test_a_message_like_an_example_reaches_the_new_service(kb_url: str) -> None:
    with session_scope(kb_url) as session:
        assert examples.best_match(session, "is there anywhere warm I can sit during the day") is None
        _new_service(
            session,
            "community.warm_spaces",
            ["is there anywhere warm I can go during the day", "where are the warm hubs"],
        )
    with session_scope(kb_url) as session:
        found = examples.best_match(session, "is there anywhere warm i can sit during the day?")
        assert found is not None and found.key == "community.warm_spaces"
        assert examples.best_match(session, "my bin wasn't emptied on Tuesday") is None


def test_an_edit_counts_from_the_next_message(kb_url: str) -> None:
    with session_scope(kb_url) as session:
        _new_service(session, "community.warm_spaces", ["where are the warm hubs"])
        assert examples.best_match(session, "food bank near me") is None
    with session_scope(kb_url) as session:
        svc = session.query(Service).filter_by(key="community.warm_spaces").one()
        values = {name: getattr(svc, name) for name in editing.EDITABLE}
        values["examples"] = ["where are the warm hubs", "is there a food bank near me"]
        editing.publish_service(session, "editor", values, base_version=svc.version, reason="add food bank")
    with session_scope(kb_url) as session:
        found = examples.best_match(session, "food bank near me")
        assert found is not None and found.key == "community.warm_spaces"


def test_retired_services_examples_no_longer_match(kb_url: str) -> None:
    with session_scope(kb_url) as session:
        _new_service(session, "community.warm_spaces", ["where are the warm hubs"])
    with session_scope(kb_url) as session:
        session.query(Service).filter_by(key="community.warm_spaces").one().active = False
    with session_scope(kb_url) as session:
        assert examples.best_match(session, "where are the warm hubs") is None
