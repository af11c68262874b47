"""The import and export page over real HTTP: a dry run shows the changes, an import applies them as one
version, bad files are reported by row with nothing changed, roles, CSRF and the upload size limit."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from knowledge.catalogue.editing import snapshot, versions
from knowledge.db import session_scope
from knowledge.models import Service
from tests.bot.console_helpers import WebClient, csrf_in, seeded_console, shown, signed_in

KEY = "roads.pothole"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with seeded_console(tmp_path_factory, "transfer") as (base, db_url):
        yield base, db_url


def state(db: str) -> dict:
    with session_scope(db) as session:
        return {"snapshot": snapshot(session), "versions": [v.number for v in versions(session)]}


def download(c: WebClient) -> str:
    r = c.get("/editor/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    return r.content.decode("utf-8-sig")


def changed(text: str, key: str, **cells: str) -> bytes:
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        if row["key"] == key:
            row.update(cells)
    out = io.StringIO()
    writer = csv.DictWriter(out, list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def upload(c: WebClient, data: bytes, action: str, reason: str = "", csrf: bool = True, name: str = "services.csv"):
    token = csrf_in(c.get("/editor/import").text) if csrf else "x" * 43
    return c.post(
        "/editor/import",
        data={"csrf_token": token, "action": action, "reason": reason},
        files={"file": (name, data, "text/csv")},
    )


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden {name} on the page"
    return match.group(1)


def test_editor_checks_then_imports_what_was_shown(console: tuple[str, str]) -> None:
    base, db = console
    c = signed_in(base, "editor")
    page = c.get("/editor/import")
    assert page.status_code == 200 and "Check (dry run)" in page.text and 'href="/editor/export.csv"' in page.text
    data = changed(download(c), KEY, summary="Tell us where the pothole is. <b>We fix most within 5 days.</b>")
    before = state(db)

    check = upload(c, data, "check")
    assert check.status_code == 200
    text = shown(check)
    assert "What importing services.csv would change" in text and "1 changed" in text and KEY in text
    assert "<b>We fix most within 5 days.</b>" in text  # shown as text...
    assert "&lt;b&gt;We fix" in check.text  # ...because it is escaped
    assert state(db) == before  # a check changes nothing

    r = c.post(
        "/editor/import",
        data={
            "csrf_token": csrf_in(check.text),
            "action": "import",
            "upload": hidden(check.text, "upload"),
            "filename": "services.csv",
            "fingerprint": hidden(check.text, "fingerprint"),
            "reason": "Clearer",
        },
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/editor/import?version=")
    done = shown(c.get(r.headers["location"]))
    assert "Imported and published as version" in done and KEY in done
    with session_scope(db) as session:
        svc = session.execute(select(Service).where(Service.key == KEY)).scalar_one()
        assert svc.summary.endswith("<b>We fix most within 5 days.</b>") and svc.version >= 2
        [latest, *_] = versions(session)
        assert (latest.author, latest.reason) == ("editor", "Clearer")


def test_import_without_a_reason_asks_for_one(console: tuple[str, str]) -> None:
    base, db = console
    c = signed_in(base, "editor")
    data = changed(download(c), KEY, title="Report a road defect")
    before = state(db)
    r = upload(c, data, "import", reason="")
    assert r.status_code == 400 and "Say why you are importing" in shown(r)
    assert 'name="upload"' in r.text  # the checked file is kept for the next try
    assert state(db) == before


def test_import_checked_before_someone_published_shows_the_new_plan(console: tuple[str, str]) -> None:
    base, db = console
    c = signed_in(base, "editor")
    check = upload(c, changed(download(c), KEY, title="Report a road defect"), "check")
    with session_scope(db) as session:
        session.execute(select(Service).where(Service.key == "bins.missed")).scalar_one().title = "Changed meanwhile"
    before = state(db)
    r = c.post(
        "/editor/import",
        data={
            "csrf_token": csrf_in(check.text),
            "action": "import",
            "upload": hidden(check.text, "upload"),
            "filename": "services.csv",
            "fingerprint": hidden(check.text, "fingerprint"),
            "reason": "Go",
        },
    )
    assert r.status_code == 409 and "Someone published changes after you checked" in shown(r)
    assert "bins.missed" in shown(r)
    assert state(db) == before


def test_malformed_csv_shows_each_problem_and_changes_nothing(console: tuple[str, str]) -> None:
    base, db = console
    c = signed_in(base, "editor")
    data = changed(download(c), KEY, review_by="soon", url="https://evil.example.com/<script>")
    before = state(db)
    for action in ("check", "import"):
        r = upload(c, data, action, reason="Try it")
        assert r.status_code == 400
        page = shown(r)
        assert "Nothing was imported" in page
        assert re.search(rf"services\.csv:\d+: service '{KEY}': review_by 'soon' must be a date", page)
        assert "is not on an allowed site" in page
        assert "<script>" not in r.text and "&lt;script&gt;" in r.text
    assert state(db) == before


def test_bad_quoting_and_non_csv_files_are_explained(console: tuple[str, str]) -> None:
    base, _ = console
    c = signed_in(base, "editor")
    r = upload(c, b'key,title\r\n"unclosed,quote\r\n', "check")
    assert r.status_code == 400 and "services.csv:2: row 2 can't be read" in shown(r) and "quotes" in shown(r)
    r = upload(c, b"key,title\r\nroads.pothole,Report\r\n", "check")
    assert r.status_code == 400 and "services.csv:1: missing column 'url'" in shown(r)
    r = upload(c, b"PK\x03\x04rest of a workbook", "check", name="services.xlsx")
    assert r.status_code == 400 and "spreadsheet workbook" in shown(r)
    r = upload(c, b"", "check")
    assert r.status_code == 400 and "That file is empty" in shown(r)


def test_files_over_2_mb_are_refused_with_a_clear_message(console: tuple[str, str]) -> None:
    base, db = console
    c = signed_in(base, "editor")
    before = state(db)
    r = upload(c, b"x" * (2 * 1024 * 1024 + 1), "check")
    assert r.status_code == 413 and "the most you can import at once is 2 MB" in shown(r)
    assert state(db) == before
    # Past the form's own limit the body isn't even read: refused (by the CSRF check, which can't read the
    # form), and still nothing changes.
    r = upload(c, b"x" * (9 * 1024 * 1024), "import", reason="Too big")
    assert r.status_code in (403, 413)
    assert state(db) == before


def test_agents_are_refused_and_posts_need_the_csrf_token(console: tuple[str, str]) -> None:
    base, db = console
    agent = signed_in(base, "agent")
    assert agent.get("/editor/import").status_code == 403
    assert agent.get("/editor/export.csv").status_code == 403
    editor = signed_in(base, "editor")
    data = changed(download(editor), KEY, title="No token")
    token = csrf_in(agent.get("/figures").text)
    assert (
        agent.post(
            "/editor/import", data={"csrf_token": token, "action": "check"}, files={"file": ("s.csv", data, "text/csv")}
        ).status_code
        == 403
    )
    before = state(db)
    r = upload(editor, data, "import", reason="No token", csrf=False)
    assert r.status_code == 403
    assert state(db) == before


def test_admin_can_export_and_check(console: tuple[str, str]) -> None:
    base, _ = console
    c = signed_in(base, "admin")
    r = upload(c, download(c).encode("utf-8"), "check")
    assert r.status_code == 200 and "Nothing would change" in shown(r)
