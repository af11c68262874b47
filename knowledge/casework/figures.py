"""The numbers a contact-centre manager asks for: cases opened and resolved, why and where from, how fast
staff answered, SLA breaches, satisfaction, and how many conversations the bot handled on its own.

Computed in Python from plain rows so it reads the same on SQLite and PostgreSQL; a council's volumes
(thousands of cases a month) make that cheap.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from knowledge.delivery.conversations import utcnow
from knowledge.models import Case, Conversation


@dataclass
class Figures:
    """Figures for the `days` days up to `until`. Times are in hours; None when there is nothing to measure.
    `containment` is the share of conversations started in the period that never needed a case."""

    days: int
    until: str
    opened: int = 0
    resolved: int = 0
    opened_per_day: dict[str, int] = field(default_factory=dict)
    resolved_per_day: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, int] = field(default_factory=dict)
    median_first_response_hours: Optional[float] = None
    median_resolve_hours: Optional[float] = None
    sla_breaches: int = 0
    open_now: int = 0
    satisfaction_count: int = 0
    satisfaction_mean: Optional[float] = None
    satisfaction_spread: dict[str, int] = field(default_factory=dict)
    conversations: int = 0
    conversations_with_case: int = 0
    containment: Optional[float] = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hours(delta: dt.timedelta) -> float:
    return round(delta.total_seconds() / 3600, 2)


def _median(values: list[float]) -> Optional[float]:
    return round(statistics.median(values), 2) if values else None


def compute(session: Session, days: int = 30, now: Optional[dt.datetime] = None) -> Figures:
    now = now or utcnow()
    since = now - dt.timedelta(days=days)
    fig = Figures(days=days, until=now.isoformat(timespec="minutes"))
    opened = list(session.execute(select(Case).where(Case.created_at >= since, Case.created_at <= now)).scalars())
    resolved = list(session.execute(select(Case).where(Case.resolved_at >= since, Case.resolved_at <= now)).scalars())
    fig.opened, fig.resolved = len(opened), len(resolved)
    fig.opened_per_day = dict(sorted(Counter(c.created_at.date().isoformat() for c in opened).items()))
    fig.resolved_per_day = dict(sorted(Counter(c.resolved_at.date().isoformat() for c in resolved).items()))
    fig.by_reason = dict(Counter(c.reason for c in opened).most_common())
    fig.by_channel = dict(Counter(c.channel for c in opened).most_common())
    fig.median_first_response_hours = _median(
        [_hours(c.first_response_at - c.created_at) for c in opened if c.first_response_at]
    )
    fig.median_resolve_hours = _median([_hours(c.resolved_at - c.created_at) for c in resolved])
    # Breached: answered after the due time, or still unanswered past it.
    fig.sla_breaches = sum(
        1
        for c in opened
        if (c.first_response_at or now) > c.sla_due_at and (c.first_response_at is not None or c.status != "resolved")
    )
    fig.open_now = session.execute(select(func.count()).select_from(Case).where(Case.status != "resolved")).scalar_one()
    scores = [c.satisfaction for c in resolved if c.satisfaction]
    fig.satisfaction_count = len(scores)
    fig.satisfaction_mean = round(statistics.mean(scores), 2) if scores else None
    fig.satisfaction_spread = {str(n): scores.count(n) for n in range(1, 6)}
    started = set(
        session.execute(
            select(Conversation.id).where(Conversation.created_at >= since, Conversation.created_at <= now)
        ).scalars()
    )
    with_case = (
        set(session.execute(select(Case.conversation_id).where(Case.conversation_id.in_(started))).scalars())
        if started
        else set()
    )
    fig.conversations, fig.conversations_with_case = len(started), len(with_case)
    fig.containment = round(1 - len(with_case) / len(started), 3) if started else None
    return fig


def as_text(fig: Figures) -> str:
    """The figures as lines for the terminal."""

    def show(value: Optional[float], unit: str = "") -> str:
        return "n/a" if value is None else f"{value}{unit}"

    lines = [
        f"Last {fig.days} days (to {fig.until} UTC)",
        f"  cases opened {fig.opened}, resolved {fig.resolved}, open now {fig.open_now}",
        f"  by reason: {', '.join(f'{k} {v}' for k, v in fig.by_reason.items()) or 'none'}",
        f"  by channel: {', '.join(f'{k} {v}' for k, v in fig.by_channel.items()) or 'none'}",
        f"  median time to first response {show(fig.median_first_response_hours, ' h')}, "
        f"to resolve {show(fig.median_resolve_hours, ' h')}",
        f"  SLA breaches {fig.sla_breaches}",
        f"  satisfaction {show(fig.satisfaction_mean, ' / 5')} from {fig.satisfaction_count} answers",
        f"  conversations {fig.conversations}, needed a person {fig.conversations_with_case}, "
        f"containment {show(None if fig.containment is None else round(fig.containment * 100, 1), '%')}",
        "  opened per day: " + (", ".join(f"{d} {n}" for d, n in fig.opened_per_day.items()) or "none"),
    ]
    return "\n".join(lines)
