"""Start and stop the bot's processes: the action server, the Rasa server and the staff console, started in
that order (the benchmark and the evaluation leave the console out), each restarted by `supervise` if it dies.

Used by `councilbot run`, the end-to-end tests, the evaluation and the benchmark, so they all exercise
the same real servers on loopback.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Optional

import httpx

from bot.endpoints import write_endpoints
from bot.model_swap import current_model, current_model_file, write_token
from bot.training import rasa_env
from knowledge.settings import PROJECT_ROOT, Settings, var_dir
from knowledge.settings import settings as settings_in_force

# A server that dies this many times within RESTART_PERIOD seconds is not restarted again.
RESTART_LIMIT = 5
RESTART_PERIOD = 300.0


def _plain_http_cookies(host: str) -> dict[str, str]:
    """The console's session cookie is Secure unless told otherwise. On loopback (the embedded default)
    there is no TLS and no network to sniff, so the cookie may travel over plain http; anywhere else the
    console must sit behind HTTPS and keeps Secure cookies."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    return {"CONSOLE_INSECURE_COOKIES": "1"} if loopback else {}


class StartupError(RuntimeError):
    """A server did not come up; the message says which and where its log is."""


def wait_until_answers(
    url: str,
    deadline: float,
    proc: Optional[subprocess.Popen] = None,
    name: str = "the server",
    see: Optional[Path] = None,
    *,
    json: Optional[dict] = None,
    timeout: float = 2.0,
    every: float = 0.5,
) -> None:
    """Return once `url` answers 200 (a GET, or a POST of `json` if given), asking every `every` seconds with
    a `timeout` per request. Raises StartupError naming `name` (and the log `see`, if given) if `proc` exits
    first or nothing has answered by `deadline`, a `time.monotonic()` time."""
    where = f"; see {see}" if see is not None else ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StartupError(f"{name} exited with code {proc.returncode}{where}")
        try:
            answer = httpx.get(url, timeout=timeout) if json is None else httpx.post(url, json=json, timeout=timeout)
            if answer.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(every)
    raise StartupError(f"{name} did not answer at {url} in time{where}")


