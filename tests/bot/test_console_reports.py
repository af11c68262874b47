"""Reports in the staff console over real HTTP: the list's filters and counts, a report's page (residents,
photos, history, Open311 id, how each resident was told), changing the status (one change, one notification
per resident, however often the form is sent), sending a rejected report again, who may see what, and bad
addresses that are a clear answer, never a 500."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import httpx
import pytest
from sqlalchemy import func, select, update

from knowledge.casework import cases
from knowledge.db import session_scope
from knowledge.delivery.conversations import utcnow
from knowledge.models import (
    Attachment,
    CaseContact,
    Conversation,
    OutboundMessage,
    Report,
    ReportNotification,
    ReportPhoto,
    ReportResident,
    ReportUpdate,
)
from knowledge.reports import drafts, filing, nearby, notifying
from knowledge.staff import create_user
from tests.bot.console_helpers import (
    ACCOUNTS,
    PASSWORD,
    client,
    csrf_in,
    page_csrf,
    running_console,
    seeded_console,
    shown,
    signed_in,
)

# References of our own year, far from the numbers cases take in these tests.
_numbers = itertools.count(900001)
PNG = b"\x89PNG\r\n\x1a\n" + b"not really a picture, but bytes to compare"
# Port 9 (discard): nothing listens there.
NO_SERVER = "http://127.0.0.1:9/open311/v2/"
ROW_RE = re.compile(r'<tr class="report-row" data-reference="([^"]+)"')


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("report-uploads")


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, uploads: Path) -> Iterator[tuple[str, str]]:
    # No quiet hours: a change made while the tests run is due at once, whatever the time of day. A back
    # office is configured (so reports can be sent again) but the console never calls it: nothing listens.
    env = {"WEBCHAT_UPLOADS_DIR": str(uploads), "REPORT_QUIET_HOURS": "00:00-00:00", "OPEN311_ENDPOINT": NO_SERVER}
    with seeded_console(tmp_path_factory, "reports", env=env) as (base, db_url):
        yield base, db_url


@pytest.fixture(scope="module")
def agent(console: tuple[str, str]) -> Iterator[httpx.Client]:
    with signed_in(console[0], "agent") as c:
        yield c


def add_report(
    db_url: str,
    *,
    ward: str,
    category: str = "pothole",
    status: str = "open",
    send_state: str = "held",
    street: str = "Mill Lane",
    minutes_ago: int = 60,
    residents: tuple[str, ...] = ("messenger",),
    open311_id: Optional[str] = None,
    send_error: Optional[str] = None,
    retry_in_minutes: Optional[int] = None,
) -> str:
    """A report with one resident per channel in `residents` (the first filed it, the others joined); its
    reference."""
    reference = f"NC-2099-{next(_numbers):06d}"
    now = utcnow()
    with session_scope(db_url) as session:
        conversations = []
        for n, name in enumerate(residents):
            conversation_id = f"{name}:psid-{reference}-{n}"
            session.add(
                Conversation(
                    id=conversation_id,
                    channel=name,
                    origin="private",
                    platform_user_id=f"psid-{reference}-{n}",
                    last_inbound_at=now,
                )
            )
            conversations.append((conversation_id, name))
        report = Report(
            reference=reference,
            category=category,
            status=status,
            conversation_id=conversations[0][0] if conversations else "web:nobody",
            channel=conversations[0][1] if conversations else "webchat",
            street=street,
            house_number="14",
            postcode="NS1 4AB",
            ward=ward,
            address=f"14 {street}, Northshire NS1 4AB",
            latitude=52.123456,
            longitude=-1.234567,
            description="A deep pothole by the bus stop",
            details={"dangerous": "Yes"},
            created_at=now - dt.timedelta(minutes=minutes_ago),
            send_state=send_state,
            open311_id=open311_id,
            send_error=send_error,
            next_attempt_at=None if retry_in_minutes is None else now + dt.timedelta(minutes=retry_in_minutes),
        )
        session.add(report)
        session.flush()
        for n, (conversation_id, name) in enumerate(conversations):
            session.add(
                ReportResident(
                    report_id=report.id,
                    conversation_id=conversation_id,
                    channel=name,
                    how="filed" if n == 0 else "joined",
                    joined_at=now - dt.timedelta(minutes=minutes_ago - n),
                )
            )
        session.add(ReportUpdate(report_id=report.id, status="open", source="bot", at=report.created_at))
    return reference


def listed(page: httpx.Response) -> list[str]:
    assert page.status_code == 200, page.text
    return ROW_RE.findall(page.text)


def row_of(page: httpx.Response, reference: str) -> str:
    """The HTML of `reference`'s row in the list."""
    found = re.search(rf'data-reference="{reference}">(.*?)</tr>', page.text, re.S)
    assert found, f"{reference} is not listed"
    return found.group(1)


