"""Long-running tasks that fail loudly and come back: a database blip must never silently stop alerts.

`supervise()` runs a task for the daemon's life. When it raises, the failure is logged (one line for
an expected one, such as the database being unreachable; a traceback only for a bug), shown in
/healthz, reported to the operators once, and the task is started again after a backoff (1, 2, 4 …
`max_backoff` s). The task says it is healthy again by calling `TaskHealth.progress()`; the recovery
is logged and reported once. A task that failed on storage is started again at once when `retry_now`
is set (the daemon sets it the moment any job finds the database answering again), rather than at
the end of its backoff: after an outage, alerts flow again as soon as the database does.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = structlog.get_logger("supervisor")

# What a database (or the network to it) does on a bad day: transient, never a bug.
STORAGE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, DBAPIError, PoolTimeout, OSError,
                                                    ConnectionError, asyncio.TimeoutError)


def is_storage_error(e: BaseException) -> bool:
    return isinstance(e, STORAGE_ERRORS) or type(e).__module__.startswith(("asyncpg", "aiosqlite", "sqlite3"))


def describe(e: BaseException) -> str:
    """One line: the error's class and its first line, never a traceback."""
    text = str(getattr(e, "orig", None) or e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:500]


@dataclass
class TaskHealth:
    name: str
    state: str = "starting"  # starting | running | failing | stopped
    failures_in_row: int = 0
    restarts: int = 0
    last_error: str = ""
    failing_since: float | None = None
    last_progress_at: float | None = None
    clock: Callable[[], float] = time.time
    on_recover: Callable[[str, float], None] | None = None  # (name, failed for s)

    def progress(self) -> None:
        """The task did useful work: it is running (and recovered, if it was failing)."""
        now = self.clock()
        self.last_progress_at = now
        if self.state == "failing" and self.failing_since is not None:
            failed_for = now - self.failing_since
            log.info("task.recovered", task=self.name, failed_for_s=round(failed_for, 1))
            if self.on_recover:
                self.on_recover(self.name, failed_for)
        if self.state != "running":
            self.state, self.failures_in_row, self.failing_since = "running", 0, None

    def failed(self, e: BaseException) -> None:
        self.failures_in_row += 1
        self.last_error = describe(e)
        if self.state != "failing":
            self.state, self.failing_since = "failing", self.clock()

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "state": self.state,
            "failures_in_row": self.failures_in_row,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "failing_for_s": None if self.failing_since is None else round(now - self.failing_since, 1),
            "last_progress_age_s": None if self.last_progress_at is None else round(now - self.last_progress_at, 1),
        }


async def supervise(
    health: TaskHealth,
    run: Callable[[], Awaitable[None]],
    *,
    stopping: asyncio.Event,
    base_backoff: float = 1.0,
    max_backoff: float = 5.0,
    on_first_failure: Callable[[str, str], None] | None = None,
    retry_now: asyncio.Event | None = None,
) -> None:
    """Run `run()` until `stopping` is set, restarting it after every failure."""
    while not stopping.is_set():
        if retry_now is not None:
            retry_now.clear()  # only a recovery seen after this start counts
        try:
            await run()
            if stopping.is_set():
                break
            raise RuntimeError("returned while the daemon runs")
        except asyncio.CancelledError:
            raise
        except Exception as e:
            first = health.state != "failing"
            health.failed(e)
            if is_storage_error(e):
                log.error("task.failed", task=health.name, error=health.last_error, failures=health.failures_in_row,
                          note="storage unavailable; retrying")
            else:
                log.exception("task.crashed", task=health.name, failures=health.failures_in_row)
            if first and on_first_failure:
                on_first_failure(health.name, health.last_error)
            delay = min(max_backoff, base_backoff * 2 ** min(health.failures_in_row - 1, 10))
            health.restarts += 1
            await _first_of(stopping, retry_now if is_storage_error(e) else None, timeout=delay)
    health.state = "stopped"


async def _first_of(*events: asyncio.Event | None, timeout: float) -> None:
    """Wait until one of `events` is set, at most `timeout` seconds."""
    waits = [asyncio.ensure_future(ev.wait()) for ev in events if ev is not None]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
