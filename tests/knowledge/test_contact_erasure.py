"""The way back a resident left for a case (an email address, a phone number) is deleted with the case:
by erasure, however the resident names themselves (including by that very address or number), and by
retention with the case's transcript. On SQLite and PostgreSQL, like the other privacy tests."""

from __future__ import annotations

import datetime as dt

import pytest

from knowledge.casework import cases, contact_back
from knowledge.db import session_scope
from knowledge.models import StaffUser
from knowledge.personal_data.erasure import erase
from knowledge.personal_data.retention import Periods, apply
from knowledge.personal_data.subjects import parse_identifier
from tests.privacy_helpers import START, everything, populate, stores

__all__ = ["stores"]

# Written nowhere but the contact rows, so only they can be what finds or keeps them.
ANN_LEFT_EMAIL = "ann.left.this@example.org"
ANN_LEFT_PHONE = "+447400123456"
BOB_LEFT_EMAIL = "bob.left.this@example.net"


def leave_contacts(kb_url: str, refs: dict[str, str]) -> None:
    with session_scope(kb_url) as session:
        for who, email, phone in (("ann", ANN_LEFT_EMAIL, ANN_LEFT_PHONE), ("bob", BOB_LEFT_EMAIL, None)):
            case = cases.by_reference(session, refs[who])
            row = contact_back.open_offer(session, case, START)
            row.email, row.phone, row.state = email, phone, contact_back.DONE


@pytest.mark.parametrize("who", ["reference", ANN_LEFT_EMAIL, "07400 123456"])
def test_erasure_removes_the_contact_left_for_the_case(stores, who: str) -> None:  # noqa: ANN001
    refs = populate(stores)
    leave_contacts(stores.kb_url, refs)
    before = everything(stores.kb_url)
    assert ANN_LEFT_EMAIL in before and ANN_LEFT_PHONE in before
    report = erase(
        parse_identifier(refs["ann"] if who == "reference" else who), stores.kb_url, stores.tracker_url, actor="t"
    )
    assert report.counts.get("case_contacts") == 1
    after = everything(stores.kb_url)
    assert ANN_LEFT_EMAIL not in after and ANN_LEFT_PHONE not in after and "7400123456" not in after
    assert refs["ann"] not in after  # found by the contact alone, her whole case went
    assert BOB_LEFT_EMAIL in after  # nobody else's


def test_retention_removes_the_contact_with_the_transcript(stores) -> None:  # noqa: ANN001
    refs = populate(stores)
    leave_contacts(stores.kb_url, refs)
    with session_scope(stores.kb_url) as session:
        case = cases.by_reference(session, refs["ann"])
        staff_id = case.assignee_id
        cases.resolve(session, case.id, session.get(StaffUser, staff_id), "answered", now=START + dt.timedelta(days=1))
        case.last_activity_at = START + dt.timedelta(days=1)
    periods = Periods(transcripts=dt.timedelta(days=183), cases=dt.timedelta(days=1096), unanswered=None)
    assert ANN_LEFT_EMAIL in everything(stores.kb_url)
    report = apply(stores.kb_url, stores.tracker_url, periods, now=START + dt.timedelta(days=190))
    assert report.counts.get("case_contacts") == 1
    after = everything(stores.kb_url)
    assert ANN_LEFT_EMAIL not in after and ANN_LEFT_PHONE not in after
    assert refs["ann"] in after  # the case's record stays for its own period; only what identifies her goes
    assert BOB_LEFT_EMAIL in after  # Bob's case is open
