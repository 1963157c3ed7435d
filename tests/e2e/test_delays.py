"""A polled delay feed over the sandbox, through the real daemon: each affected customer and each matching
subscriber is told once per delay and per change, however often the feed is polled."""
from __future__ import annotations

import asyncio

from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.sandbox.core import Server
from monitor.sandbox.health_world import HealthWorld, make_health_app
from monitor.sandbox.smtp import SandboxSMTP

DELAY = {"id": "d-7", "service": "delivery", "region": "north", "expected_delay_minutes": 120,
         "message": "Parcels in the north are running late after the storm.",
         "affected": [{"customer": "c-1", "email": "ana@example.net", "order": "A-100"},
                      {"customer": "c-2", "email": "bo@example.net", "order": "A-101"}]}


async def test_polled_delay_feed_tells_each_customer_once_per_version(stack, db_url) -> None:
    world = HealthWorld()
    world.delays = {"delays": [DELAY]}
    server = Server(make_health_app(world))
    await server.start()
    smtp = SandboxSMTP()
    await smtp.start()
    stack.watch(smtp)  # the waits below re-check on each accepted e-mail
    cfg = stack.config(brand="acme", db_url=db_url, x_interval=30, slack_min_interval=0, overrides={
        "services": [{"name": "delivery", "public_name": "Delivery"}],
        "delay_feeds": [{"name": "parcels", "url": f"{server.url}/delays", "interval": 5}],
        "email": {"host": "127.0.0.1", "port": smtp.port, "security": "none", "sender": "care@acme.test"},
        "subscribers": [{"email": "north-ops@acme.test", "services": ["delivery"], "regions": ["north"]},
                        {"email": "south-ops@acme.test", "regions": ["south"]}],
    })
    daemon = Daemon(parse_config(cfg, env={}), serve_http=False)
    await daemon.start()
    polled = lambda: len(world.recorder.matching("/delays"))  # noqa: E731
    assert daemon.health_runner is not None
    # the feed's own job, run now as well as on its interval: more polls than waiting would give, and
    # some of them beside the scheduled one (the notices' keys must hold either way)
    (poll,) = [fn for name, fn, _ in daemon.health_runner.extra_jobs if name == "delays:parcels"]
    try:
        await stack.wait_until(lambda: len(smtp.messages) >= 3, timeout=60, what="the first delay notices")
        start = polled()
        await asyncio.gather(poll(), poll())
        await poll()
        assert polled() >= start + 3
        world.delays = {"delays": [{**DELAY, "eta": "2026-12-01T18:00:00Z", "expected_delay_minutes": None}]}
        await poll()
        await stack.wait_until(lambda: len(smtp.messages) >= 6, timeout=60, what="the updated ETA")
        await asyncio.gather(poll(), poll())
    finally:
        await daemon.stop()
        await smtp.stop()
        await server.stop()
    got = sorted((m.rcpt_tos[0], m.message["Subject"]) for m in smtp.messages)
    assert got == sorted([("ana@example.net", "Delivery is running late in north"),
                          ("bo@example.net", "Delivery is running late in north"),
                          ("north-ops@acme.test", "Delivery is running late in north")] * 2)
    ana = [m.body for m in smtp.to("ana@example.net")]
    assert "order A-100" in ana[0] and "about 120 minutes" in ana[0] and "18:00 UTC" in ana[1]
