"""Which services are due for a content review, and whose job each review is.

Every service has an `owner` (the team answerable for its wording) and a `review_by` date. A service is
*due* from its review date onwards: on the day itself and every day after until someone reviews it and
moves the date. Both columns are required by the schema; a blank owner is shown as NO_OWNER.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.models import Service

NO_OWNER = "No owner"  # the group for services whose owner is blank


def due_for_review(session: Session, today: dt.date, within_days: int = 0) -> dict[str, list[Service]]:
    """Active services whose `review_by` is on or before `today + within_days`, grouped by owner. Owners
    come in alphabetical order (NO_OWNER last); each owner's services oldest date first, then by title.
    `within_days` 0 means due today or overdue; 30 adds those falling due in the next month."""
    if within_days < 0:
        raise ValueError("within_days must be 0 or more")
    cutoff = today + dt.timedelta(days=within_days)
    services = session.execute(
        select(Service)
        .where(Service.active.is_(True), Service.review_by <= cutoff)
        .order_by(Service.review_by, Service.title, Service.key)
    ).scalars()
    groups: dict[str, list[Service]] = {}
    for service in services:
        groups.setdefault((service.owner or "").strip() or NO_OWNER, []).append(service)
    owners = sorted(groups, key=lambda owner: (owner == NO_OWNER, owner.casefold()))
    return {owner: groups[owner] for owner in owners}
