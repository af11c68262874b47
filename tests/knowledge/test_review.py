"""Services due for a content review, grouped by owner, with the date boundaries exact."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from knowledge.catalogue.review import NO_OWNER, due_for_review
from knowledge.db import session_scope
from knowledge.models import Service

TODAY = dt.date(2026, 6, 15)


def add(session, key: str, owner: str, review_by: dt.date, active: bool = True) -> None:  # noqa: ANN001
    session.add(
        Service(
            key=key,
            title=f"Title {key}",
            url=f"https://www.northshire.gov.uk/{key}",
            summary="x",
            phone="0300 123 4567",
            category="test",
            owner=owner,
            review_by=review_by,
            active=active,
        )
    )


@pytest.fixture
def kb(kb_url: str) -> str:
    with session_scope(kb_url) as session:
        session.execute(update(Service).values(review_by=dt.date(2099, 1, 1)))  # seed content: not due
        add(session, "b.yesterday", "Bins team", TODAY - dt.timedelta(days=1))
        add(session, "b.long_ago", "Bins team", dt.date(2025, 1, 1))
        add(session, "b.today", "Bins team", TODAY)
        add(session, "b.tomorrow", "Bins team", TODAY + dt.timedelta(days=1))
        add(session, "a.in_30", "adult social care", TODAY + dt.timedelta(days=30))
        add(session, "a.in_31", "adult social care", TODAY + dt.timedelta(days=31))
        add(session, "x.retired", "Bins team", dt.date(2020, 1, 1), active=False)
        add(session, "n.blank_owner", "  ", TODAY - dt.timedelta(days=3))
        add(session, "n.same_day_b", "", TODAY)
        add(session, "n.same_day_a", "", TODAY)
    return kb_url


def keys(due: dict[str, list[Service]]) -> dict[str, list[str]]:
    return {owner: [s.key for s in services] for owner, services in due.items()}


def test_due_today_and_overdue_grouped_by_owner(kb: str) -> None:
    with session_scope(kb) as session:
        due = keys(due_for_review(session, TODAY))
    assert due == {
        "Bins team": ["b.long_ago", "b.yesterday", "b.today"],
        NO_OWNER: ["n.blank_owner", "n.same_day_a", "n.same_day_b"],
    }
    assert list(due) == ["Bins team", NO_OWNER]  # no owner goes last


def test_within_days_includes_the_last_day_and_not_the_next(kb: str) -> None:
    with session_scope(kb) as session:
        due = keys(due_for_review(session, TODAY, within_days=30))
        one_day = keys(due_for_review(session, TODAY, within_days=1))
    assert due == {
        "adult social care": ["a.in_30"],
        "Bins team": ["b.long_ago", "b.yesterday", "b.today", "b.tomorrow"],
        NO_OWNER: ["n.blank_owner", "n.same_day_a", "n.same_day_b"],
    }
    assert list(due) == ["adult social care", "Bins team", NO_OWNER]  # alphabetical whatever the case
    assert one_day["Bins team"][-1] == "b.tomorrow"


def test_nothing_due_and_bad_input(kb_url: str) -> None:
    with session_scope(kb_url) as session:
        session.execute(update(Service).values(review_by=TODAY + dt.timedelta(days=1)))
        session.flush()
        assert due_for_review(session, TODAY) == {}
        assert sum(len(v) for v in due_for_review(session, TODAY, 1).values()) > 0
        with pytest.raises(ValueError):
            due_for_review(session, TODAY, within_days=-1)
