"""Kill -9 the daemon at random moments, 20 times, and check nothing was lost or sent twice.

The daemon runs as a real subprocess (`python -m monitor run`) against the sandbox served from this
test process. Slack answers slowly (150 ms), so many kills land while a message is in flight: the
sandbox keeps the message, the daemon's row stays in doubt, and the restart must reconcile it
from the channel history instead of posting it again.
"""
from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections import Counter

import pytest
from helpers import wait_for, write_config
from sqlalchemy import func, select

from monitor.sandbox.core import Fault
from monitor.sandbox.scenario import crash_scenario
from monitor.sandbox.stack import SandboxStack
from monitor.storage.engine import create_engine
from monitor.storage.schema import leases, mentions, outbox

pytestmark = pytest.mark.slow

RUNS = 20
POSTS = 60


async def start_daemon(config_path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "--config", str(config_path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def test_kill_minus_nine_loses_nothing_and_sends_nothing_twice(tmp_path) -> None:
    rng = random.Random(int(os.environ.get("CRASH_SEED", "20261125")))
    stack = SandboxStack(slack_rate_per_channel=None)
    await stack.start()
    stack.slack.faults.add("/api/chat.postMessage", Fault("timeout", times=10_000, delay=0.15))
    ids = stack.load(crash_scenario("acme", n_posts=POSTS, spread_s=10, seed=3))
    expected = {ids[k] for k in ids}
    db_url = f"sqlite:///{tmp_path / 'crash.db'}"
    cfg = stack.config(brand="acme", db_url=db_url, x_interval=0.25, slack_min_interval=0)
    path = write_config(tmp_path / "crash.yaml", cfg)
    engine = create_engine(db_url)
    try:
        for _ in range(RUNS):
            proc = await start_daemon(path)
            await asyncio.sleep(rng.uniform(0.6, 2.5))
            proc.send_signal(signal.SIGKILL)
            await proc.wait()

        proc = await start_daemon(path)

        async def settled() -> bool:
            async with engine.connect() as conn:
                stored = (await conn.execute(select(func.count()).select_from(mentions))).scalar_one()
                pending = (
                    await conn.execute(select(func.count()).where(outbox.c.status == "pending"))
                ).scalar_one()
                holders = {h for (h,) in await conn.execute(select(leases.c.holder))}
            # the last daemon is up and polling (it holds a poll lease), so SIGTERM meets its handler
            running = any(h.split(":")[1] == str(proc.pid) for h in holders)
            return stored >= len(expected) and pending == 0 and running

        await wait_for(stack, settled, timeout=60, what="every post stored and every alert delivered")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0

        async with engine.connect() as conn:
            stored = Counter(r[0] for r in await conn.execute(select(mentions.c.external_id)))
            rows = (await conn.execute(select(outbox.c.key, outbox.c.status))).all()
    finally:
        await engine.dispose()
        await stack.stop()

    assert set(stored) == expected and set(stored.values()) == {1}
    assert rows and {status for _, status in rows} == {"sent"}
    keys_in_slack = Counter(m["metadata"]["event_payload"]["key"] for m in stack.slack.all_messages())
    duplicates = {k: n for k, n in keys_in_slack.items() if n > 1}
    assert not duplicates, f"alerted more than once: {duplicates}"
    assert set(keys_in_slack) == {key for key, _ in rows}
    # the kills must have hit the window that matters: a message in flight, reconciled on restart
    assert stack.slack.recorder.matching("/api/conversations.history"), "no kill landed mid-delivery"
