"""The daemon serves the digest pages on their own listener (nothing else there), next to /healthz."""
from __future__ import annotations

import time

import aiohttp
from digest_rows import store

from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.digest.period import Period


async def test_daemon_serves_digests_apart_from_metrics(engine, db_url) -> None:
    await store(engine)
    cfg = parse_config({"brand": {"name": "Acme"}, "storage": {"url": db_url}, "server": {"port": 0},
                        "digests": {"schedules": [], "pages": {"port": 0}, "timezone": "Europe/Paris"}}, env={})
    daemon = Daemon(cfg)
    await daemon.start()
    try:
        assert daemon.digests is not None and daemon.digests.pages_port not in (None, daemon.http_port)
        now = time.time()
        digest_id = await daemon.digests.send_now(Period(now - 7 * 86400, now, cfg.digests.tz), key="adhoc:1")
        pages = f"http://127.0.0.1:{daemon.digests.pages_port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{pages}/digests") as r:
                assert r.status == 200 and f'href="/digests/{digest_id}"' in await r.text()
            async with http.get(f"{pages}/digests/{digest_id}") as r:
                assert r.status == 200 and "<title>Acme — Weekly digest" in await r.text()
            for hidden in ("/metrics", "/healthz"):
                async with http.get(pages + hidden) as r:
                    assert r.status == 404
            async with http.get(f"http://127.0.0.1:{daemon.http_port}/healthz") as r:
                assert "coverage" in await r.json()
    finally:
        await daemon.stop()
