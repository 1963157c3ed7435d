"""A poisoned post through the real daemon, on both backends: the database refuses it, every other post
is stored and reaches Slack, the operators' channel hears of it once, /healthz and /metrics count it;
hostile text (a cut emoji, a NUL, a right-to-left override) reaches Slack storable and neutralised."""
from __future__ import annotations

import aiohttp
from helpers import wait_for
from sqlalchemy import func, select

from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.sandbox.db_faults import refuse_mentions_saying
from monitor.storage.engine import create_engine
from monitor.storage.migrate import upgrade
from monitor.storage.schema import cursors, mentions, quarantine


async def test_a_poisoned_post_is_quarantined_and_the_rest_reaches_slack(stack, db_url) -> None:
    engine = create_engine(db_url)
    await upgrade(engine)
    await refuse_mentions_saying(engine, "POISON")
    await engine.dispose()
    stack.x.add_user("anna_k", "Anna", followers=48_000)
    stack.x.add_user("megastar", "Mega", followers=3_000_000_000)
    stack.x.post("anna_k", "@acme my parcel is two weeks late, where is it?")
    stack.x.post("anna_k", "@acme POISON this one the database refuses")
    stack.x.post("megastar", "@acme your app is down for everyone \ud83d")  # a cut emoji, 3 billion followers
    stack.x.post("anna_k", "@acme refund\x00 for invoice\u202efdp.exe please")  # a NUL and an override
    cfg = parse_config(stack.config(brand="acme", db_url=db_url, x_interval=0.3, slack_min_interval=0), env={})
    daemon = Daemon(cfg)
    await daemon.start()
    poller = daemon.pollers["x"]
    try:
        await wait_for(stack, lambda: poller.health.stored >= 3 and poller.health.quarantined >= 1,
                       what="three stored, one quarantined")
        names = stack.slack.channels()

        def ops() -> list[dict]:
            return [m for m in stack.slack.all_messages() if names.get(m["channel"]) == "care-ops"]

        def alerts() -> list[dict]:
            return [m for m in stack.slack.all_messages() if names.get(m["channel"]) != "care-ops"]

        await wait_for(stack, lambda: len(alerts()) >= 3 and len(ops()) >= 1, what="the alerts and the ops message")
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{daemon.http_port}"
            async with http.get(f"{base}/healthz") as r:
                health = await r.json()
            async with http.get(f"{base}/metrics") as r:
                metrics = await r.text()
        async with daemon.engine.connect() as conn:
            stored = (await conn.execute(select(func.count()).select_from(mentions))).scalar_one()
            (kept,) = (await conn.execute(select(quarantine))).mappings().all()
            cursor_rows = (await conn.execute(select(func.count()).select_from(cursors))).scalar_one()
    finally:
        await daemon.stop()
    assert stored == 3 and cursor_rows >= 1
    assert "POISON" in kept["payload"] and "the text says POISON" in kept["error"]
    assert health["sources"]["x"]["quarantined"] == 1 and health["sources"]["x"]["state"] == "ok"
    assert 'om_quarantined_total{source="x"} 1.0' in metrics
    (told,) = ops()
    assert "quarantined" in told["text"] and "could not be stored" in str(told["blocks"])
    shown = " ".join(str(m["blocks"]) + m["text"] for m in alerts())
    assert "POISON" not in shown and "two weeks late" in shown
    assert "\ufffd" in shown and "\u202e" not in shown and "\x00" not in shown and "fdp.exe" in shown
    assert "3.0B followers" in shown  # the follower count was stored whole
