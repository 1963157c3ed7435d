"""Supervised tasks: a failure is retried after a backoff, and a task that failed on storage is started
again the moment the daemon sees the database answer, not at the end of its backoff."""
from __future__ import annotations

import asyncio

from sqlalchemy.exc import OperationalError

from monitor.supervisor import TaskHealth, supervise


class WatchedHealth(TaskHealth):
    """TaskHealth that says when the supervisor has recorded a failure, so a test waits on that, not on a timer."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.failing = asyncio.Event()

    def failed(self, e: BaseException) -> None:
        super().failed(e)
        self.failing.set()


def storage_down() -> OperationalError:
    return OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "Connect call failed"))


async def test_a_task_failed_on_storage_restarts_as_soon_as_storage_is_back() -> None:
    health, stopping, back = WatchedHealth("dispatcher"), asyncio.Event(), asyncio.Event()
    starts: list[int] = []
    running = asyncio.Event()

    async def run() -> None:
        starts.append(1)
        if len(starts) == 1:
            raise storage_down()
        health.progress()
        running.set()
        await stopping.wait()

    # a backoff far longer than any test timeout: only the storage signal can restart the task in time
    task = asyncio.create_task(supervise(health, run, stopping=stopping, base_backoff=600, max_backoff=600,
                                         retry_now=back))
    try:
        await asyncio.wait_for(health.failing.wait(), timeout=30)
        assert health.state == "failing"
        back.set()  # a poll found the database answering
        await asyncio.wait_for(running.wait(), timeout=30)
        assert len(starts) == 2 and health.state == "running" and health.restarts == 1
    finally:
        stopping.set()
        await asyncio.wait_for(task, timeout=30)
    assert health.state == "stopped"


async def test_a_bug_is_not_retried_early_by_the_storage_signal() -> None:
    health, stopping, back = WatchedHealth("dispatcher"), asyncio.Event(), asyncio.Event()
    starts: list[int] = []

    async def run() -> None:
        starts.append(1)
        raise RuntimeError("a bug")

    task = asyncio.create_task(supervise(health, run, stopping=stopping, base_backoff=600, max_backoff=600,
                                         retry_now=back))
    try:
        await asyncio.wait_for(health.failing.wait(), timeout=30)
        assert health.state == "failing"
        back.set()
        for _ in range(20):  # give a wrongly woken supervisor every chance to start it again
            await asyncio.sleep(0)
        assert len(starts) == 1 and health.last_error == "RuntimeError: a bug"
    finally:
        stopping.set()
        await asyncio.wait_for(task, timeout=30)
