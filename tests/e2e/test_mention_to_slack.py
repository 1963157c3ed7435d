"""A post appears on the sandbox X; the real daemon polls it and one Slack message arrives, exactly once."""
from __future__ import annotations

import aiohttp
from helpers import wait_for
from sqlalchemy import func, select

from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.storage.schema import mentions


async def test_post_to_slack_and_the_next_poll_sends_since_id(stack, db_url) -> None:
    stack.x.add_user("anna_k", "Anna", followers=48_000)
    tid = stack.x.post("anna_k", "@acme someone hacked my account and changed my password, please help now!")
    cfg = parse_config(stack.config(brand="acme", db_url=db_url, x_interval=0.3, slack_min_interval=0), env={})
    daemon = Daemon(cfg)
    await daemon.start()
    try:
        await wait_for(stack, lambda: len(stack.slack.all_messages()) >= 1, what="a Slack message")
        await wait_for(stack,
            lambda: any(r.query.get("since_id") == tid for r in stack.x.recorder.matching("/2/users/")),
            what="a mentions poll with since_id",
        )
        (msg,) = stack.slack.all_messages()
        assert stack.slack.channels()[msg["channel"]] == "care-urgent"  # account takeover is urgent
        blob = str(msg["blocks"])
        assert "hacked my account" in blob and "anna_k" in blob
        assert msg["text"]  # the notification fallback is always sent
        assert msg["metadata"]["event_payload"]["key"] == f"slack.mention:x:{tid}"

        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{daemon.http_port}"
            async with http.get(f"{base}/healthz") as r:
                health = await r.json()
                assert r.status == 200 and health["sources"]["x"]["state"] == "ok"
            async with http.get(f"{base}/metrics") as r:
                text = await r.text()
                assert 'om_mentions_stored_total{source="x"} 1.0' in text
        async with daemon.engine.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(mentions))).scalar_one() == 1
    finally:
        await daemon.stop()
    assert len(stack.slack.all_messages()) == 1  # the search stream saw it too: deduped, not alerted twice


async def test_hostile_text_pings_nobody_and_own_posts_are_never_alerted(stack, tmp_path) -> None:
    stack.x.add_user("troll", "Troll")
    stack.x.post("troll", "<!channel> <!here> <@U123> @acme your service is down and broken <https://evil.example|click>")
    stack.x.post("acme", "We're aware of problems with acme sign-in and are on it")
    cfg = parse_config(
        stack.config(brand="acme", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}", x_interval=0.3, slack_min_interval=0,
                     queries=["acme"]),  # the search finds our own post too: it must be stored, never alerted
        env={},
    )
    daemon = Daemon(cfg)
    await daemon.start()
    try:
        await wait_for(stack, lambda: daemon.pollers["x"].health.stored >= 2, what="both posts stored")
        await wait_for(stack, lambda: len(stack.slack.all_messages()) >= 1, what="the alert")
    finally:
        await daemon.stop()
    (msg,) = stack.slack.all_messages()
    for raw in ("<!channel>", "<!here>", "<@U123>", "<https://evil.example|click>"):
        assert raw not in msg["text"] and raw not in str(msg["blocks"])


async def test_dead_letters_show_in_healthz(stack, tmp_path) -> None:
    stack.x.add_user("anna_k", "Anna")
    stack.x.post("anna_k", "@acme the app is down, nothing works, I can't pay")
    cfg_dict = stack.config(brand="acme", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}", x_interval=0.3,
                            slack_min_interval=0)
    cfg_dict["slack"]["channels"] = {"critical": "#nowhere", "high": "#nowhere", "normal": "#nowhere"}
    daemon = Daemon(parse_config(cfg_dict, env={}))
    await daemon.start()
    try:
        await wait_for(stack, lambda: daemon.dispatcher.stats.dead >= 1, what="a dead letter")
        health = await daemon.health()
    finally:
        await daemon.stop()
    assert health["status"] == "degraded" and health["outbox"]["dead"] == 1
    assert any("dead-lettered" in p for p in health["problems"])
