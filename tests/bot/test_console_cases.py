"""Working a case in the staff console over real HTTP: the queue, claiming (one winner), replies (once,
only by the owner, never on a resolved case), escaping of resident text, live timeline, roles and CSRF."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from knowledge.casework import cases
from knowledge.db import session_scope
from knowledge.models import Case, CaseMessage
from tests.bot.console_helpers import client, csrf_in, seeded_console, shown, signed_in

PAYLOAD = "<img src=x onerror=alert(1)> my bin was missed"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with seeded_console(tmp_path_factory, "cases") as (base, db_url):
        yield base, db_url


def open_case(db_url: str, conversation: str, text: str = PAYLOAD, reason: str = "asked") -> str:
    with session_scope(db_url) as session:
        case, _ = cases.open_case(
            session,
            conversation,
            "webchat",
            reason,
            [
                {"author": "resident", "text": text, "meta": {"intent": "svc_bins_missed", "confidence": 0.42}},
                {
                    "author": "bot",
                    "text": "See https://www.northshire.gov.uk/bins/report-missed-collection",
                    "meta": {"links": ["https://www.northshire.gov.uk/bins/report-missed-collection"]},
                },
            ],
        )
        return case.reference


def case_row(db_url: str, reference: str) -> Case:
    with session_scope(db_url) as session:
        return cases.by_reference(session, reference)


def post(c: httpx.Client, reference: str, action: str, **data: str) -> httpx.Response:
    token = csrf_in(c.get(f"/cases/{reference}").text)
    return c.post(f"/cases/{reference}/{action}", data={"csrf_token": token, **data})


def test_queue_lists_urgent_cases_first(console: tuple[str, str]) -> None:
    base, db = console
    normal = open_case(db, "web:q1")
    urgent = open_case(db, "web:q2", "I can't go on", reason="crisis")
    page = signed_in(base, "agent").get("/").text
    assert page.index(urgent) < page.index(normal)
    assert "Urgent" in page


def test_resident_text_is_shown_as_text_with_what_the_bot_understood(console: tuple[str, str]) -> None:
    base, db = console
    ref = open_case(db, "web:esc")
    page = signed_in(base, "agent").get(f"/cases/{ref}")
    assert page.status_code == 200
    assert "<img src=x" not in page.text and "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "Bot understood: svc_bins_missed (42%)" in shown(page)
    assert "report-missed-collection" in page.text


def test_two_agents_claiming_at_once_one_wins(console: tuple[str, str]) -> None:
    base, db = console
    ref = open_case(db, "web:race")
    clients = [signed_in(base, "agent"), signed_in(base, "admin")]
    tokens = [csrf_in(c.get(f"/cases/{ref}").text) for c in clients]
    results: list[int] = []
    barrier = threading.Barrier(2)

    def claim(i: int) -> None:
        barrier.wait()
        results.append(clients[i].post(f"/cases/{ref}/claim", data={"csrf_token": tokens[i]}).status_code)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results) == [303, 409]
    assert case_row(db, ref).assignee_id is not None


def test_only_the_owner_replies_and_a_double_submit_sends_once(console: tuple[str, str]) -> None:
    base, db = console
    ref = open_case(db, "web:reply")
    owner = signed_in(base, "agent")
    assert post(owner, ref, "claim").status_code == 303
    refused = post(signed_in(base, "leaver"), ref, "reply", text="I'll take it", nonce="n-x")
    assert refused.status_code == 409 and "belongs to Aggie Agent" in shown(refused)

    page = owner.get(f"/cases/{ref}").text
    token, nonce = csrf_in(page), re.search(r'name="nonce" value="([^"]+)"', page).group(1)
    form = {"csrf_token": token, "nonce": nonce, "text": "Hello, I've booked a collection for tomorrow."}
    first, second = owner.post(f"/cases/{ref}/reply", data=form), owner.post(f"/cases/{ref}/reply", data=form)
    assert first.status_code == second.status_code == 303
    assert "already sent" in second.headers["location"].replace("+", " ")
    with session_scope(db) as session:
        case = cases.by_reference(session, ref)
        staff_lines = [m for m in cases.timeline(session, case.id) if m.author == "staff"]
        assert [(m.text, m.delivery) for m in staff_lines] == [
            ("Hello, I've booked a collection for tomorrow.", "queued")
        ]
        assert case.first_response_at is not None


def test_another_agent_cannot_add_notes_or_tags_and_is_told_why(console: tuple[str, str]) -> None:
    base, db = console
    ref = open_case(db, "web:notes")
    owner, other = signed_in(base, "agent"), signed_in(base, "leaver")
    assert post(owner, ref, "claim").status_code == 303
    assert f'action="/cases/{ref}/note"' not in other.get(f"/cases/{ref}").text  # no form to use
    note = post(other, ref, "note", note="Not my case, but here I am.")
    assert note.status_code == 409 and f"{ref} belongs to Aggie Agent" in shown(note)
    tags = post(other, ref, "tags", tags="spam, closed")
    assert tags.status_code == 409 and f"{ref} belongs to Aggie Agent" in shown(tags)
    with session_scope(db) as session:
        case = cases.by_reference(session, ref)
        assert [m for m in cases.timeline(session, case.id) if m.author == "note"] == []
        assert not case.tags
    assert post(owner, ref, "note", note="Checked the round sheet.").status_code == 303  # the owner still can
    assert post(signed_in(base, "admin"), ref, "tags", tags="reviewed").status_code == 303  # and an admin


def test_a_reply_without_the_csrf_token_is_refused_and_not_sent(console: tuple[str, str]) -> None:
    base, db = console
    ref = open_case(db, "web:csrf")
    c = signed_in(base, "agent")
    post(c, ref, "claim")
    r = c.post(f"/cases/{ref}/reply", data={"nonce": "n-csrf", "text": "hello"})
    assert r.status_code == 403
    with session_scope(db) as session:
        case_id = cases.by_reference(session, ref).id
        assert not session.execute(
            select(CaseMessage).where(CaseMessage.case_id == case_id, CaseMessage.author == "staff")
        ).first()


def test_a_resolved_case_refuses_replies_with_a_clear_message(console: tuple[str, str]) -> None:
    base, db = console
    ref = open_case(db, "web:done")
    c = signed_in(base, "agent")
    post(c, ref, "claim")
    assert post(c, ref, "resolve", outcome="answered", outcome_note="Booked").status_code == 303
    row = case_row(db, ref)
    assert row.status == "resolved" and row.satisfaction_asked_at is not None
    assert "Send reply" not in c.get(f"/cases/{ref}").text  # no reply form on a resolved case
    r = c.post(
        f"/cases/{ref}/reply",
        data={"csrf_token": csrf_in(c.get(f"/cases/{ref}").text), "text": "one more thing", "nonce": "n-late2"},
    )
    assert r.status_code == 409 and "is resolved" in shown(r)


def test_new_resident_messages_arrive_without_a_refresh(console: tuple[str, str]) -> None:
    base, db = console
    ref = open_case(db, "web:live")
    c = signed_in(base, "agent")
    first = c.get(f"/api/cases/{ref}/messages").json()
    last_id = first["messages"][-1]["id"]
    with session_scope(db) as session:
        cases.add_resident_message(session, cases.by_reference(session, ref), "it's <b>still</b> not collected")
    new = c.get(f"/api/cases/{ref}/messages", params={"after": last_id}).json()
    assert [m["text"] for m in new["messages"]] == ["it's <b>still</b> not collected"]
    assert client(base).get(f"/api/cases/{ref}/messages").status_code == 401  # not without a session


def test_editors_cannot_work_cases(console: tuple[str, str]) -> None:
    base, db = console
    ref = open_case(db, "web:editor")
    c = signed_in(base, "editor")
    assert c.get(f"/cases/{ref}").status_code == 403
    assert c.get(f"/api/cases/{ref}/messages").status_code == 403


def test_figures_page_counts_cases(console: tuple[str, str]) -> None:
    base, db = console
    open_case(db, "web:fig")
    page = shown(signed_in(base, "agent").get("/figures"))
    opened = int(re.search(r'id="opened">(\d+)<', page).group(1))
    with session_scope(db) as session:
        assert opened == len(session.execute(select(Case)).scalars().all())


def test_a_reply_whose_delivery_is_unknown_says_so_plainly(console: tuple[str, str]) -> None:
    """The platform took a staff reply and never answered: staff must see that it may not have arrived and
    was not sent again, not a quiet "(unknown)"."""
    base, db = console
    ref = open_case(db, "messenger:unknown-delivery")
    with session_scope(db) as session:
        case = cases.by_reference(session, ref)
        session.add(CaseMessage(case_id=case.id, author="staff", text="Your collection is booked.", delivery="unknown"))
    page = shown(signed_in(base, "agent").get(f"/cases/{ref}"))
    assert "Delivery unknown: the platform did not confirm this reply, so it was not sent again." in page