def option(page: httpx.Response, select_id: str, value: str) -> str:
    """The visible words of the option `value` of the filter `select_id`."""
    block = re.search(rf'<select id="{select_id}".*?</select>', page.text, re.S)
    assert block, f"no filter {select_id}"
    found = re.search(rf'<option value="{re.escape(value)}"[^>]*>([^<]*)</option>', block.group(0))
    assert found, f"no option {value} in {select_id}"
    return found.group(1)


def report_id(db_url: str, reference: str) -> int:
    with session_scope(db_url) as session:
        return session.execute(select(Report.id).where(Report.reference == reference)).scalar_one()


def staff_updates(db_url: str, reference: str) -> list[ReportUpdate]:
    rid = report_id(db_url, reference)
    with session_scope(db_url) as session:
        return list(
            session.execute(
                select(ReportUpdate).where(ReportUpdate.report_id == rid, ReportUpdate.source == "staff")
            ).scalars()
        )


def notifications(db_url: str, reference: str) -> int:
    rid = report_id(db_url, reference)
    with session_scope(db_url) as session:
        updates = select(ReportUpdate.id).where(ReportUpdate.report_id == rid)
        return session.execute(
            select(func.count(ReportNotification.id)).where(ReportNotification.update_id.in_(updates))
        ).scalar_one()


def status_form(c: httpx.Client, reference: str) -> dict[str, str]:
    page = c.get(f"/reports/{reference}")
    assert page.status_code == 200, page.text
    seen = re.search(r'name="seen" value="(\d+)"', page.text)
    assert seen, "no status form"
    return {"csrf_token": csrf_in(page.text), "seen": seen.group(1)}


# --- The list -------------------------------------------------------------------------------------------------


def test_filters_show_only_matching_reports_newest_first_with_counts(
    console: tuple[str, str], agent: httpx.Client
) -> None:
    _, db = console
    older = add_report(db, ward="Riverside F", minutes_ago=120, residents=("messenger", "webchat"))
    newer = add_report(db, ward="Riverside F", minutes_ago=10, status="fixed", send_state="sent", open311_id="SR-778")
    graffiti = add_report(db, ward="Riverside F", category="graffiti", street="High Street")
    elsewhere = add_report(db, ward="Hilltop F")

    page = agent.get("/reports", params={"ward": "Riverside F", "category": "pothole"})
    assert listed(page) == [newer, older]
    assert "2 reports match" in shown(page)
    # Each filter's numbers are what choosing that value would show, the other filters as chosen.
    assert option(page, "f-category", "pothole").endswith("(2)")
    assert option(page, "f-category", "graffiti").endswith("(1)")
    assert option(page, "f-ward", "Hilltop F").endswith("(1)")
    assert option(page, "f-status", "fixed").endswith("(1)")
    assert option(page, "f-status", "unfinished").endswith("(1)")
    assert option(page, "f-send", "sent").endswith("(1)")
    assert option(page, "f-send", "held").endswith("(1)")

    # Each row: reference, problem, street and ward, status, how many residents, Open311 id or send state.
    row_of_older = row_of(page, older)
    cells = [re.sub(r"<[^>]+>", " ", c).split() for c in re.findall(r"<td>(.*?)</td>", row_of_older, re.S)]
    assert cells[1] == ["Pothole"] and cells[2] == ["Mill", "Lane", "Riverside", "F"] and cells[3] == ["Open"]
    assert cells[5] == ["2"] and " ".join(cells[6]).startswith("Not sent")
    assert "SR-778" in page.text

    assert listed(agent.get("/reports", params={"ward": "Riverside F", "status": "fixed"})) == [newer]
    assert listed(agent.get("/reports", params={"ward": "Riverside F", "status": "unfinished"})) == [graffiti, older]
    assert listed(agent.get("/reports", params={"ward": "Hilltop F"})) == [elsewhere]
    held = listed(agent.get("/reports", params={"ward": "Riverside F", "send": "held"}))
    assert held == [graffiti, older]


