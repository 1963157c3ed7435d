"""/healthz tells the truth in time, end to end over the sandbox: a database file locked by another
process answers 503 "busy or unreachable" within seconds instead of hanging, and Slack failing on
every channel with alerts is "down" (503), not "degraded"."""
from __future__ import annotations

import asyncio
import sqlite3

import aiohttp
from helpers import wait_for

from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.sandbox.core import Fault

FAST = {"base_backoff": 0.05, "max_backoff": 0.3, "poll_interval": 0.05, "announce_after": 0.5, "down_after": 0.5}


def config(stack, db_url: str):  # type: ignore[no-untyped-def]
    cfg = stack.config(brand="acme", db_url=db_url, x_interval=0.3, slack_min_interval=0)
    cfg["outbox"] = dict(FAST)
    return parse_config(cfg, env={})


async def healthz(daemon: Daemon) -> tuple[int, dict]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http, http.get(f"http://127.0.0.1:{daemon.http_port}/healthz") as r:
        return r.status, await r.json()


async def test_a_database_file_locked_by_another_process_is_503_within_seconds(stack, tmp_path) -> None:
    db = tmp_path / "locked.db"
    daemon = Daemon(config(stack, f"sqlite:///{db}"))
    await daemon.start()
    other = sqlite3.connect(db, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        await wait_for(stack, lambda: daemon.tasks["dispatcher"].state == "running", what="the daemon at work")
        await asyncio.to_thread(other.execute, "BEGIN EXCLUSIVE")  # a backup, a stuck writer …
        # the work waits up to 30 s for the lock; /healthz must not (its probe gives up after 2 s)
        status, health = await asyncio.wait_for(healthz(daemon), timeout=20)
        assert status == 503 and health["status"] == "down", health
        assert any(p.startswith("storage is busy or unreachable") and "locked" in p for p in health["problems"])
        other.execute("ROLLBACK")
        await wait_for(stack, lambda: daemon.storage.state == "running", timeout=60, what="storage answering")
        status, health = await healthz(daemon)
        assert status == 200 and not any("storage" in p for p in health["problems"]), health
    finally:
        other.close()
        await daemon.stop()


async def test_slack_failing_on_every_channel_with_alerts_is_down_not_degraded(stack, db_url) -> None:
    stack.slack.faults.add("/api/chat.postMessage", Fault("500", times=10**6))
    stack.x.add_user("anna_k", "Anna")
    stack.x.post("anna_k", "@acme the app is down again, nothing loads")
    daemon = Daemon(config(stack, db_url))
    await daemon.start()
    seen: list[tuple[int, str]] = []
    last: dict = {}

    async def down() -> bool:
        status, health = await healthz(daemon)
        seen.append((status, health["status"]))
        last.update(health)
        return status == 503

    try:
        await wait_for(stack, lambda: len(stack.slack.recorder.matching("/api/chat.postMessage")) >= 3,
                       what="Slack failing again and again")
        await wait_for(stack, down, timeout=30, what="/healthz saying down")
        assert last["status"] == "down" and any("every lane with alerts is blocked" in p for p in last["problems"]), last
        assert all(s != "ok" for _, s in seen), seen  # once alerts failed, never "ok"
        stack.slack.faults.clear()
        await wait_for(stack, lambda: len(stack.slack.messages("#care-urgent")) + len(stack.slack.messages("#care")) >= 1,
                       what="the alert, once Slack is back")
    finally:
        await daemon.stop()
