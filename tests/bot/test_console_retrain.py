"""The editors' Retrain page over real HTTP: editors see it, agents don't, and starting a retrain needs the
CSRF token. (The retrain it starts is `councilbot train --force --swap`, tested end to end in
tests/e2e/test_retrain_swap.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bot.console_helpers import csrf_in, make_db, running_console, shown, signed_in


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("retrain")
    with running_console(make_db(tmp), tmp / "console.log", env={"LINK_CHECK_HOURS": "0"}) as base:
        yield base


def test_editor_sees_the_retrain_button(console: str) -> None:
    with signed_in(console, "editor") as c:
        page = shown(c.get("/editor/model"))
    assert "<h1>Retrain the model</h1>" in page and "Retrain now" in page and "Retraining now" not in page


def test_agent_is_refused(console: str) -> None:
    with signed_in(console, "agent") as c:
        assert c.get("/editor/model").status_code == 403
        token = csrf_in(c.get("/figures").text)
        assert c.post("/editor/model/retrain", data={"csrf_token": token}).status_code == 403
    with signed_in(console, "editor") as c:
        assert "Retraining now" not in shown(c.get("/editor/model"))


def test_retrain_needs_the_csrf_token(console: str) -> None:
    with signed_in(console, "editor") as c:
        assert c.post("/editor/model/retrain", data={}).status_code == 403
        assert c.post("/editor/model/retrain", data={"csrf_token": "x" * 43}).status_code == 403
        assert "Retraining now" not in shown(c.get("/editor/model"))