def test_reports_can_be_found_by_where_they_stand_with_the_back_office(
    console: tuple[str, str], agent: httpx.Client
) -> None:
    _, db = console
    rejected = add_report(db, ward="Sendstate F", send_state="rejected", send_error="Invalid service_code")
    retrying = add_report(db, ward="Sendstate F", send_state="uncertain", retry_in_minutes=5)
    queued = add_report(db, ward="Sendstate F", send_state="queued", minutes_ago=30)
    in_doubt = add_report(db, ward="Sendstate F", send_state="uncertain", minutes_ago=90)
    page = agent.get("/reports", params={"ward": "Sendstate F"})
    assert option(page, "f-send", "waiting").endswith("(2)") and option(page, "f-send", "check").endswith("(1)")
    assert listed(agent.get("/reports", params={"ward": "Sendstate F", "send": "rejected"})) == [rejected]
    assert listed(agent.get("/reports", params={"ward": "Sendstate F", "send": "waiting"})) == [queued, retrying]
    in_doubt_page = agent.get("/reports", params={"ward": "Sendstate F", "send": "check"})
    assert listed(in_doubt_page) == [in_doubt] and "Check the back office" in shown(in_doubt_page)
    # Whatever the filters, the list says how many wait on staff, with links to them.
    elsewhere = agent.get("/reports", params={"ward": "Nowhere F"})
    notice = re.search(r'<p class="notice" id="waiting-on-staff">.*?</p>', elsewhere.text, re.S)
    assert (
        notice
        and 'href="/reports?send=rejected"' in notice.group(0)
        and 'href="/reports?send=check"' in notice.group(0)
    )


def test_bad_filter_values_are_ignored_with_a_message_never_a_500(
    console: tuple[str, str], agent: httpx.Client
) -> None:
    _, db = console
    ref = add_report(db, ward="Oddvalues F")
    for name, value in (
        ("category", "banana"),
        ("status", "<script>x</script>"),
        ("send", "later"),
        ("ward", "W" * 500),
    ):
        page = agent.get("/reports", params={name: value, **({} if name == "ward" else {"ward": "Oddvalues F"})})
        assert page.status_code == 200, (name, page.status_code)
        assert "we know, so every" in shown(page), name
        assert ref in listed(page)
        assert "<script>x" not in page.text
    for bad_page in ("abc", "0", "9" * 30, "²"):
        resp = agent.get("/reports", params={"page": bad_page})
        assert resp.status_code == 400 and "page number" in shown(resp)
    assert agent.get("/reports?ward=a%00b").status_code == 400
    # A ward nobody has reported in is simply empty.
    page = agent.get("/reports", params={"ward": "Nowhere At All"})
    assert listed(page) == [] and "No reports match" in shown(page)


def test_the_list_pages_fifty_at_a_time(console: tuple[str, str], agent: httpx.Client) -> None:
    _, db = console
    made = [add_report(db, ward="Paging F", minutes_ago=500 - n) for n in range(52)]
    first = agent.get("/reports", params={"ward": "Paging F"})
    assert listed(first) == made[::-1][:50] and "Page 1 of 2" in shown(first)
    second = agent.get("/reports", params={"ward": "Paging F", "page": "2"})
    assert listed(second) == made[::-1][50:]
    assert agent.get("/reports", params={"ward": "Paging F", "page": "9"}).status_code == 200  # past the end: last page


# --- One report -------------------------------------------------------------------------------------------------


