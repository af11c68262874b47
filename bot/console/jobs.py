"""Background work the console process does besides serving pages: the link check and the retention run.

Every `LINK_CHECK_HOURS` hours (0 turns it off) the console checks every service's link, the first time
`LINK_CHECK_FIRST_DELAY_SECONDS` after it starts, so a restart doesn't hammer the council's site.
`LINK_CHECK_TIMEOUT_SECONDS` bounds each request (defaults: knowledge/settings.py). A failed check is logged and
the schedule carries on: nothing here may take the console down. Editors can also start a check from the
links page (`start_link_check`); only one check runs at a time.

Every `RETENTION_HOURS` hours (0 turns it off), first `RETENTION_FIRST_DELAY_SECONDS` after start, the console
deletes residents' data that is past its retention period (`knowledge.personal_data.retention`, periods from the
RETENTION_*_DAYS settings) from the knowledge base and Rasa's tracker store. Only counts are logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sanic import Sanic

from knowledge.catalogue.links import run_check_async
from knowledge.personal_data import retention
from knowledge.settings import settings

log = logging.getLogger(__name__)


def link_check_running(app: Sanic) -> bool:
    """True while a link check (scheduled or started by an editor) is under way."""
    return bool(getattr(app.ctx, "link_check_running", False))


async def _run_link_check(app: Sanic, why: str) -> None:
    """One check; never raises (except cancellation at shutdown), so callers' loops keep going."""
    app.ctx.link_check_running = True
    try:
        timeout = settings().link_check_timeout_seconds
        results = await run_check_async(app.ctx.database_url, timeout=timeout)
        log.info(
            "console: %s link check done: %d links, %d problem(s)",
            why,
            len(results),
            sum(r.is_problem for r in results),
        )
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
    await asyncio.sleep(first_delay)
    while True:
        try:
            periods = retention.Periods.from_env()
            report = await asyncio.to_thread(
                retention.apply, app.ctx.database_url, settings().tracker_store_url, periods
            )
            log.info(
                "console: retention run deleted %d row(s): %s",
                report.total,
                ", ".join(f"{table} {n}" for table, n in sorted(report.counts.items())) or "nothing due",
            )
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - logged (without parameters: see knowledge/db.py); try again later
            log.exception("console: retention run failed")
        await asyncio.sleep(every_seconds)


def _start_every(
    app: Sanic,
    job: str,
    every_hours: float,
    first_delay: float,
    setting: str,
    schedule: Callable[[Sanic, float, float], Coroutine[Any, Any, None]],
) -> None:
    """Start `schedule(app, every_seconds, first_delay)` every `every_hours` hours (0: off, logged as such with
    the `setting` that turned it off), the first run `first_delay` seconds after start. `job` names the work in
    the log ("link check")."""
    if every_hours == 0:
        log.info("console: scheduled %ss are off (%s=0)", job, setting)
        return
    _spawn(app, schedule(app, every_hours * 3600, first_delay))
    log.info("console: %s every %g hour(s), first in %g s", job, every_hours, first_delay)


async def _after_start(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
    s = settings()
    _start_every(
        app, "retention run", s.retention_hours, s.retention_first_delay_seconds, "RETENTION_HOURS", _retention_schedule
    )
    _start_every(app, "link check", s.link_check_hours, s.link_check_first_delay_seconds, "LINK_CHECK_HOURS", _schedule)


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
