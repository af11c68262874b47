"""A web chat resident can't mark another resident's report updates as collected by sending their ids as
`seen` (ids are small, counting numbers: easy to guess)."""

from __future__ import annotations

from bot.channels.webchat import SENDER_PREFIX
from tests.bot.test_webchat_memory import start
from tests.bot.test_webchat_report_updates import council, poll, report_from, staff_mark_fixed, waiting_words


def test_seen_values_from_another_conversation_collect_nothing_of_theirs(kb_url: str) -> None:
    ann = start("resident-report-0101")
    mallory = start("resident-report-0102")
    report_id, reference = report_from(kb_url, SENDER_PREFIX + "resident-report-0101")
    staff_mark_fixed(kb_url, report_id)
    [shown] = council(poll("resident-report-0101", ann)[1])  # handed out, not yet confirmed
    for guess in (str(shown["update"]), str(2**63 - 1)):
        status, body = poll("resident-report-0102", mallory, seen=guess)
        assert status == 200 and council(body) == []
    # Still Ann's to collect, and staff still read that it waits for her.
    assert [m["reference"] for m in council(poll("resident-report-0101", ann)[1])] == [reference]
    assert waiting_words(kb_url, reference) == "Waiting for the resident to open the chat"
