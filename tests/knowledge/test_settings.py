"""One settings module: every variable read from the environment over `.env`, typed, with one default each."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.settings import PROJECT_ROOT, SettingError, Settings, settings, variables


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SLA_NORMAL_HOURS=8\nBUSINESS_TIMEZONE=Europe/Dublin\n# a comment\nCASE_IDLE_HOURS=0\n")
    monkeypatch.delenv("SLA_NORMAL_HOURS", raising=False)
    monkeypatch.delenv("CASE_IDLE_HOURS", raising=False)
    monkeypatch.setenv("BUSINESS_TIMEZONE", "Europe/London")
    s = settings(env_file)
    assert s.sla_normal_hours == 8.0 and s.case_idle_hours == 0.0
    assert s.business_timezone == "Europe/London"  # the deployment's environment beats a developer's file


def test_no_module_but_settings_reads_the_environment() -> None:
    """Every module takes its settings from knowledge/settings.py: none reads a variable itself."""
    offenders = []
    for path in [
        *PROJECT_ROOT.glob("bot/**/*.py"),
        *PROJECT_ROOT.glob("actions/**/*.py"),
        *PROJECT_ROOT.glob("knowledge/**/*.py"),
    ]:
        if path.name == "settings.py" or "migrations" in path.parts:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            # Reading a variable (writing one for a child process is how settings reach it, and is allowed).
            if re.search(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[[^]]+\](?!\s*=)", line):
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{n}: {line.strip()}")
    assert offenders == []


@pytest.mark.parametrize(
    "name, value, message",
    [
        (
            "RATE_LIMIT_PER_SENDER_PER_MINUTE",
            "lots",
            "RATE_LIMIT_PER_SENDER_PER_MINUTE must be a whole number, 0 or more",
        ),
        ("RETENTION_CASE_DAYS", "three years", "RETENTION_CASE_DAYS must be a whole number of days (0 keeps for ever)"),
        ("SLA_NORMAL_HOURS", "-4", "SLA_NORMAL_HOURS must be a number, 0 or more"),
        ("CONSOLE_TRUSTED_PROXIES", "11", "CONSOLE_TRUSTED_PROXIES must be a whole number from 0 to 10"),
        ("RASA_PORT", "0", "RASA_PORT must be a whole number from 1 to 65535"),
        ("CONSOLE_INSECURE_COOKIES", "maybe", "CONSOLE_INSECURE_COOKIES must be 1 or 0"),
        ("LINK_CHECK_TIMEOUT_SECONDS", "nan", "LINK_CHECK_TIMEOUT_SECONDS must be a number"),
    ],
)
def test_a_bad_value_names_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingError, match=re.escape(message)):
        Settings.from_values({name: value})


def test_a_bad_value_stops_the_console_at_start_naming_it(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot.console", "--port", "1"],
        cwd=PROJECT_ROOT,
        env={"PATH": "/usr/bin:/bin", "COUNCILBOT_VAR_DIR": str(tmp_path), "SLA_URGENT_HOURS": "soon"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "SLA_URGENT_HOURS must be a number, 0 or more, not 'soon'" in proc.stderr


def test_defaults_are_the_embedded_ones(tmp_path: Path) -> None:
    s = Settings.from_values({"COUNCILBOT_VAR_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'knowledge.db'}"
    assert s.tracker_store_url == f"sqlite:///{tmp_path / 'tracker.db'}"
    assert s.redis_url is None and s.console_insecure_cookies is False
    assert (s.rasa_port, s.action_port, s.console_port) == (5005, 5055, 5010)


def test_env_example_lists_exactly_the_settings() -> None:
    """`.env.example` is what people copy; it must name every setting and nothing that isn't one."""
    text = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#\s*([A-Z][A-Z0-9_]+)=", text, flags=re.M))
    assert listed == set(variables())