class BotStack:
    """The action server and Rasa server for one model. Use as a context manager."""

    def __init__(
        self,
        model: Path,
        settings: Optional[Settings] = None,
        log_dir: Optional[Path] = None,
        quiet: bool = True,
        env: Optional[dict[str, str]] = None,
        console: bool = True,
    ):
        self.model = model
        self.env = dict(env or {})  # extra environment for every server (channel settings in tests)
        # The console asks the Rasa server what the model makes of an editor's preview question; this
        # per-run secret keeps that route to our own processes.
        self.env.setdefault(
            "COUNCILBOT_INTERNAL_TOKEN", settings_in_force().internal_token or secrets.token_urlsafe(24)
        )
        self.console = console  # the benchmark and evaluation measure the bot alone
        self.settings = settings or Settings.from_env()
        self.log_dir = log_dir or var_dir() / "logs"
        self.quiet = quiet
        self._procs: list[subprocess.Popen] = []
        # What started each server, by name, so `supervise` can start it again the same way.
        self._specs: dict[str, tuple[list[str], dict[str, str]]] = {}
        self._named: dict[str, subprocess.Popen] = {}
        self._restarts: dict[str, list[float]] = {}
        self._logs = contextlib.ExitStack()  # the servers' log files, open while they run
        self._endpoints: Optional[Path] = None

    @property
    def rasa_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.action_port}"

    @property
    def console_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.console_port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.rasa_url}/webhooks/rest/webhook"

    def _spawn(self, name: str, cmd: list[str], env: Optional[dict[str, str]] = None) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out: Optional[IO[bytes]] = None
        if self.quiet:
            out = self._logs.enter_context((self.log_dir / f"{name}.log").open("ab"))
        # Own process group, so Ctrl-C in a terminal reaches us first and we stop children in order.
        full_env = {**rasa_env(), **self.env, **(env or {})}
        proc = subprocess.Popen(
            cmd,
            cwd=PROJECT_ROOT,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )
        self._procs.append(proc)
        self._specs[name] = (cmd, dict(env or {}))
        self._named[name] = proc
        return proc

    def supervise(self, now: Optional[float] = None) -> list[str]:
        """Start again any server that has died, as it was started. Returns the names restarted. A server
        that dies RESTART_LIMIT times within RESTART_PERIOD seconds is left down (it would only crash-loop)
        and `running()` then turns False, so `councilbot run` stops and says so."""
        now = time.monotonic() if now is None else now
        restarted = []
        for name, proc in list(self._named.items()):
            if proc.poll() is None:
                continue
            recent = [t for t in self._restarts.get(name, []) if now - t < RESTART_PERIOD]
            if len(recent) >= RESTART_LIMIT:
                continue
            self._restarts[name] = [*recent, now]
            print(f"The {name} server stopped (exit code {proc.returncode}); starting it again.", flush=True)
            self._procs.remove(proc)
            cmd, env = self._specs[name]
            if name == "rasa":  # a model swapped in since the start (bot/model_swap.py) is the one to load
                swapped = current_model(self.settings.rasa_port)
                if swapped is not None:
                    cmd = [str(swapped) if part == str(self.model) else part for part in cmd]
            self._spawn(name, cmd, env)
            restarted.append(name)
        return restarted

    def start(self, timeout: float = 240.0) -> BotStack:
        s = self.settings
        # `councilbot train --swap` finds the running server's internal token here (owner-only file).
        write_token(s.rasa_port, self.env["COUNCILBOT_INTERNAL_TOKEN"])
        current_model_file(s.rasa_port).unlink(missing_ok=True)
        endpoints = self._endpoints = write_endpoints(s, var_dir() / f"endpoints-{s.rasa_port}.yml")
        # rasa_sdk listens on 0.0.0.0 unless SANIC_HOST says otherwise; keep it on our interface.
        actions = self._spawn(
            "actions",
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(s.action_port)],
            env={"SANIC_HOST": s.host},
        )
        rasa = self._spawn(
            "rasa",
            [
                sys.executable,
                "-m",
                "rasa",
                "run",
                "--model",
                str(self.model),
                "--endpoints",
                str(endpoints),
                "--credentials",
                "credentials.yml",
                "--interface",
                s.host,
                "--port",
                str(s.rasa_port),
            ],
            env={"LOG_LEVEL": s.log_level},
        )
        console = (
            self._spawn(
                "console",
                [sys.executable, "-m", "bot.console", "--host", s.host, "--port", str(s.console_port)],
                env={"LOG_LEVEL": s.log_level, "RASA_URL": self.rasa_url, **_plain_http_cookies(s.host)},
            )
            if self.console
            else None
        )
        deadline = time.monotonic() + timeout
        try:
            self._wait(actions, "action server", f"{self.action_url}/health", deadline)
            if console is not None:
                self._wait(console, "staff console", f"{self.console_url}/healthz", deadline)
            self._wait(rasa, "Rasa server", f"{self.rasa_url}/webhooks/rest/", deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, proc: subprocess.Popen, name: str, url: str, deadline: float) -> None:
        wait_until_answers(url, deadline, proc, name, see=self.log_dir)

    def running(self) -> bool:
        """True while every server process is still alive."""
        return bool(self._procs) and all(p.poll() is None for p in self._procs)

    def process(self, name: str) -> subprocess.Popen:
        """The running process of server `name` (actions, rasa or console)."""
        return self._named[name]

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every server in the reverse of the order they started (the console, then Rasa, so nothing is
        still sending to the action server when it stops), then SIGKILL whatever hasn't exited in time."""
        for proc in reversed(self._procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self._procs):
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._procs.clear()
        self._named.clear()
        if self._endpoints is not None:
            self._endpoints.unlink(missing_ok=True)  # it may hold a database password
        self._logs.close()

    def __enter__(self) -> BotStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
