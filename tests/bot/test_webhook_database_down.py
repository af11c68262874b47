"""A platform webhook while the database is down, over real HTTP: the platform is told to send the delivery
again later (503, not a 500 with a stack trace), and a resident who may be in danger gets 999 and
Samaritans at once all the same, sent straight to the (fake) platform.
"""

from __future__ import annotations

from pathlib import Path

from tests.bot.webhook_helpers import APP_SECRET, running_webhooks
from tests.conftest import free_port
from tests.fakes import payloads as p
from tests.fakes.platform import FakePlatform, send_meta

IN_DANGER = "I want to kill myself"


def test_with_the_database_down_the_webhook_answers_503_and_the_crisis_lines_still_go_out(tmp_path: Path) -> None:
    # PostgreSQL, as in production, on a port where nothing listens: every connection is refused.
    unreachable = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/test"
    log = tmp_path / "webhooks.log"
    with FakePlatform() as fake, running_webhooks(unreachable, fake.url, log) as base:
        url = f"{base}/webhooks/meta/webhook"
        crisis = p.messenger("resident-in-danger", IN_DANGER)
        first = send_meta(url, APP_SECRET, crisis)
        ordinary = send_meta(url, APP_SECRET, p.messenger("resident-with-bins", "my bin was missed"))
        [call] = fake.wait_for(1)
        again = send_meta(url, APP_SECRET, crisis)  # the platform sends it again while the database is still down
        calls = fake.settle(quiet=1.0)
        text = log.read_text(encoding="utf-8", errors="replace")

    for response in (first, ordinary, again):
        assert response.status_code == 503 and "Traceback" not in response.text
    assert call.body["recipient"] == {"id": "resident-in-danger"}
    reply = call.body["message"]["text"]
    assert "999" in reply and "116 123" in reply
    assert len(calls) == 1  # nothing for the ordinary message; the retry doesn't repeat the crisis lines
    assert "database unavailable" in text  # staff can see why
    assert "Traceback" not in text
    for private in ("resident-in-danger", "resident-with-bins", "kill myself", "bin was missed"):
        assert private not in text
