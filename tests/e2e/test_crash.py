"""Kill -9 the daemon again and again, and check nothing was lost or sent twice.

The daemon runs as a real subprocess (`python -m monitor run`) against the sandbox served from this
test process (monitor/sandbox/crash_run.py). Each life gets fresh posts, logs `daemon.started`
(migrated, everything running) and is then killed either the instant Slack receives one of its
messages (Slack answers 150 ms later and keeps the message, so the row is left in doubt and the
next life must find it in the channel history instead of posting it again) or at a random moment
drawn from the seed, in turns. A last life finishes the work and must exit 0 on SIGTERM. Every child is
reaped, whatever happens.

Parameters (environment variables), so the reliability matrix and a person can run it bigger:

    CRASH_KILLS   how many lives are killed (default 2: one mid-delivery, one at a random moment, so
                  the suite stays fast and both kinds of kill are checked every run; the
                  reliability matrix, benchmarks/reliability.py, runs 50 of them per backend)
    CRASH_SEED    the seed for posts and kill moments (default 20261125); a failure prints it
    CRASH_DB_URL  "sqlite" (default: a file in the test's temp dir) or a PostgreSQL server URL,
                  e.g. postgresql://root@127.0.0.1:5432/test: a throw-away database is created
                  on that server for the run and dropped afterwards

    CRASH_KILLS=50 CRASH_DB_URL=$OUTREACH_TEST_PG_URL .venv/bin/python -m pytest -q tests/e2e/test_crash.py
"""
from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from helpers import write_config
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from monitor.sandbox.core import Fault
from monitor.sandbox.crash_run import kill_repeatedly, last_life
from monitor.sandbox.ledger import settled, tally
from monitor.sandbox.stack import SandboxStack
from monitor.storage.engine import create_engine, normalise_url

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("CRASH_KILLS", "2"))
SEED = int(os.environ.get("CRASH_SEED", "20261125"))
DB = os.environ.get("CRASH_DB_URL", "sqlite")


@asynccontextmanager
async def crash_database(tmp_path) -> AsyncIterator[str]:
    if DB == "sqlite":
        yield f"sqlite:///{tmp_path / 'crash.db'}"
        return
    admin_url = normalise_url(DB)
    name = f"om_crash_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(DB).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


async def test_kill_minus_nine_loses_nothing_and_sends_nothing_twice(tmp_path) -> None:
    stack = SandboxStack(slack_rate_per_channel=None)
    await stack.start()
    stack.slack.faults.add("/api/chat.postMessage", Fault("timeout", times=10**9, delay=0.15))
    log = tmp_path / "daemon.log"
    try:
        async with crash_database(tmp_path) as db_url:
            cfg = stack.config(brand="acme", db_url=db_url, x_interval=0.25, slack_min_interval=0)
            cfg["triage"] = {"alert_min_urgency": "low"}  # every life has alerts to deliver
            path = write_config(tmp_path / "crash.yaml", cfg)
            run = await kill_repeatedly(stack, path, kills=KILLS, seed=SEED, log_path=log)
            engine = create_engine(db_url)
            try:
                _, code = await last_life(stack, path, lambda: settled(engine, run.ids), log_path=log)
                counted = await tally(engine, stack.slack, run.ids)
            finally:
                await engine.dispose()
    finally:
        await stack.stop()

    about = f"(CRASH_SEED={SEED}, CRASH_KILLS={KILLS}, daemon log {log})"
    assert code == 0, f"SIGTERM did not end the last life cleanly {about}"
    assert counted.lost == 0 and counted.stored == len(run.ids), f"posts lost: {counted} {about}"
    assert counted.duplicates == 0, f"stored or alerted more than once: {counted} {about}"
    assert counted.alerts > 0 and counted.alerts_delivered == counted.alerts, f"alerts not delivered: {counted} {about}"
    assert counted.outbox_status.keys() == {"sent"}, f"outbox rows left unsent: {counted.outbox_status} {about}"
    # the kills must have hit the window that matters: a message in flight, reconciled on restart
    if KILLS >= 1:
        assert run.mid_delivery > 0, f"no kill landed mid-delivery {about}"
        assert stack.slack.recorder.matching("/api/conversations.history"), f"no in-doubt row was reconciled {about}"
