"""Bad values in the console's addresses and forms get a 400 with a plain message, never a 500.

Ids and numbers typed into the address bar can be anything: `²` (a digit to `str.isdigit`, not to `int`),
thirty nines (too big for an INTEGER column), or a NUL (PostgreSQL can't store one).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from knowledge.casework import cases
from knowledge.catalogue.content import load
from knowledge.db import session_scope
from knowledge.settings import CONTENT_DIR
from knowledge.staff import ADMIN, create_user
from tests.bot.console_helpers import PASSWORD, csrf_in, page_csrf, running_console, seeded_console, shown, signed_in

BAD_NUMBERS = ["9" * 30, "²", "-5", "1.5", "0x10", "9" * 5000, "abc", "٣"]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with seeded_console(tmp_path_factory, "params") as (base, db_url):
        yield base, db_url


@pytest.fixture(scope="module")
def admin(console: tuple[str, str]) -> Iterator[httpx.Client]:
    """One signed-in admin for the module (signing in costs a password hash)."""
    with signed_in(console[0], "admin") as c:
        yield c


@pytest.fixture(scope="module")
def reference(console: tuple[str, str]) -> str:
    with session_scope(console[1]) as session:
        case, _ = cases.open_case(session, "web:params", "webchat", "asked", [{"author": "resident", "text": "hi"}])
        return case.reference


@pytest.mark.parametrize("value", BAD_NUMBERS)
@pytest.mark.parametrize(
    "path",
    [
        "/api/cases/{ref}/messages?after={v}",
        "/admin/users?created={v}",
        "/admin/users?disabled={v}",
        "/admin/users?enabled={v}",
        "/figures?days={v}",
        "/editor/unanswered?days={v}",
        "/editor/versions?a={v}&b=1",
        "/editor/versions?a=1&b={v}",
        "/editor/import?version={v}",
    ],
)
def test_bad_numbers_in_the_address_get_400_with_a_plain_message(
    admin: httpx.Client, reference: str, path: str, value: str
) -> None:
    resp = admin.get(path.format(ref=reference, v=value))
    assert resp.status_code == 400, resp.text[:300]
    assert "must be a whole number" in (resp.json()["error"] if "/api/" in path else shown(resp))
    assert "Traceback" not in resp.text


@pytest.mark.parametrize(
    "path",
    ["/editor/versions/{v}/rollback", "/editor/notices/{v}/end", "/admin/users/{v}/disable", "/admin/users/{v}/enable"],
)
def test_huge_ids_in_the_path_get_400(admin: httpx.Client, path: str) -> None:
    resp = admin.post(path.format(v="9" * 30), data={"csrf_token": page_csrf(admin)})
    assert resp.status_code == 400 and "There is no" in shown(resp)


def test_a_bad_assignee_gets_400(console: tuple[str, str], reference: str) -> None:
    with signed_in(console[0], "admin") as c:
        token = csrf_in(c.get(f"/cases/{reference}").text)
        assert c.post(f"/cases/{reference}/claim", data={"csrf_token": token}).status_code == 303
        for value in ("9" * 30, "²"):
            resp = c.post(f"/cases/{reference}/assign", data={"csrf_token": token, "assignee": value})
            assert resp.status_code == 400 and "must be a whole number" in shown(resp)


def test_good_values_still_work(console: tuple[str, str], reference: str) -> None:
    with signed_in(console[0], "admin") as c:
        assert c.get(f"/api/cases/{reference}/messages?after=0").status_code == 200
        assert c.get("/figures?days=9999").status_code == 200  # a big but sane period is capped, as before
        assert c.get("/admin/users?created=1").status_code == 200
        assert c.get("/editor/unanswered").status_code == 200


def test_console_log_has_no_stack_traces(console: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> None:
    log = next(Path(tmp_path_factory.getbasetemp()).glob("params*/console.log"))
    assert "Traceback" not in log.read_text()


def test_nul_characters_get_400_on_postgresql(pg_schema_url: str, tmp_path: Path) -> None:
    with session_scope(pg_schema_url) as session:
        load(session, CONTENT_DIR)
        create_user(session, "admin", "Ada Admin", ADMIN, PASSWORD)
        case, _ = cases.open_case(session, "web:nul", "webchat", "asked", [{"author": "resident", "text": "hi"}])
        ref = case.reference
    with running_console(pg_schema_url, tmp_path / "console.log") as base, signed_in(base, "admin") as c:
        for path in ("/editor?q=bins%00", "/editor?category=%00", "/?status=%00"):
            resp = c.get(path)
            assert resp.status_code == 400 and "isn't allowed" in shown(resp), path
        token = csrf_in(c.get(f"/cases/{ref}").text)
        assert c.post(f"/cases/{ref}/claim", data={"csrf_token": token}).status_code == 303
        resp = c.post(f"/cases/{ref}/note", data={"csrf_token": token, "note": "a\x00b"})
        assert resp.status_code == 400
    assert "Traceback" not in (tmp_path / "console.log").read_text()
