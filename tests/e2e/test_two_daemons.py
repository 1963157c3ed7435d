"""Two daemons on one database (PostgreSQL in production): no double polling, no double alert."""
from __future__ import annotations

from collections import Counter

from helpers import wait_for
from sqlalchemy import func, select

from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.sandbox.scenario import crash_scenario
from monitor.sandbox.stack import SandboxStack
from monitor.storage.schema import mentions, outbox


async def test_two_daemons_share_the_work_without_doing_it_twice(db_url) -> None:
    stack = SandboxStack(slack_rate_per_channel=None)
    await stack.start()
    ids = stack.load(crash_scenario("acme", n_posts=40, spread_s=3, seed=5))
    cfg = parse_config(stack.config(brand="acme", db_url=db_url, x_interval=0.2, slack_min_interval=0), env={})
    first, second = Daemon(cfg, serve_http=False), Daemon(cfg, serve_http=False)
    await first.start()
    await second.start()
    try:

        async def settled() -> bool:
            async with first.engine.connect() as conn:
                stored = (await conn.execute(select(func.count()).select_from(mentions))).scalar_one()
                pending = (await conn.execute(select(func.count()).where(outbox.c.status != "sent"))).scalar_one()
            return stored == len(ids) and pending == 0

        await wait_for(stack, settled, timeout=30, what="all posts stored and alerted")
        skipped = sum(p.health.skipped_no_lease for d in (first, second) for p in d.pollers.values())
    finally:
        await first.stop()
        await second.stop()
        await stack.stop()

    keys = Counter(m["metadata"]["event_payload"]["key"] for m in stack.slack.all_messages())
    assert keys and max(keys.values()) == 1, "an alert was posted twice"
    assert skipped > 0, "the second daemon never met the first one's lease"


async def test_when_one_daemon_dies_the_other_takes_over_its_polls_and_deliveries(db_url) -> None:
    stack = SandboxStack(slack_rate_per_channel=None)
    await stack.start()
    stack.x.add_user("acme", "Acme")
    stack.x.add_user("anna_k", "Anna")
    cfg_dict = stack.config(brand="acme", db_url=db_url, x_interval=0.2, slack_min_interval=0)
    cfg_dict["failover_seconds"] = 3
    cfg = parse_config(cfg_dict, env={})
    first = Daemon(cfg, serve_http=False)
    await first.start()
    second: Daemon | None = None
    try:
        await wait_for(stack, lambda: first.pollers["x"].health.state == "ok", what="the first daemon polling")
        second = Daemon(cfg, serve_http=False)
        await second.start()
        assert second.hold == 2.0 and second.pollers["x"].lease_ttl == 2.0  # two thirds of failover_seconds
        await wait_for(stack, lambda: second.pollers["x"].health.skipped_no_lease > 0, what="the lease held by the first")
        # the first daemon dies without a word (as with kill -9 on another host): nothing is released
        first.scheduler.shutdown(wait=False)
        first._dispatch_task.cancel()
        tid = stack.x.post("anna_k", "@acme the app is down for everyone here")
        await wait_for(stack, lambda: f"slack.mention:x:{tid}" in {m["metadata"]["event_payload"]["key"]
                                                                   for m in stack.slack.all_messages()},
                       timeout=30, what="the second daemon polling and alerting")
        assert second.pollers["x"].health.stored >= 1
    finally:
        await first.engine.dispose()
        if second is not None:
            await second.stop()
        await stack.stop()
