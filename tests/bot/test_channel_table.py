"""The table of channels: every channel the code uses has a record, the numbers are the platforms'
published limits, and reading it (or running the console) does not load Rasa."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.channels.events import Incoming
from bot.channels.meta import MetaInput
from bot.channels.rest import SENDER_PREFIX as REST_PREFIX
from bot.channels.webchat import SENDER_PREFIX as WEB_PREFIX
from bot.channels.x import XInput
from bot.console.views.cases import CHANNELS as CONSOLE_FILTER
from knowledge import channels as table

ROOT = Path(__file__).resolve().parents[2]
# Channel names written in the code: parsers building messages, metadata the actions receive, senders
# choosing a platform's dialect, lookups in the table.
_NAMED = re.compile(
    r"""(?:\bchannel=|["']channel["']:\s*|\b(?:ch|channel|target\.channel)\s*==\s*"""
    r"""|\b(?:channel|text_limits|private_side)\()["']([a-z_]+)["']"""
)


def _names_in_code() -> set[str]:
    found: set[str] = set()
    for package in ("bot", "actions", "knowledge"):
        for path in (ROOT / package).rglob("*.py"):
            found.update(_NAMED.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_channel_named_in_the_code_has_a_record() -> None:
    named = _names_in_code()
    assert {
        "facebook_comment",
        "instagram_comment",
        "whatsapp",
        "x",
        "x_mention",
        "webchat",
        "rest",
    } <= named  # the scan itself found the parsers' and the web channels' names
    assert named <= set(table.NAMES)
    assert MetaInput.channels | XInput.channels | table.POLLED == set(table.NAMES)
    assert set(CONSOLE_FILTER) == set(table.NAMES)
    for c in table.CHANNELS:
        if c.private_side:
            assert not table.channel(c.private_side).public


@pytest.mark.parametrize(
    "name, max_chars",
    [
        ("messenger", 2000),
        ("instagram", 1000),
        ("whatsapp", 4096),
        ("facebook_comment", 8000),
        ("instagram_comment", 2200),
        ("x_mention", 280),
        ("x", 10000),
    ],
)
def test_text_limits_are_the_platforms(name: str, max_chars: int) -> None:
    assert table.text_limits(name).max_chars == max_chars


def test_buttons_and_links_are_counted_as_each_platform_does() -> None:
    whatsapp = table.text_limits("whatsapp")
    assert (whatsapp.interactive_chars, whatsapp.reply_buttons, whatsapp.button_chars) == (1024, 3, 20)
    assert (whatsapp.list_rows, whatsapp.row_chars) == (10, 24)
    assert table.text_limits("x_mention").url_weight == 23
    for name in ("messenger", "instagram"):
        assert (table.text_limits(name).quick_replies, table.text_limits(name).quick_reply_chars) == (13, 20)
    with pytest.raises(ValueError):
        table.text_limits("webchat")  # nothing we send there passes through a platform


def test_a_comments_private_reply_lands_in_that_platforms_inbox() -> None:
    assert table.private_side("facebook_comment").name == "messenger"
    assert table.text_limits(table.private_side("instagram_comment").name).max_chars == 1000
    assert table.text_limits(table.private_side("facebook_comment").name).max_chars == 2000
    assert table.private_side("x_mention").name == "x"
    assert table.channel("facebook_comment").one_private_reply and table.channel("instagram_comment").one_private_reply
    assert not table.channel("x_mention").one_private_reply  # DMs: as many as needed
    assert table.private_side("messenger").name == "messenger"


def test_windows() -> None:
    for name in ("messenger", "instagram", "whatsapp"):
        assert table.channel(name).window == dt.timedelta(hours=24)
        assert table.channel(name).window_words() == "24 hours"
    for name in ("facebook_comment", "instagram_comment"):
        assert table.channel(name).window == dt.timedelta(days=7)
        assert table.channel(name).window_words() == "7 days"
    assert table.channel("whatsapp").after_window == table.TEMPLATE_ONLY
    assert table.channel("messenger").after_window == table.HUMAN_AGENT_TAG
    assert table.channel("x").window is None and table.channel("x_mention").window is None


def test_lookups() -> None:
    assert {"facebook_comment", "instagram_comment", "x_mention"} == table.PUBLIC
    assert {"webchat", "rest"} == table.POLLED
    assert {"messenger", "facebook_comment", "instagram", "instagram_comment", "whatsapp"} == table.META_CHANNELS
    assert {"x", "x_mention"} == table.X_CHANNELS
    assert table.for_webhook("page", public=False).name == "messenger"
    assert table.for_webhook("instagram", public=True).name == "instagram_comment"
    with pytest.raises(KeyError):
        table.channel("myspace")


def test_conversation_ids_start_with_the_channels_prefix() -> None:
    for name in table.META_CHANNELS | table.X_CHANNELS:
        conv = Incoming(channel=name, platform_id="m1", user_id="u1").conversation_id
        assert conv == f"{name}:u1" and conv.startswith(table.channel(name).id_prefix)
    assert (REST_PREFIX, WEB_PREFIX) == ("rest:", "web:")
    assert (table.channel("rest").id_prefix, table.channel("webchat").id_prefix) == ("rest:", "web:")


def _loads_rasa(code: str) -> bool:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('rasa' in sys.modules)"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1] == "True"


def test_the_table_and_the_console_do_not_load_rasa() -> None:
    assert not _loads_rasa("import knowledge.channels")
    # What `python -m bot.console` imports: the app, its views (cases reads the channel lists) and the
    # staff replies' sending path.
    assert not _loads_rasa("import bot.console.__main__, bot.console.app, bot.casework, bot.channels.sending.outbound")
    assert _loads_rasa("import bot.channels.meta")  # the check can tell: a webhook channel does load Rasa


@pytest.mark.parametrize(
    ("name", "hours", "template", "expected"),
    [
        ("messenger", 2, False, table.Reach.FREE),
        ("messenger", 72, False, table.Reach.TAGGED),  # day 3: a person may still answer, tagged
        ("messenger", 8 * 24, False, table.Reach.NONE),  # day 8: Meta allows nothing
        ("instagram", 30, False, table.Reach.TAGGED),
        ("whatsapp", 23, False, table.Reach.FREE),
        ("whatsapp", 30, True, table.Reach.TEMPLATE),
        ("whatsapp", 30, False, table.Reach.NONE),  # no approved template configured: can't invite them back
        ("facebook_comment", 6 * 24, False, table.Reach.FREE),  # the one private reply, within 7 days
        ("facebook_comment", 8 * 24, False, table.Reach.NONE),
        ("x", 500, False, table.Reach.FREE),
        ("webchat", 500, False, table.Reach.POLLED),
    ],
)
def test_staff_reach_follows_each_platforms_window(name: str, hours: int, template: bool, expected: str) -> None:
    now = dt.datetime(2026, 12, 1, 12, 0)
    assert table.staff_reach(name, now - dt.timedelta(hours=hours), now, template_ready=template) == expected


def test_a_conversation_the_resident_never_wrote_in_is_unreachable_on_a_windowed_channel() -> None:
    assert table.staff_reach("messenger", None, dt.datetime(2026, 12, 1)) == table.Reach.NONE
