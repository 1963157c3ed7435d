"""The daemon's scheduler: APScheduler's AsyncIOScheduler, able to let running jobs finish first.

`shutdown()` cancels the jobs that are running. A job cancelled mid-query cuts its write short (the
transaction rolls back and the next tick redoes it, so nothing is lost), and on SQLite it leaves
the driver's thread answering a loop that is gone ("Event loop is closed" at exit). So the daemon
pauses the scheduler, drains it, and only then shuts it down.
"""
from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler


class DrainingScheduler(AsyncIOScheduler):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._running: set[asyncio.Task[Any]] = set()

    def add_job(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        if inspect.iscoroutinefunction(func):
            func = self._tracked(func)
        return super().add_job(func, *args, **kwargs)

    def _tracked(self, func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(func)
        async def run(*args: Any, **kwargs: Any) -> Any:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                return await func(*args, **kwargs)
            finally:
                if task is not None:
                    self._running.discard(task)
        return run

    @property
    def running_jobs(self) -> int:
        return len(self._running)

    async def drain(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the jobs that are running (after `pause()`: no new ones start)."""
        if self._running:
            await asyncio.wait(list(self._running), timeout=max(0.1, timeout))
