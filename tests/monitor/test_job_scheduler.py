"""The daemon's scheduler lets a running job finish before it shuts down (APScheduler's own
shutdown cancels it mid-work: on SQLite, a query cut short answers a loop that is gone)."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from monitor.job_scheduler import DrainingScheduler


async def test_a_running_job_finishes_before_the_scheduler_shuts_down() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def sweep(name: str) -> None:
        started.set()
        await release.wait()  # a query in flight
        finished.append(name)

    scheduler = DrainingScheduler()
    scheduler.add_job(sweep, "interval", seconds=3600, args=["sweep"], next_run_time=datetime.now(UTC))
    scheduler.start()
    try:
        await asyncio.wait_for(started.wait(), timeout=30)
        scheduler.pause()
        assert scheduler.running_jobs == 1
        asyncio.get_running_loop().call_soon(release.set)  # the query answers after the drain began
        await scheduler.drain(30)
    finally:
        scheduler.shutdown(wait=False)
    assert finished == ["sweep"] and scheduler.running_jobs == 0


async def test_drain_gives_up_after_its_timeout_and_shutdown_still_cancels() -> None:
    started = asyncio.Event()
    never = asyncio.Event()

    async def stuck() -> None:
        started.set()
        await never.wait()

    scheduler = DrainingScheduler()
    scheduler.add_job(stuck, "interval", seconds=3600, next_run_time=datetime.now(UTC))
    scheduler.start()
    await asyncio.wait_for(started.wait(), timeout=30)
    scheduler.pause()
    await scheduler.drain(0.1)  # a stop has a deadline: a stuck job does not hold it
    assert scheduler.running_jobs == 1
    scheduler.shutdown(wait=False)
    for _ in range(100):  # the executor cancels the job's task; let the cancellation run
        if scheduler.running_jobs == 0:
            break
        await asyncio.sleep(0)
    assert scheduler.running_jobs == 0