def test_report_page_shows_place_residents_photos_history_and_open311_id(
    console: tuple[str, str], agent: httpx.Client, uploads: Path
) -> None:
    _, db = console
    ref = add_report(db, ward="Detail F", send_state="sent", open311_id="SR-4242", residents=("messenger", "webchat"))
    other = add_report(db, ward="Detail F")
    name = secrets.token_hex(16) + ".png"
    (uploads / name).write_bytes(PNG)
    with session_scope(db) as session:
        rid = session.execute(select(Report.id).where(Report.reference == ref)).scalar_one()
        filer = session.execute(
            select(ReportResident).where(ReportResident.report_id == rid, ReportResident.how == "filed")
        ).scalar_one()
        stored = Attachment(
            conversation_id=filer.conversation_id,
            channel="webchat",
            kind="image",
            media_id=f"upload/{name}",
            mime_type="image/png",
        )
        on_platform = Attachment(
            conversation_id=filer.conversation_id,
            channel="messenger",
            kind="image",
            url="https://cdn.example/photo.jpg",
        )
        not_this_reports = Attachment(
            conversation_id=filer.conversation_id,
            channel="webchat",
            kind="image",
            media_id=f"upload/{name}",
            mime_type="image/png",
        )
        session.add_all([stored, on_platform, not_this_reports])
        session.flush()
        session.add_all(
            [
                ReportPhoto(report_id=rid, attachment_id=stored.id),
                ReportPhoto(report_id=rid, attachment_id=on_platform.id),
            ]
        )
        # The resident who filed it also has a handover case, with an email they left for it.
        case, _ = cases.open_case(
            session, filer.conversation_id, "messenger", "asked", [{"author": "resident", "text": "any news?"}]
        )
        session.add(CaseContact(case_id=case.id, state="done", email="resident@example.org"))
        case_ref = case.reference
        conversation_ids = [
            c
            for c in session.execute(
                select(ReportResident.conversation_id).where(ReportResident.report_id == rid)
            ).scalars()
        ]
        photo_id, bystander_id = stored.id, not_this_reports.id
        session.add(
            ReportUpdate(
                report_id=rid, status="investigating", note="An inspector will visit", source="open311", at=utcnow()
            )
        )

    page = agent.get(f"/reports/{ref.lower()}")  # as residents type it
    assert page.status_code == 200
    text = shown(page)
    assert "14 Mill Lane, Northshire NS1 4AB" in text and "Detail F" in text
    assert "https://www.openstreetmap.org/?mlat=52.123456&mlon=-1.234567" in text
    assert "Is it dangerous to traffic or people walking?" in text and "A deep pothole by the bus stop" in text
    assert 'id="open311-id">SR-4242<' in page.text
    # Residents by channel and how they came, the filer's case linked; never their platform ids or contacts.
    assert "Resident 1" in text and "Resident 2" in text and "Reported it" in text and "Added to this report" in text
    assert "Messenger" in text and "The web chat" in text
    assert f'href="/cases/{case_ref}"' in page.text
    for secret in [*conversation_ids, "psid-", "resident@example.org"]:
        assert secret not in page.text
    # History: who, when, the note.
    assert "Investigating" in text and "from the back office" in text and "An inspector will visit" in text
    # Photos: ours is served to staff, the platform's is named as kept there, another report's is not served.
    assert f"/reports/{ref}/photos/{photo_id}" in page.text and "kept on Messenger" in text
    photo = agent.get(f"/reports/{ref}/photos/{photo_id}")
    assert photo.status_code == 200 and photo.content == PNG and "no-store" in photo.headers["cache-control"]
    assert agent.get(f"/reports/{ref}/photos/{bystander_id}").status_code == 404
    assert agent.get(f"/reports/{other}/photos/{photo_id}").status_code == 404
    assert agent.get(f"/reports/{ref}/photos/{2**40}").status_code == 400


