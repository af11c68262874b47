"""Filing on a bad night: a resident is only given a reference once their report is really kept."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from knowledge.models import Report
from knowledge.reports.replies import RESUME_PAYLOAD
from tests.actions.test_report_actions import REFERENCE, Resident, _to_summary, draft_answers, reports, texts


def _note_report(session: Any, context: Any) -> None:
    if any(isinstance(row, Report) for row in session.new):
        session.info["files_a_report"] = True


def _refuse_commit(session: Any) -> None:
    """The database's answer to the COMMIT that files a report, on a bad night (PostgreSQL: a serialisation
    failure, a lost connection); every statement before it worked, and other transactions commit."""
    if session.info.pop("files_a_report", False):
        raise OperationalError("COMMIT", {}, Exception("could not serialize access due to concurrent update"))


@contextmanager
def filing_commit_refused() -> Iterator[None]:
    event.listen(Session, "after_flush", _note_report)
    event.listen(Session, "before_commit", _refuse_commit)
    try:
        yield
    finally:
        event.remove(Session, "before_commit", _refuse_commit)
        event.remove(Session, "after_flush", _note_report)


def test_no_reference_is_given_for_a_report_the_database_did_not_keep(kb_url: str) -> None:
    r = Resident()
    _to_summary(r)
    with filing_commit_refused():
        said = texts(r.say("yes"))
    assert reports(kb_url) == []
    assert not REFERENCE.search(said), said
    assert "couldn't send your report" in said
    assert draft_answers(kb_url, r.sender) is not None  # kept, to try again


def test_after_a_failed_filing_trying_again_files_the_report_once(kb_url: str) -> None:
    r = Resident()
    _to_summary(r)
    with filing_commit_refused():
        failed = r.say("yes")
    # The form has ended, so a bare "yes" would get "anything else?": the reply's button resumes the report.
    [button] = [b for m in failed for b in m.get("buttons") or []]
    assert button["payload"] == RESUME_PAYLOAD
    summary = texts(r.say(button["title"], "report_resume"))
    assert "Shall I send" in summary or "send it" in summary.lower(), summary
    filed = texts(r.say("yes", "affirm"))
    [report] = reports(kb_url)
    assert report.reference in filed
