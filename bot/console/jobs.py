"""Background work the console process does besides serving pages: the link check and the retention run.

Every `LINK_CHECK_HOURS` hours (default 24; 0 turns it off) the console checks every service's link, the
first time `LINK_CHECK_FIRST_DELAY_SECONDS` (default 300) after it starts, so a restart doesn't hammer the
council's site. `LINK_CHECK_TIMEOUT_SECONDS` (default 10) bounds each request. A failed check is logged and
the schedule carries on: nothing here may take the console down. Editors can also start a check from the
links page (`start_link_check`); only one check runs at a time.

Every `RETENTION_HOURS` hours (default 24; 0 turns it off), first `RETENTION_FIRST_DELAY_SECONDS` (default
600) after start, the console deletes residents' data that is past its retention period
(`knowledge.retention`, periods from the RETENTION_*_DAYS settings) from the knowledge base and Rasa's
tracker store. Only counts are logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Callable, Coroutine

from sanic import Sanic

from knowledge import retention
from knowledge.links import DEFAULT_TIMEOUT, run_check_async

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_HOURS = 24.0
DEFAULT_FIRST_DELAY_SECONDS = 300.0
DEFAULT_RETENTION_HOURS = 24.0
DEFAULT_RETENTION_FIRST_DELAY_SECONDS = 600.0


def _setting(name: str, default: float) -> float:
    """A non-negative number from the environment; a bad value is logged and the default used."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
        if value < 0:
            raise ValueError(raw)
        return value
    except ValueError:
        log.warning("console: %s=%r is not a number of 0 or more; using %g", name, raw, default)
        return default


def link_check_running(app: Sanic) -> bool:
    """True while a link check (scheduled or started by an editor) is under way."""
    return bool(getattr(app.ctx, "link_check_running", False))


async def _run_link_check(app: Sanic, why: str) -> None:
    """One check; never raises (except cancellation at shutdown), so callers' loops keep going."""
    app.ctx.link_check_running = True
    try:
        timeout = _setting("LINK_CHECK_TIMEOUT_SECONDS", DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT
        results = await run_check_async(app.ctx.database_url, timeout=timeout)
        log.info("console: %s link check done: %d links, %d problem(s)", why, len(results),
                 sum(r.is_problem for r in results))
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - logged; the console must keep serving
        log.exception("console: %s link check failed", why)
    finally:
        app.ctx.link_check_running = False


def _spawn(app: Sanic, work: Coroutine[Any, Any, None]) -> None:
    # The loop only keeps weak references to tasks: hold them until they finish.
    task = asyncio.get_running_loop().create_task(work)
    app.ctx.background_tasks.add(task)
    task.add_done_callback(app.ctx.background_tasks.discard)


def start_link_check(app: Sanic) -> bool:
    """Start a check in the background now (called on the event loop); False if one is already running."""
    if link_check_running(app):
        return False
    app.ctx.link_check_running = True  # at once, so a second click before the task starts is refused
    _spawn(app, _run_link_check(app, "requested"))
    return True


async def _schedule(app: Sanic, every_seconds: float, first_delay: float) -> None:
    await asyncio.sleep(first_delay)
    while True:
        if link_check_running(app):
            log.info("console: scheduled link check skipped, one is already running")
        else:
            app.ctx.link_check_running = True
            await _run_link_check(app, "scheduled")
        await asyncio.sleep(every_seconds)


async def _retention_schedule(app: Sanic, every_seconds: float, first_delay: float) -> None:
    from bot.settings import Settings

    await asyncio.sleep(first_delay)
    while True:
        try:
            periods = retention.Periods.from_env()
            report = await asyncio.to_thread(retention.apply, app.ctx.database_url,
                                             Settings.from_env().tracker_store_url, periods)
            log.info("console: retention run deleted %d row(s): %s", report.total,
                     ", ".join(f"{table} {n}" for table, n in sorted(report.counts.items())) or "nothing due")
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - logged (without parameters: see knowledge/db.py); try again later
            log.exception("console: retention run failed")
        await asyncio.sleep(every_seconds)


def _start_every(app: Sanic, job: str, hours_setting: str, default_hours: float, first_delay_setting: str,
                 default_first_delay: float,
                 schedule: Callable[[Sanic, float, float], Coroutine[Any, Any, None]]) -> None:
    """Start `schedule(app, every_seconds, first_delay)` every `hours_setting` hours (0: off, logged as such),
    the first run `first_delay_setting` seconds after start. `job` names the work in the log ("link check")."""
    hours = _setting(hours_setting, default_hours)
    if hours == 0:
        log.info("console: scheduled %ss are off (%s=0)", job, hours_setting)
        return
    first = _setting(first_delay_setting, default_first_delay)
    _spawn(app, schedule(app, hours * 3600, first))
    log.info("console: %s every %g hour(s), first in %g s", job, hours, first)


async def _after_start(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
    _start_every(app, "retention run", "RETENTION_HOURS", DEFAULT_RETENTION_HOURS,
                 "RETENTION_FIRST_DELAY_SECONDS", DEFAULT_RETENTION_FIRST_DELAY_SECONDS, _retention_schedule)
    _start_every(app, "link check", "LINK_CHECK_HOURS", DEFAULT_INTERVAL_HOURS,
                 "LINK_CHECK_FIRST_DELAY_SECONDS", DEFAULT_FIRST_DELAY_SECONDS, _schedule)


async def _before_stop(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
    for task in list(app.ctx.background_tasks):
        task.cancel()
    await asyncio.gather(*app.ctx.background_tasks, return_exceptions=True)


def register(app: Sanic) -> None:
    """Run the scheduled link check and retention while the server is up; stop them when it stops."""
    app.ctx.background_tasks = set()
    app.ctx.link_check_running = False
    app.register_listener(_after_start, "after_server_start")
    app.register_listener(_before_stop, "before_server_stop")