def test_each_residents_notification_outcome_is_shown(console: tuple[str, str], agent: httpx.Client) -> None:
    _, db = console
    ref = add_report(db, ward="Told F", residents=("messenger", "whatsapp", "instagram", "webchat"))
    tomorrow_8 = (utcnow() + dt.timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    with session_scope(db) as session:
        rid = session.execute(select(Report.id).where(Report.reference == ref)).scalar_one()
        residents = list(
            session.execute(
                select(ReportResident).where(ReportResident.report_id == rid).order_by(ReportResident.id)
            ).scalars()
        )
        change = ReportUpdate(report_id=rid, status="action_scheduled", source="staff", actor="agent", at=utcnow())
        session.add(change)
        session.flush()
        sent = OutboundMessage(
            conversation_id=residents[0].conversation_id, channel="messenger", kind="message", status="sent"
        )
        session.add(sent)
        session.flush()
        session.add_all(
            [
                ReportNotification(
                    update_id=change.id, resident_id=residents[0].id, state="queued", outbound_message_id=sent.id
                ),
                ReportNotification(
                    update_id=change.id,
                    resident_id=residents[1].id,
                    state="unreachable",
                    detail="WhatsApp's 24 hours had passed and they left no email",
                ),
                ReportNotification(
                    update_id=change.id, resident_id=residents[2].id, state="waiting", due_at=tomorrow_8
                ),
                ReportNotification(update_id=change.id, resident_id=residents[3].id, state="emailed"),
            ]
        )
        # A later change: the web chat resident's message waits for their page to collect it.
        later = ReportUpdate(report_id=rid, status="fixed", source="staff", actor="agent", at=utcnow())
        session.add(later)
        session.flush()
        waiting = OutboundMessage(
            conversation_id=residents[3].conversation_id, channel="webchat", kind="message", status="pending"
        )
        session.add(waiting)
        session.flush()
        session.add(
            ReportNotification(
                update_id=later.id, resident_id=residents[3].id, state="queued", outbound_message_id=waiting.id
            )
        )
    text = shown(agent.get(f"/reports/{ref}"))
    assert "Resident 1 (Messenger): Told on Messenger" in text
    assert "Resident 2 (WhatsApp): Couldn't be told. WhatsApp's 24 hours had passed and they left no email" in text
    assert re.search(r"Resident 3 \(Instagram Direct\): Waiting for \d{1,2}(:\d\d)?[ap]m", text)
    assert "Resident 4 (the web chat): Told by email" in text
    assert "Resident 4 (the web chat): Waiting for the resident to open the chat" in text


# --- Changing the status ----------------------------------------------------------------------------------------


def test_an_agent_changes_the_status_once_and_every_resident_is_to_be_told(
    console: tuple[str, str], agent: httpx.Client
) -> None:
    _, db = console
    ref = add_report(db, ward="Change F", residents=("messenger", "webchat", "whatsapp"))
    form = status_form(agent, ref)
    data = {**form, "status": "action_scheduled", "note": "The repair is booked for Friday."}
    done = agent.post(f"/reports/{ref}/status", data=data)
    assert done.status_code == 303
    after = agent.get(done.headers["location"])
    assert "Status changed to “Action scheduled”. The 3 residents on it will be told." in shown(after)
    assert 'id="report-status">Action scheduled<' in after.text
    assert "The repair is booked for Friday." in shown(after) and "by agent" in shown(after)
    # The same form again (a double click, the back button): nothing more changes.
    again = agent.post(f"/reports/{ref}/status", data=data)
    assert again.status_code == 409 and "nothing was changed" in shown(again)
    made = staff_updates(db, ref)
    assert [(u.status, u.actor, u.note) for u in made] == [
        ("action_scheduled", "agent", "The repair is booked for Friday.")
    ]
    assert notifications(db, ref) == 3
    assert shown(after).count("About to be sent") == 3


def send_twice_at_once(base: str, reference: str) -> list[int]:
    """An agent and an admin, each with the report's page open, send its status form at the same moment;
    the answers' status codes."""
    clients = [signed_in(base, "agent"), signed_in(base, "admin")]
    forms = [status_form(c, reference) for c in clients]
    results: list[int] = []

    def send(c: httpx.Client, form: dict[str, str]) -> None:
        results.append(c.post(f"/reports/{reference}/status", data={**form, "status": "in_progress"}).status_code)

    threads = [threading.Thread(target=send, args=pair) for pair in zip(clients, forms, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return sorted(results)


def test_a_form_sent_twice_at_once_changes_the_status_once(console: tuple[str, str]) -> None:
    base, db = console
    ref = add_report(db, ward="Race F", residents=("messenger", "webchat"))
    assert send_twice_at_once(base, ref) == [303, 409]
    assert len(staff_updates(db, ref)) == 1 and notifications(db, ref) == 2


def test_a_report_filed_in_the_chat_is_listed_and_its_status_change_reaches_each_resident(
    console: tuple[str, str], agent: httpx.Client
) -> None:
    """The whole path through the reports backend: filed by the bot, a neighbour joins it, an agent changes the
    status here, the notifier plans a message per resident, and the page says where each one stands."""
    _, db = console
    now = utcnow()
    filer, neighbour = "messenger:psid-filed-in-chat", "webchat:neighbour-in-chat"
    with session_scope(db) as session:
        for conversation_id, name in ((filer, "messenger"), (neighbour, "webchat")):
            user = conversation_id.split(":", 1)[1]
            session.add(
                Conversation(
                    id=conversation_id, channel=name, origin="private", platform_user_id=user, last_inbound_at=now
                )
            )
        session.flush()
        answers = {"street": "Mill Lane", "ward": "Chat F", "lat": 52.1, "lon": -1.2, "detail": "Yes"}
        drafts.save(session, filer, "messenger", "pothole", answers, now)
        filed = filing.file_report(session, filer, now)
        reference, rid = filed.report.reference, filed.report.id
        assert nearby.join(session, rid, neighbour, "webchat", now)

    page = agent.get("/reports", params={"ward": "Chat F"})
    assert listed(page) == [reference]
    row = row_of(page, reference)
    assert "<td>2</td>" in row

    done = agent.post(f"/reports/{reference}/status", data={**status_form(agent, reference), "status": "fixed"})
    assert done.status_code == 303
    with session_scope(db) as session:
        delivered = notifying.deliver_due(session, utcnow() + dt.timedelta(seconds=1))
    assert sorted(d.state for d in delivered if d.report_id == rid) == ["queued", "queued"]
    text = shown(agent.get(f"/reports/{reference}"))
    assert "Resident 1 (Messenger): Being sent on Messenger" in text
    assert "Resident 2 (the web chat): Waiting for the resident to open the chat" in text
    for secret in (filer, neighbour, "psid-filed-in-chat"):
        assert secret not in text


def test_choosing_the_current_status_or_an_unknown_one_changes_nothing(
    console: tuple[str, str], agent: httpx.Client
) -> None:
    _, db = console
    ref = add_report(db, ward="Same F")
    same = agent.post(f"/reports/{ref}/status", data={**status_form(agent, ref), "status": "open"})
    assert same.status_code == 409 and "already “Open”" in shown(same)
    unknown = agent.post(f"/reports/{ref}/status", data={**status_form(agent, ref), "status": "teleported"})
    assert unknown.status_code == 400 and "Choose a status" in shown(unknown)
    assert "We've inspected it and the repair is booked." in shown(unknown)  # what residents would read
    too_long = agent.post(
        f"/reports/{ref}/status", data={**status_form(agent, ref), "status": "fixed", "note": "x" * 1001}
    )
    assert too_long.status_code == 400
    bad_marker = agent.post(f"/reports/{ref}/status", data={**status_form(agent, ref), "status": "fixed", "seen": "²"})
    assert bad_marker.status_code == 400
    assert staff_updates(db, ref) == [] and notifications(db, ref) == 0


def test_a_rejected_report_can_be_sent_again_once(console: tuple[str, str], agent: httpx.Client) -> None:
    _, db = console
    ref = add_report(db, ward="Retry F", send_state="rejected", send_error="Invalid service_code: PH")
    page = agent.get(f"/reports/{ref}")
    assert "Invalid service_code: PH" in shown(page) and 'id="retry"' in page.text
    token = csrf_in(page.text)
    first = agent.post(f"/reports/{ref}/retry", data={"csrf_token": token})
    second = agent.post(f"/reports/{ref}/retry", data={"csrf_token": token})
    assert first.status_code == second.status_code == 303
    assert "It will be sent to the back office in a moment" in shown(agent.get(first.headers["location"]))
    assert "Nothing was changed" in shown(agent.get(second.headers["location"]))
    with session_scope(db) as session:
        report = session.execute(select(Report).where(Report.reference == ref)).scalar_one()
        assert report.send_state == "queued" and report.next_attempt_at is not None


def test_a_report_whose_sending_is_in_doubt_is_settled_by_staff_once(
    console: tuple[str, str], agent: httpx.Client
) -> None:
    _, db = console
    found = add_report(db, ward="Doubt F", send_state="uncertain", send_error="It may have reached the back office")
    missing = add_report(db, ward="Doubt F", send_state="uncertain")
    page = agent.get(f"/reports/{found}")
    assert "Check the back office before it is sent again" in shown(page)
    token = csrf_in(page.text)
    empty = agent.post(f"/reports/{found}/settle", data={"csrf_token": token, "found": "there", "open311_id": " "})
    assert empty.status_code == 400 and "Enter the back office's id" in shown(empty)
    there = {"csrf_token": token, "found": "there", "open311_id": "SR-9001"}
    first = agent.post(f"/reports/{found}/settle", data=there)
    again = agent.post(f"/reports/{found}/settle", data={**there, "open311_id": "SR-9002"})
    assert "Recorded as sent" in shown(agent.get(first.headers["location"]))
    assert "Nothing was changed" in shown(agent.get(again.headers["location"]))
    after = agent.get(f"/reports/{found}")
    assert 'id="open311-id">SR-9001<' in after.text and "Check the back office" not in shown(after)

    agent.post(f"/reports/{missing}/settle", data={"csrf_token": token, "found": "missing"})

    # One a worker is posting right now (its claim is live) isn't staff's to settle; once the worker is gone
    # (its lease lapsed) it is, and the dead worker's claim goes with it.
    posting = add_report(db, ward="Doubt F", send_state="uncertain")
    abandoned = add_report(db, ward="Doubt F", send_state="uncertain")
    with session_scope(db) as session:
        for reference, lease in ((posting, 5), (abandoned, -5)):
            session.execute(
                update(Report)
                .where(Report.reference == reference)
                .values(claimed_by="worker-1", claim_token="t1", lease_until=utcnow() + dt.timedelta(minutes=lease))
            )
    assert "Check the back office before" not in shown(agent.get(f"/reports/{posting}"))
    refused = agent.post(f"/reports/{posting}/settle", data={"csrf_token": token, "found": "missing"})
    assert "Nothing was changed" in shown(agent.get(refused.headers["location"]))
    assert "Check the back office before" in shown(agent.get(f"/reports/{abandoned}"))
    agent.post(f"/reports/{abandoned}/settle", data={"csrf_token": token, "found": "missing"})

    with session_scope(db) as session:
        rows = session.execute(
            select(Report.reference, Report.send_state, Report.claim_token).where(Report.ward == "Doubt F")
        ).all()
    assert {r.reference: (r.send_state, r.claim_token) for r in rows} == {
        found: ("sent", None),
        missing: ("queued", None),
        posting: ("uncertain", "t1"),
        abandoned: ("queued", None),
    }


# --- Who may see ------------------------------------------------------------------------------------------------


def test_editors_and_visitors_are_refused(console: tuple[str, str], agent: httpx.Client) -> None:
    base, db = console
    ref = add_report(db, ward="Access F")
    with signed_in(base, "editor") as editor:
        token = page_csrf(editor)
        for path in ("/reports", f"/reports/{ref}"):
            assert editor.get(path).status_code == 403
        data = {"csrf_token": token, "status": "fixed", "seen": "0", "found": "missing"}
        for action in ("status", "retry", "settle"):
            assert editor.post(f"/reports/{ref}/{action}", data=data).status_code == 403
        assert 'href="/reports"' not in editor.get("/figures").text
    with client(base) as anonymous:
        resp = anonymous.get(f"/reports/{ref}")
        assert resp.status_code == 303 and resp.headers["location"] == f"/login?next=%2Freports%2F{ref}"
        assert anonymous.post(f"/reports/{ref}/status", data={"status": "fixed"}).status_code == 303
    # Without the form's CSRF token even an agent changes nothing.
    assert agent.post(f"/reports/{ref}/status", data={"status": "fixed", "seen": "0"}).status_code == 403
    assert staff_updates(db, ref) == []
    assert 'href="/reports"' in agent.get("/").text


def test_an_unknown_reference_is_not_found(console: tuple[str, str], agent: httpx.Client) -> None:
    for path in ("/reports/NC-2099-000000", "/reports/" + "N" * 300, "/reports/NC-2099-000000/photos/1"):
        resp = agent.get(path)
        assert resp.status_code == 404 and "Page not found" in shown(resp)
    token = page_csrf(agent)
    for action in ("status", "retry"):
        resp = agent.post(
            f"/reports/NC-2099-000000/{action}", data={"csrf_token": token, "status": "fixed", "seen": "0"}
        )
        assert resp.status_code == 404


def test_without_a_back_office_reports_wait_here_and_staff_own_their_status(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = {"REPORT_QUIET_HOURS": "00:00-00:00"}
    with seeded_console(tmp_path_factory, "reports-no-open311", env=env) as (base, db):
        ref = add_report(db, ward="Here F", send_state="held")
        with signed_in(base, "agent") as agent:
            assert "No back office is connected: reports wait here" in shown(agent.get("/reports"))
            page = agent.get(f"/reports/{ref}")
            assert "Not sent: no back office is connected" in shown(page)
            assert "owns this report's status" not in shown(page) and 'id="retry"' not in page.text
            refused = agent.post(f"/reports/{ref}/retry", data={"csrf_token": csrf_in(page.text)})
            assert refused.status_code == 409 and "nowhere to send it" in shown(refused)
            done = agent.post(f"/reports/{ref}/status", data={**status_form(agent, ref), "status": "investigating"})
            assert done.status_code == 303
        assert len(staff_updates(db, ref)) == 1 and notifications(db, ref) == 1
        with session_scope(db) as session:
            assert session.execute(select(Report.send_state).where(Report.reference == ref)).scalar_one() == "held"


def test_with_a_back_office_held_reports_can_be_sent_and_the_page_says_it_owns_the_status(
    console: tuple[str, str], agent: httpx.Client
) -> None:
    _, db = console
    ref = add_report(db, ward="Backoffice F", send_state="held")
    assert "over Open311, which owns their status" in shown(agent.get("/reports"))
    page = agent.get(f"/reports/{ref}")
    assert "The back office owns this report's status" in shown(page)
    assert "came in before the back office was connected" in shown(page)
    assert agent.post(f"/reports/{ref}/retry", data={"csrf_token": csrf_in(page.text)}).status_code == 303
    with session_scope(db) as session:
        assert session.execute(select(Report.send_state).where(Report.reference == ref)).scalar_one() == "queued"


@pytest.mark.postgres
def test_on_postgresql_filters_count_and_a_double_submit_changes_once(pg_schema_url: str, tmp_path: Path) -> None:
    with session_scope(pg_schema_url) as session:
        for username, (role, name) in ACCOUNTS.items():
            if username in ("agent", "admin"):
                create_user(session, username, name, role, PASSWORD)
    first = add_report(pg_schema_url, ward="Pg F", minutes_ago=30, residents=("messenger", "webchat"))
    second = add_report(pg_schema_url, ward="Pg F", category="graffiti", minutes_ago=5)
    env = {"REPORT_QUIET_HOURS": "00:00-00:00"}
    with running_console(pg_schema_url, tmp_path / "console.log", env=env) as base:
        with signed_in(base, "agent") as agent:
            page = agent.get("/reports", params={"ward": "Pg F", "status": "unfinished"})
            assert listed(page) == [second, first]
            assert option(page, "f-category", "graffiti").endswith("(1)")
            assert option(page, "f-status", "open").endswith("(2)")
            assert "Resident 2" in shown(agent.get(f"/reports/{first}"))
        assert send_twice_at_once(base, first) == [303, 409]
    assert len(staff_updates(pg_schema_url, first)) == 1 and notifications(pg_schema_url, first) == 2
