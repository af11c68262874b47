"""Status changes reach every resident on the report once, on their own channel, never at night; outside
the platform's rules they are emailed, or the console is told why not."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from knowledge.casework import cases
from knowledge.models import Case, CaseContact, OutboundMessage, ReportNotification
from knowledge.reports import filing, lookup, nearby, notifying, updates
from knowledge.reports.quiet_hours import QuietHours
from tests.knowledge.reports.conftest import NOW, Factory, add_conversation, save_draft

ANN, BOB, CAT = "messenger:1001", "messenger:1002", "webchat:web-3"


def _filed(factory: Factory) -> int:
    add_conversation(factory, ANN)
    save_draft(factory, ANN)
    with factory() as s:
        return int(filing.file_report(s, ANN, NOW).report.id)


def test_one_notification_per_resident_and_none_when_unchanged(factory: Factory) -> None:
    report = _filed(factory)
    add_conversation(factory, BOB)
    with factory() as s:
        nearby.join(s, report, BOB, "messenger", NOW)
    with factory() as s:
        change = updates.change_status(s, report, "action_scheduled", NOW, note="Booked for Friday.", actor="casey")
        assert change is not None and change.source == "staff"
        assert updates.change_status(s, report, "action_scheduled", NOW) is None
    with factory() as s:
        rows = s.execute(select(ReportNotification.state, ReportNotification.due_at)).all()
        assert rows == [("waiting", NOW), ("waiting", NOW)]
        assert [u.status for u in updates.history(s, report)] == ["open", "action_scheduled"]


def test_an_unknown_status_is_refused(factory: Factory) -> None:
    report = _filed(factory)
    with factory() as s, pytest.raises(updates.UnknownStatus):
        updates.change_status(s, report, "mended", NOW)


def test_the_change_reaches_the_resident_on_messenger_once_even_with_two_workers(factory: Factory) -> None:
    report = _filed(factory)
    with factory() as s:
        updates.change_status(s, report, "action_scheduled", NOW, note="Booked for Friday.")
    later = NOW + dt.timedelta(seconds=10)
    with factory() as s:
        first = notifying.deliver_due(s, later)
    with factory() as s:
        second = notifying.deliver_due(s, later)
    assert [d.state for d in first] == ["queued"] and second == []
    with factory() as s:
        out = s.execute(select(OutboundMessage)).scalars().all()
        assert len(out) == 1 and out[0].kind == "report_update" and out[0].channel == "messenger"
        assert out[0].target["user_id"] == "1001"
        text = out[0].text
        assert "NC-2026-000001" in text and "We've inspected it and the repair is booked." in text
        assert "Booked for Friday." in text


def test_quiet_hours_hold_an_evening_change_until_the_morning(factory: Factory) -> None:
    report = _filed(factory)
    evening = dt.datetime(2026, 12, 1, 22, 30)  # GMT: 22:30 local
    with factory() as s:
        updates.change_status(s, report, "in_progress", evening)
    with factory() as s:
        assert notifying.deliver_due(s, evening + dt.timedelta(hours=3)) == []
        due = s.execute(select(ReportNotification.due_at)).scalar_one()
        assert due == dt.datetime(2026, 12, 2, 8, 0)
    with factory() as s:
        assert [d.state for d in notifying.deliver_due(s, dt.datetime(2026, 12, 2, 8, 0))] == ["queued"]


def test_quiet_hours_follow_british_summer_time() -> None:
    quiet = QuietHours.parse("21:00-08:00", "Europe/London")
    assert quiet is not None
    # 20:30 UTC in July is 21:30 BST: quiet until 08:00 BST, which is 07:00 UTC.
    assert quiet.next_allowed(dt.datetime(2026, 7, 1, 20, 30)) == dt.datetime(2026, 7, 2, 7, 0)
    assert quiet.next_allowed(dt.datetime(2026, 7, 1, 12, 0)) == dt.datetime(2026, 7, 1, 12, 0)
    # 03:00 UTC in December is 03:00 GMT: quiet until 08:00 the same morning.
    assert quiet.next_allowed(dt.datetime(2026, 12, 2, 3, 0)) == dt.datetime(2026, 12, 2, 8, 0)


def _case_with_email(factory: Factory, conversation_id: str, email: str) -> None:
    with factory() as s:
        case = Case(
            reference=cases.next_reference(s, NOW),
            conversation_id=conversation_id,
            channel="messenger",
            reason="asked",
            priority="normal",
            status="resolved",
            sla_due_at=NOW,
        )
        s.add(case)
        s.flush()
        s.add(CaseContact(case_id=case.id, state="done", email=email, offered_at=NOW))


def test_outside_the_window_the_resident_is_emailed_if_they_left_an_address(factory: Factory) -> None:
    report = _filed(factory)
    _case_with_email(factory, ANN, "ann@example.org")
    two_days = NOW + dt.timedelta(days=2)  # Messenger's 24 hours have passed; the bot may not use the tag
    with factory() as s:
        updates.change_status(s, report, "fixed", two_days)
    sent: list[tuple[str, str, str]] = []
    with factory() as s:
        done = notifying.deliver_due(s, two_days, mailer=lambda *mail: sent.append(mail))
    assert [d.state for d in done] == ["emailed"]
    assert len(sent) == 1 and sent[0][0] == "ann@example.org" and "It's been fixed." in sent[0][2]
    with factory() as s:
        assert s.execute(select(OutboundMessage)).first() is None


def test_outside_the_window_without_an_address_the_console_is_told_why(factory: Factory) -> None:
    report = _filed(factory)
    two_days = NOW + dt.timedelta(days=2)
    with factory() as s:
        updates.change_status(s, report, "fixed", two_days)
    with factory() as s:
        done = notifying.deliver_due(s, two_days, mailer=lambda *mail: None)
    assert [d.state for d in done] == ["unreachable"]
    with factory() as s:
        row = s.execute(select(ReportNotification)).scalar_one()
        assert row.state == "unreachable" and "window has closed" in row.detail and "No email" in row.detail


def test_web_chat_residents_get_the_update_queued_for_their_page(factory: Factory) -> None:
    report = _filed(factory)
    add_conversation(factory, CAT, channel="webchat", last_inbound_at=NOW - dt.timedelta(days=3))
    with factory() as s:
        nearby.join(s, report, CAT, "webchat", NOW)
    with factory() as s:
        updates.change_status(s, report, "investigating", NOW)
    with factory() as s:
        states = {d.conversation_id: d.state for d in notifying.deliver_due(s, NOW)}
    assert states == {ANN: "queued", CAT: "queued"}


def test_only_residents_on_a_report_can_read_it_by_reference(factory: Factory) -> None:
    _filed(factory)
    with factory() as s:
        assert lookup.for_resident(s, "nc 2026 1", ANN) is not None
        assert lookup.for_resident(s, "NC-2026-000001", BOB) is None
        assert lookup.for_resident(s, "NC-2026-000999", ANN) is None
