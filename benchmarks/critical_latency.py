#!/usr/bin/env python3
"""How long a critical alert waits behind a backlog, through the real daemon and the sandbox Slack.

    python benchmarks/critical_latency.py [--backlog 2000] [--criticals 5] [--pg-url postgresql://root@127.0.0.1:5432/test]

A backlog of `--backlog` alerts is queued for one channel (the one critical alerts go to, so they
share its one-message-a-second pace), then critical posts appear on the sandbox X one by one. Printed
per run: how long each critical post took from appearing on X to appearing in Slack (poll, triage,
outbox, delivery), the backlog left when it arrived, and the most messages any channel received in
one second. Runs on SQLite with one daemon and, with --pg-url, on PostgreSQL with one and with two
daemons (pacing shared through the database). The product's promise: under 60 s, whatever the backlog.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from monitor import outbox
from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.logs import setup_logging
from monitor.sandbox.stack import SandboxStack
from monitor.storage.engine import normalise_url

CRITICAL = "@acme smoke is pouring out of the battery you sold me, it caught fire in my kitchen ({})"


async def one_run(db_url: str, *, backlog: int, criticals: int, daemons: int) -> dict[str, object]:
    stack = SandboxStack(slack_rate_per_channel=1.0)  # Slack's own limit, as the real one
    await stack.start()
    stack.x.add_user("acme", "Acme")
    stack.x.add_user("pat", "Pat")
    cfg = stack.config(brand="acme", db_url=db_url, x_interval=2.0, slack_min_interval=1.0)
    cfg["slack"]["channels"] = {"critical": "#care", "high": "#care", "normal": "#care"}
    ds = [Daemon(parse_config(cfg, env={}), serve_http=False) for _ in range(daemons)]
    for d in ds:
        await d.start()
    try:
        async with ds[0].engine.begin() as conn:
            await outbox.enqueue(conn, [outbox.NewEffect(f"backlog:{i}", "slack.message", "#care",
                                                         {"text": f"old news {i}"}) for i in range(backlog)],
                                 now=time.time())
        waits, left = [], []
        for i in range(criticals):
            tid = stack.x.post("pat", CRITICAL.format(i))
            posted = time.time()
            key = f"slack.mention:x:{tid}"
            while not any(m["metadata"]["event_payload"]["key"] == key for m in stack.slack.messages("#care")):
                await stack.activity(0.5)
                if time.time() - posted > 300:
                    raise SystemExit(f"critical alert {i} not delivered after 300 s")
            waits.append(time.time() - posted)
            left.append((await outbox.backlog(ds[0].engine)).pending)
    finally:
        for d in ds:
            await d.stop()
        await stack.stop()
    return {"waits": waits, "backlog_left": left, "max_per_channel_per_s": stack.slack.max_per_channel_per_s}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backlog", type=int, default=2000)
    ap.add_argument("--criticals", type=int, default=5)
    ap.add_argument("--pg-url", default="")
    args = ap.parse_args()
    setup_logging(level="error", json=True)  # the figures, not the daemon's chatter
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    runs: list[tuple[str, str, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        runs.append(("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", 1))
        admin = None
        if args.pg_url:
            name = f"om_bench_{uuid.uuid4().hex[:8]}"
            admin = create_async_engine(normalise_url(args.pg_url), isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            pg = make_url(normalise_url(args.pg_url)).set(database=name).render_as_string(hide_password=False)
            runs += [("postgresql", pg, 1), ("postgresql", pg, 2)]
        try:
            print(f"backlog {args.backlog} alerts in the critical channel; {args.criticals} critical posts, one by one")
            print(f"{'backend':<11} {'daemons':>7} {'median s':>9} {'max s':>7} {'backlog left':>13} {'max/ch/s':>9}")
            for backend, url, n in runs:
                r = await one_run(url, backlog=args.backlog, criticals=args.criticals, daemons=n)
                waits = r["waits"]
                print(f"{backend:<11} {n:>7} {statistics.median(waits):>9.1f} {max(waits):>7.1f} "
                      f"{min(r['backlog_left']):>13} {r['max_per_channel_per_s']:>9}")
        finally:
            if admin is not None:
                async with admin.connect() as conn:
                    await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
