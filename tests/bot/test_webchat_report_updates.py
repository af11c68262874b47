"""A status change on a report reaches a web chat (or REST) resident: their page collects it once, as from
the council with the reference, only with the conversation's owner token; it is in the history after a
reload; and until the page collects it the console says it is waiting for the resident to open the chat.

Responses are built by the functions the routes call, as in test_webchat_memory.py; the page itself in
real Chromium is tests/e2e/test_report_update_browser.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any, Optional

from sqlalchemy import select, update

from bot.channels import rest, webchat_memory
from bot.channels.webchat import SENDER_PREFIX
from bot.console.views.reports import told_words
from knowledge.db import session_scope
from knowledge.delivery import chat_history
from knowledge.models import Conversation, OutboundMessage
from knowledge.reports import drafts, filing, listing, notifying, updates
from tests.bot.test_channel_identity import rest as rest_message
from tests.bot.test_webchat_memory import epoch, events_for, history, start
from tests.bot.test_webchat_page import Recorder

# A Tuesday afternoon in December (GMT): outside the quiet hours, so the change is told at once.
CHANGED = dt.datetime(2026, 12, 1, 14, 0)
FIXED_WORDS = "It's been fixed."
MILL_LANE = {
    "street": "Mill Lane",
    "house_number": "14",
    "postcode": "NS1 2AB",
    "ward": "Riverside",
    "lat": 52.6301,
    "lon": -1.1302,
    "detail": "Yes",
    "description": "Deep pothole by the bus stop",
}


def report_from(kb_url: str, conversation_id: str, channel: str = "webchat") -> tuple[int, str]:
    """The resident of `conversation_id` reports a pothole on Mill Lane: (report id, reference)."""
    with session_scope(kb_url) as session:
        drafts.save(session, conversation_id, channel, "pothole", MILL_LANE, CHANGED - dt.timedelta(hours=1))
        filed = filing.file_report(session, conversation_id, CHANGED - dt.timedelta(hours=1))
        return int(filed.report.id), str(filed.report.reference)


def staff_mark_fixed(kb_url: str, report_id: int, note: Optional[str] = None) -> None:
    """Staff set the report to fixed, and the reports worker delivers what is due."""
    with session_scope(kb_url) as session:
        assert updates.change_status(session, report_id, "fixed", CHANGED, note=note, actor="casey") is not None
    with session_scope(kb_url) as session:
        assert [d.state for d in notifying.deliver_due(session, CHANGED)] == ["queued"]


def poll(sender: str, token: Optional[str], seen: Optional[str] = None) -> tuple[int, Any]:
    """The page's poll, as `GET /webhooks/webchat/updates?sender=…&after=0[&seen=…]` gives it."""
    resp = asyncio.run(webchat_memory.updates_response(sender, "0", token, seen=seen))
    return resp.status, json.loads(resp.body)


def council(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("from") == "council"]


def waiting_words(kb_url: str, reference: str) -> str:
    """What the console's report page says about how the resident was told of the latest change."""
    with session_scope(kb_url) as session:
        detail = listing.report_detail(session, reference)
        assert detail is not None
        return told_words(detail.history[-1].told[0], CHANGED)


def test_a_status_change_reaches_the_web_chat_resident_once_as_from_the_council(kb_url: str) -> None:
    token = start("resident-report-0001")
    report_id, reference = report_from(kb_url, SENDER_PREFIX + "resident-report-0001")
    staff_mark_fixed(kb_url, report_id)

    status, first = poll("resident-report-0001", token)
    assert status == 200
    [shown] = council(first)
    assert shown["reference"] == reference and shown["label"] == f"Report {reference}"
    assert reference in shown["text"] and FIXED_WORDS in shown["text"] and "Mill Lane" in shown["text"]
    # A page older than report updates keeps its staff-reply cursor: this item carries no message `id`.
    assert "id" not in shown

    # The next poll says it was shown: it is collected, and neither that poll nor any later one repeats it.
    status, second = poll("resident-report-0001", token, seen=str(shown["update"]))
    assert status == 200 and council(second) == []
    assert council(poll("resident-report-0001", token)[1]) == []
    assert council(poll("resident-report-0001", token, seen="0")[1]) == []
    assert waiting_words(kb_url, reference) == "Told in the web chat: their page collected it"


def test_an_update_handed_out_but_never_confirmed_is_given_again_and_waits_meanwhile(kb_url: str) -> None:
    token = start("resident-report-0002")
    report_id, reference = report_from(kb_url, SENDER_PREFIX + "resident-report-0002")
    staff_mark_fixed(kb_url, report_id)
    # Before the page is opened, staff read that the resident hasn't seen it yet.
    assert waiting_words(kb_url, reference) == "Waiting for the resident to open the chat"

    # The answer to this poll is lost (the tab closed, the connection dropped): the page never says it
    # showed the update, so the next page gets it again, and staff still read that it is waiting.
    [lost] = council(poll("resident-report-0002", token)[1])
    [again] = council(poll("resident-report-0002", token)[1])
    assert again == lost
    assert waiting_words(kb_url, reference) == "Waiting for the resident to open the chat"
    with session_scope(kb_url) as session:
        assert session.execute(select(OutboundMessage.status)).scalar_one() == "pending"


