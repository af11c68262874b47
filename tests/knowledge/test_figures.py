"""The figures a manager reads: counts per day, reason and channel, medians, SLA breaches, satisfaction,
containment, from cases and conversations laid out by hand with known answers."""

from __future__ import annotations

import datetime as dt

from knowledge.casework.figures import as_text, compute
from knowledge.db import session_scope
from knowledge.models import Case, Conversation

NOW = dt.datetime(2026, 11, 20, 16, 0)


def _case(
    n: int,
    created: dt.datetime,
    reason: str = "asked",
    channel: str = "webchat",
    first: float | None = None,
    resolved: float | None = None,
    due: float = 8,
    score: int | None = None,
) -> Case:
    return Case(
        reference=f"NC-2026-{n:06d}",
        conversation_id=f"c{n}",
        channel=channel,
        origin="private",
        reason=reason,
        priority="normal",
        status="resolved" if resolved is not None else "assigned",
        created_at=created,
        last_activity_at=created,
        sla_due_at=created + dt.timedelta(hours=due),
        first_response_at=created + dt.timedelta(hours=first) if first is not None else None,
        resolved_at=created + dt.timedelta(hours=resolved) if resolved is not None else None,
        satisfaction=score,
        tags=[],
    )


def test_figures_from_known_cases(kb_url: str) -> None:
    day1, day2 = NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=1)
    with session_scope(kb_url) as s:
        s.add_all(
            [
                _case(1, day1, first=1, resolved=2, score=5),  # on time
                _case(2, day1, reason="crisis", channel="messenger", first=3, resolved=6, due=1, score=3),  # late
                _case(3, day2, first=2),  # open, answered on time
                _case(4, NOW - dt.timedelta(hours=10), due=2),  # open, unanswered, overdue
                _case(5, NOW - dt.timedelta(days=40), first=1, resolved=1),  # outside the period
            ]
        )
        s.add_all(
            [
                Conversation(id=f"c{n}", channel="webchat", origin="private", platform_user_id=str(n), created_at=day1)
                for n in range(1, 5)
            ]
        )
        s.add_all(
            [
                Conversation(
                    id=f"bot-only-{n}", channel="webchat", origin="private", platform_user_id=str(n), created_at=day2
                )
                for n in range(6)
            ]
        )
    with session_scope(kb_url) as s:
        fig = compute(s, days=30, now=NOW)
    assert (fig.opened, fig.resolved, fig.open_now) == (4, 2, 2)
    assert fig.opened_per_day == {
        day1.date().isoformat(): 2,
        day2.date().isoformat(): 1,
        (NOW - dt.timedelta(hours=10)).date().isoformat(): 1,
    }
    assert fig.by_reason == {"asked": 3, "crisis": 1} and fig.by_channel == {"webchat": 3, "messenger": 1}
    assert fig.median_first_response_hours == 2.0  # of 1, 3, 2
    assert fig.median_resolve_hours == 4.0  # of 2, 6
    assert fig.sla_breaches == 2  # case 2 answered late, case 4 still unanswered
    assert (fig.satisfaction_count, fig.satisfaction_mean) == (2, 4.0)
    assert (fig.conversations, fig.conversations_with_case, fig.containment) == (10, 4, 0.6)
    assert "containment 60.0%" in as_text(fig)


def test_no_data_says_so_rather_than_zero(kb_url: str) -> None:
    with session_scope(kb_url) as s:
        fig = compute(s, days=7, now=NOW)
    assert fig.opened == 0 and fig.median_first_response_hours is None and fig.containment is None
    assert "n/a" in as_text(fig)
