"""Staff settling a report whose sending was in doubt can't give it another report's back-office id: that
report's status changes would then reach this report's residents too."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from knowledge.db import session_scope
from knowledge.models import Report
from tests.bot.console_helpers import csrf_in, shown
from tests.bot.test_console_reports import add_report, agent, console, uploads  # noqa: F401 - fixtures


def test_an_id_already_on_another_report_is_refused_in_words(
    console: tuple[str, str],  # noqa: F811
    agent: httpx.Client,  # noqa: F811
) -> None:
    _, db = console
    sent = add_report(db, ward="Same id F", send_state="sent", open311_id="SR-7001")
    doubt = add_report(db, ward="Same id F", send_state="uncertain")
    page = agent.get(f"/reports/{doubt}")
    there = {"csrf_token": csrf_in(page.text), "found": "there", "open311_id": "SR-7001"}
    refused = agent.post(f"/reports/{doubt}/settle", data=there)
    assert refused.status_code == 409
    assert f"already report {sent}" in shown(refused)
    with session_scope(db) as session:
        state = session.execute(select(Report.send_state, Report.open311_id).where(Report.reference == doubt)).one()
    assert tuple(state) == ("uncertain", None)
    # The right id is recorded.
    done = agent.post(f"/reports/{doubt}/settle", data={**there, "open311_id": "SR-7002"})
    assert "Recorded as sent" in shown(agent.get(done.headers["location"]))
