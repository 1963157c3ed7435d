#!/usr/bin/env python3
"""How fast a click on an alert's button is acked and shows in Slack, through the real daemon.

    python benchmarks/slack_clicks.py [--alerts 40] [--db sqlite|postgresql://root@127.0.0.1:5432/test]

The sandbox Slack delivers each click over its Socket Mode websocket to the daemon's bolt app, as
Slack does. Measured per click: click → ack (the claim is committed before the ack, so this is the
database transaction plus bolt) and click → the alert changed in place (the `slack.update` row goes
through the outbox). Then ten teammates press Claim on one alert at the same moment: how many
claims were made (must be one). Figures are printed; nothing is asserted.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.sandbox.stack import SandboxStack
from monitor.storage.engine import normalise_url
from monitor.storage.schema import mentions, ticket_actions


def _card(stack: SandboxStack, channel: str, ts: str) -> str:
    m = next(m for m in stack.slack.messages(channel) if m["ts"] == ts)
    return m["blocks"][1]["elements"][0]["text"]


async def _until(cond, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.005)


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def run(n_alerts: int, db_url: str) -> None:
    stack = SandboxStack(slack_rate_per_channel=None)
    await stack.start()
    stack.x.add_user("acme", "Acme", followers=250_000, verified=True)
    for i in range(n_alerts):
        stack.x.add_user(f"c{i}", f"Customer {i}")
        stack.x.post(f"c{i}", f"@acme I was charged twice for order {i}, please refund me")
    cfg = stack.config(brand="acme", db_url=db_url, x_interval=0.3, slack_min_interval=0)
    cfg["slack"]["storm"] = {"enabled": False}
    daemon = Daemon(parse_config(cfg, env={}))
    await daemon.start()
    try:
        await _until(lambda: stack.slack.socket.connected.is_set() and len(stack.slack.all_messages()) >= n_alerts,
                     timeout=120)
        alerts = [m for m in stack.slack.all_messages() if "mention_claim" in str(m.get("blocks"))][:n_alerts]
        acks, shown = [], []
        for a in alerts[1:]:
            t0 = time.perf_counter()
            env = await stack.slack.socket.click("U0ANN", a["channel"], a["ts"], "mention_claim")
            acks.append(time.perf_counter() - t0)
            assert env.acked
            await _until(lambda: "Claimed by" in _card(stack, a["channel"], a["ts"]))
            shown.append(time.perf_counter() - t0)
        first = alerts[0]
        users = ["U0ANN", "U0BOB", "U0CAT"] * 4
        t0 = time.perf_counter()
        await asyncio.gather(*(stack.slack.socket.click(u, first["channel"], first["ts"], "mention_claim")
                               for u in users[:10]))
        together = time.perf_counter() - t0
        mention_id = int(next(e["value"] for b in first["blocks"] if b["type"] == "actions" for e in b["elements"]))
        async with daemon.engine.connect() as conn:
            ticket = select(mentions.c.ticket_id).where(mentions.c.id == mention_id).scalar_subquery()
            claims = (await conn.execute(select(func.count()).where(
                ticket_actions.c.action == "claim", ticket_actions.c.ticket_id == ticket))).scalar_one()
    finally:
        await daemon.stop()
        await stack.stop()
    backend = make_url(normalise_url(db_url)).get_backend_name()
    print(f"{backend}: {len(acks)} clicks, one after another")
    print(f"  click → ack:              p50 {statistics.median(acks) * 1000:6.1f} ms   "
          f"p95 {_pct(acks, 95) * 1000:6.1f} ms   max {max(acks) * 1000:6.1f} ms")
    print(f"  click → alert updated:    p50 {statistics.median(shown) * 1000:6.1f} ms   "
          f"p95 {_pct(shown, 95) * 1000:6.1f} ms   max {max(shown) * 1000:6.1f} ms")
    print(f"  10 teammates at once on one alert: {claims} claim made, all acked in {together * 1000:.0f} ms")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=40)
    ap.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL URL (a throw-away database is made)")
    args = ap.parse_args()
    if args.db == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            await run(args.alerts, f"sqlite:///{Path(tmp) / 'clicks.db'}")
        return
    admin_url = normalise_url(args.db)
    name = f"om_bench_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        await run(args.alerts, make_url(admin_url).set(database=name).render_as_string(hide_password=False))
    finally:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