def test_nobody_but_the_conversation_owner_sees_the_update(kb_url: str) -> None:
    owner = start("resident-report-0003")
    other = start("resident-report-0004")
    report_id, reference = report_from(kb_url, SENDER_PREFIX + "resident-report-0003")
    staff_mark_fixed(kb_url, report_id)

    for token in (other, "x" * 43, None):  # another conversation's token, a forged one, none
        status, body = poll("resident-report-0003", token, seen="0")
        assert status == 403 and reference not in json.dumps(body)
        status, body = history("resident-report-0003", token, events_for())
        assert status == 403 and reference not in json.dumps(body)
    # The other resident's own page hears nothing of it.
    status, body = poll("resident-report-0004", other, seen="0")
    assert status == 200 and reference not in json.dumps(body)
    # None of that collected it for its owner.
    assert [m["reference"] for m in council(poll("resident-report-0003", owner)[1])] == [reference]


def test_after_a_reload_the_history_shows_the_update_in_time_order_masked(kb_url: str) -> None:
    token = start("resident-report-0005")
    report_id, reference = report_from(kb_url, SENDER_PREFIX + "resident-report-0005")
    staff_mark_fixed(kb_url, report_id, note="If it comes back, ring Sam on 07911 123456.")
    [shown] = council(poll("resident-report-0005", token)[1])
    assert "07911 123456" in shown["text"]  # the resident reads the note as staff wrote it, the first time
    poll("resident-report-0005", token, seen=str(shown["update"]))

    before = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=2)
    tracker = events_for(
        ("user", "pothole on mill lane", epoch(before), None),
        ("bot", f"Thanks. Your reference is {reference}.", epoch(before) + 1, None),
    )
    status, body = history("resident-report-0005", token, tracker)
    assert status == 200
    said = [(m["from"], m.get("label"), m.get("reference")) for m in body["messages"]]
    assert said == [
        ("resident", None, None),
        ("bot", None, None),
        ("council", f"Report {reference}", reference),
    ]
    last = body["messages"][-1]["text"]
    assert FIXED_WORDS in last and reference in last
    # A replay may be on a shared screen: the number in the note is masked like the resident's own.
    assert "07911 123456" not in last and "…456" in last


def test_a_conversation_idle_too_long_gets_no_update_and_it_stays_waiting(kb_url: str) -> None:
    token = start("resident-report-0006")
    conversation_id = SENDER_PREFIX + "resident-report-0006"
    report_id, reference = report_from(kb_url, conversation_id)
    staff_mark_fixed(kb_url, report_id)
    long_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=45)
    with session_scope(kb_url) as session:
        session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(created_at=long_ago, updated_at=long_ago, last_inbound_at=long_ago)
        )

    status, body = poll("resident-report-0006", token, seen="0")
    assert status == 200 and council(body) == []
    assert waiting_words(kb_url, reference) == "Waiting for the resident to open the chat"


def test_a_bad_seen_is_refused_in_words(kb_url: str) -> None:
    token = start("resident-report-0007")
    for bad in ("-1", "abc", str(2**63)):
        status, body = poll("resident-report-0007", token, seen=bad)
        assert status == 400 and body == {"error": "'seen' must be an update id"}


def test_a_rest_caller_gets_updates_when_it_asks_for_them(kb_url: str) -> None:
    status, _, token = rest_message(Recorder(({"text": "Report it"},)), "app-user-1", "pothole")
    assert status == 200 and token
    report_id, reference = report_from(kb_url, rest.SENDER_PREFIX + "app-user-1", channel="rest")
    staff_mark_fixed(kb_url, report_id)

    def rest_poll(seen: Optional[str]) -> list[dict[str, Any]]:
        resp = asyncio.run(rest.updates_response(rest.SENDER_PREFIX, "app-user-1", "0", token, seen=seen))
        assert resp.status == 200
        return list(json.loads(resp.body))

    # A caller written before report updates gets what it always got: items with an `id`.
    assert rest_poll(None) == []
    [shown] = rest_poll("0")
    assert shown["reference"] == reference and FIXED_WORDS in shown["text"]
    assert rest_poll(str(shown["update"])) == []
    assert waiting_words(kb_url, reference) == "Told in the REST channel: their page collected it"
    for bad in ("-1", "abc", "²", str(2**63)):
        resp = asyncio.run(rest.updates_response(rest.SENDER_PREFIX, "app-user-1", "0", token, seen=bad))
        assert resp.status == 400 and json.loads(resp.body) == {"error": "'seen' must be an update id"}


def test_buttons_on_the_last_question_stay_when_a_council_update_follows() -> None:
    at = dt.datetime(2026, 12, 1, 10, 0)
    question = chat_history.Line("bot", "Is it dangerous?", at, buttons=[{"title": "Yes", "payload": "/affirm"}])
    update_line = chat_history.Line("council", "Update on your report", at + dt.timedelta(minutes=1))
    lines = chat_history.merge([question], [], [], [update_line])
    assert [line.author for line in lines] == ["bot", "council"]
    assert lines[0].buttons == [{"title": "Yes", "payload": "/affirm"}]
