"""Never silently blind, through the real daemon: a failing stream shows in /healthz and /metrics,
a revoked token pauses the source with one operators' message, and SIGHUP resumes it only once
its check passes again."""
from __future__ import annotations

import time

import aiohttp
from helpers import wait_for
from sqlalchemy import insert

from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.sandbox.core import Fault
from monitor.sandbox.stack import X_BEARER, SandboxStack, brand_query
from monitor.storage.schema import mentions

QUERY = brand_query("acme")  # what the sandbox config searches for



def ops_messages(stack: SandboxStack) -> list[str]:
    names = stack.slack.channels()
    return [m["text"] for m in stack.slack.all_messages() if names.get(m["channel"]) == "care-ops"]


async def test_a_failing_stream_shows_in_healthz_and_metrics(stack, tmp_path) -> None:
    stack.x.faults.add("/2/tweets/search/recent", Fault("503", times=10_000))
    stack.x.add_user("anna_k", "Anna")
    stack.x.post("anna_k", "@acme where is my refund")
    cfg = parse_config(stack.config(brand="acme", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}", x_interval=0.3,
                                    slack_min_interval=0), env={})
    daemon = Daemon(cfg)
    await daemon.start()
    try:
        await wait_for(stack, lambda: daemon.pollers["x"].health.stored >= 1, what="the mention stored")
        await wait_for(stack, lambda: daemon.pollers["x"].health.streams.get(f"search:{QUERY}") is not None
                       and daemon.pollers["x"].health.streams[f"search:{QUERY}"].state == "failing",
                       what="the search stream failing")
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{daemon.http_port}"
            async with http.get(f"{base}/healthz") as r:
                health = await r.json()
            async with http.get(f"{base}/metrics") as r:
                text = await r.text()
    finally:
        await daemon.stop()
    x = health["sources"]["x"]
    assert health["status"] == "degraded" and x["state"] == "ok"
    assert any(f"stream search:{QUERY} is failing" in p for p in health["problems"])
    assert x["streams"]["mentions:acme"]["state"] == "ok" and x["streams"][f"search:{QUERY}"]["errors"] >= 1
    assert x["streams"]["mentions:acme"]["pool"] == "mentions" and x["streams"]["mentions:acme"]["priority"] == 0
    assert x["rate_limits"]["mentions"]["limit"] == 450
    assert x["budget"]["pools"]["mentions"]["spent_total"] >= 1 and 0 <= x["budget"]["used"] < 0.1
    assert f'om_stream_up{{source="x",stream="search:{QUERY}"}} 0.0' in text
    assert 'om_stream_up{source="x",stream="mentions:acme"} 1.0' in text
    assert 'om_budget_window_limit{pool="search",source="x"} 450.0' in text


async def test_revoked_token_pauses_once_and_sighup_resumes_only_when_check_passes(stack, tmp_path) -> None:
    cfg = parse_config(stack.config(brand="acme", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}", x_interval=0.3,
                                    slack_min_interval=0), env={})
    daemon = Daemon(cfg)
    await daemon.start()
    poller = daemon.pollers["x"]
    try:
        await wait_for(stack, lambda: poller.health.state == "ok", what="the first poll")
        stack.x.bearer_tokens.clear()
        await wait_for(stack, lambda: poller.health.state == "paused", what="the source paused")
        await wait_for(stack, lambda: len(ops_messages(stack)) >= 1, what="the operators told")
        assert (await daemon.health())["status"] == "down"
        await daemon.reload()  # SIGHUP, token still revoked: the source's check runs again, and fails
        assert len(stack.x.recorder.matching("/2/users/by/username")) >= 2
        assert poller.health.state == "paused"
        stack.x.bearer_tokens.add(X_BEARER)
        daemon.reload()
        await wait_for(stack, lambda: poller.health.state == "ok", what="resumed and polling")
        await wait_for(stack, lambda: len(ops_messages(stack)) >= 2, what="the resume announced")
    finally:
        await daemon.stop()
    texts = ops_messages(stack)
    assert len(texts) == 2 and "paused" in texts[0] and "polling again" in texts[1]


async def test_a_source_that_goes_quiet_is_announced_once_and_its_return_once(stack, tmp_path) -> None:
    cfg_dict = stack.config(brand="acme", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}", x_interval=0.3,
                            slack_min_interval=0)
    cfg_dict["sources"][0].update(quiet_after=3, quiet_min_expected=1)
    daemon = Daemon(parse_config(cfg_dict, env={}))
    await daemon.start()
    try:
        now = time.time()  # the usual: a mention a second until a few seconds ago
        async with daemon.engine.begin() as conn:
            await conn.execute(insert(mentions), [
                {"source": "x", "external_id": f"h{i}", "stream": "mentions:acme", "author_id": "1", "text": "hi",
                 "is_own": False, "created_at": now - 4 - i, "fetched_at": now - 4 - i} for i in range(100)])
        await wait_for(stack, lambda: any("went quiet" in t for t in ops_messages(stack)), what="the quiet alert")
        stack.x.add_user("anna_k", "Anna")
        stack.x.post("anna_k", "@acme is anyone there? my booking vanished")
        await wait_for(stack, lambda: any("again" in t for t in ops_messages(stack)), what="the recovery")
    finally:
        await daemon.stop()
    texts = ops_messages(stack)
    back = next(i for i, t in enumerate(texts) if "again" in t)
    assert [("quiet" in t) for t in texts[:back]] == [True]  # told once, not on every check
