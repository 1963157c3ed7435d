"""An outage over the sandbox, through the real daemon: a check fails → one incident after the threshold →
the team's Slack thread → each subscriber told once (SMTP, signed webhook) → recovery → all-clear once."""
from __future__ import annotations

import pytest
from helpers import wait_for
from sqlalchemy import select

from monitor import incidents as inc
from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.sandbox.core import Server
from monitor.sandbox.health_world import HealthWorld, make_health_app
from monitor.sandbox.smtp import SandboxSMTP
from monitor.storage.schema import alert_states

SECRET = "hook-secret"


@pytest.fixture
async def world():
    w = HealthWorld(hook_secrets={"ops": SECRET})
    server = Server(make_health_app(w))
    await server.start()
    smtp = SandboxSMTP()
    await smtp.start()
    w.url = server.url  # type: ignore[attr-defined]
    yield w, smtp
    await smtp.stop()
    await server.stop()


def outage_config(stack, world: HealthWorld, smtp: SandboxSMTP, db_url: str) -> dict:
    base = world.url  # type: ignore[attr-defined]
    return stack.config(brand="acme", db_url=db_url, x_interval=30, slack_min_interval=0, overrides={
        "services": [{"name": "checkout", "public_name": "Checkout", "aliases": ["basket"]}],
        "checks": [{"name": "checkout-health", "service": "checkout", "url": f"{base}/svc/checkout/health",
                    "interval": 1, "timeout": 1, "failure_threshold": 2, "success_threshold": 2,
                    "json_path": "status", "json_equals": "ok"}],
        "incidents": {"channel": "#incidents", "status_url": "https://status.acme.test",
                      "cadence": {"first_after": 0, "every": 3600}},
        "email": {"host": "127.0.0.1", "port": smtp.port, "security": "none", "sender": "status@acme.test"},
        "subscribers": [{"email": "ana@example.net", "services": ["checkout"]},
                        {"email": "bo@example.net"},
                        {"webhook": f"{base}/hooks/ops", "secret": SECRET}],
    })


async def test_outage_is_told_once_and_the_all_clear_once(stack, world, db_url) -> None:
    health, smtp = world
    stack.slack.add_channel("incidents")
    daemon = Daemon(parse_config(outage_config(stack, health, smtp, db_url), env={}), serve_http=False)
    await daemon.start()
    try:
        await wait_for(stack, lambda: health.health_requests("checkout") >= 2, what="the check running")
        health.set_mode("checkout", "down")
        await wait_for(stack, lambda: len(smtp.messages) >= 2 and len(health.hooks) >= 1, timeout=30,
                       what="the first notice to both subscribers")
        async with daemon.engine.connect() as conn:
            (opened,) = await inc.list_incidents(conn)
        assert (opened.service, opened.status, opened.public) == ("checkout", "investigating", True)
        services = (await daemon.health())["services"]
        assert services["checks"]["down"] == 1 and services["lease"] == "held"
        assert [i["id"] for i in services["open_incidents"]] == [opened.id]

        health.set_mode("checkout", "up")
        await wait_for(stack, lambda: len(smtp.messages) >= 4 and len(health.hooks) >= 2, timeout=30,
                       what="the all-clear")
        async with daemon.engine.connect() as conn:
            done = await inc.get(conn, opened.id)
            state = (await conn.execute(select(alert_states))).mappings().one()
        assert done is not None and done.status == "resolved"
        assert (state["status"], state["triggered"]) == ("up", False)
        await wait_for(stack, lambda: len(stack.slack.messages("#incidents")) >= 2, what="the Slack thread")
    finally:
        await daemon.stop()

    for who in ("ana@example.net", "bo@example.net"):
        got = smtp.to(who)
        assert [m.message["Subject"] for m in got] == ["Checkout: we are investigating a problem",
                                                       "Resolved: Checkout is working normally"]
        for m in got:
            body = m.body
            assert "https://status.acme.test" in body or "Resolved" in m.message["Subject"]
            assert "checkout-health" not in body and "127.0.0.1" not in body  # nothing internal in public
    hooks = [h.json() for h in health.hooks]
    assert all(h.signed_ok for h in health.hooks)
    assert [h["incident"]["status"] for h in hooks] == ["investigating", "resolved"]
    assert hooks[0]["incident"]["components"][0] == {"name": "Checkout", "status": "partial_outage"}

    slack = stack.slack.messages("#incidents")
    assert len(slack) == 2 and "Incident #1" in str(slack[0]["blocks"]) and "resolved" in slack[1]["text"]
    assert slack[1]["thread_ts"] == slack[0]["ts"]  # one thread per incident
    assert "checkout-health" in str(slack[0]["blocks"])  # the team does see which check failed
