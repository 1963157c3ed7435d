"""An outage over the sandbox, through the real daemon: a check fails → one incident after the threshold →
the team's Slack thread → each subscriber told once (SMTP, signed webhook) → recovery → all-clear once."""
from __future__ import annotations

import asyncio

import pytest
from helpers import wait_for
from sqlalchemy import select

from monitor import incidents as inc
from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.sandbox.core import Server
from monitor.sandbox.health_world import HealthWorld, make_health_app
from monitor.sandbox.smtp import SandboxSMTP
from monitor.storage.schema import alert_states, replies

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


async def _timeline(daemon: Daemon, incident_id: int) -> list:
    async with daemon.engine.connect() as conn:
        return await inc.timeline(conn, incident_id)


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
    cfg = outage_config(stack, health, smtp, db_url)
    # a chat channel through apprise (its json:// posts to the sandbox's sink), its URL from the environment
    cfg["subscribers"].append({"apprise": "${CHAT_URL}"})
    chat_url = f"json://{health.url.removeprefix('http://')}/hooks/chat"  # type: ignore[attr-defined]
    daemon = Daemon(parse_config(cfg, env={"CHAT_URL": chat_url}), serve_http=False)
    ops = lambda: [h for h in health.hooks if h.name == "ops"]  # noqa: E731
    chat = lambda: [h.json() for h in health.hooks if h.name == "chat"]  # noqa: E731
    await daemon.start()
    try:
        await wait_for(stack, lambda: health.health_requests("checkout") >= 2, what="the check running")
        health.set_mode("checkout", "down")
        await wait_for(stack, lambda: len(smtp.messages) >= 2 and len(ops()) >= 1 and len(chat()) >= 1, timeout=30,
                       what="the first notice to both subscribers")
        async with daemon.engine.connect() as conn:
            (opened,) = await inc.list_incidents(conn)
        assert (opened.service, opened.status, opened.public) == ("checkout", "investigating", True)
        services = (await daemon.health())["services"]
        assert services["checks"]["down"] == 1 and services["lease"] == "held"
        assert [i["id"] for i in services["open_incidents"]] == [opened.id]

        # a teammate acknowledges from the incident's first message (twice: a double click does one thing)
        await wait_for(stack, lambda: stack.slack.socket.connected.is_set(), what="the cockpit on Socket Mode")
        (root,) = stack.slack.messages("#incidents")
        await asyncio.gather(*(stack.slack.socket.click("U0ANN", "#incidents", root["ts"], "incident_ack")
                               for _ in range(2)))

        health.set_mode("checkout", "up")
        await wait_for(stack, lambda: len(smtp.messages) >= 4 and len(ops()) >= 2 and len(chat()) >= 2, timeout=30,
                       what="the all-clear")
        async with daemon.engine.connect() as conn:
            done = await inc.get(conn, opened.id)
            state = (await conn.execute(select(alert_states))).mappings().one()
        assert done is not None and done.status == "resolved"
        assert (state["status"], state["triggered"]) == ("up", False)
        await wait_for(stack, lambda: len(stack.slack.messages("#incidents")) >= 3, what="the Slack thread")
        steps = [(u.status, u.by) for u in await _timeline(daemon, opened.id)]
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
    hooks = [h.json() for h in ops()]
    assert all(h.signed_ok for h in ops())
    assert [c["title"] for c in chat()] == ["Checkout: we are investigating a problem",
                                            "Resolved: Checkout is working normally"]
    assert "https://status.acme.test" in chat()[0]["message"]
    assert [h["incident"]["status"] for h in hooks] == ["investigating", "resolved"]
    assert hooks[0]["incident"]["components"][0] == {"name": "Checkout", "status": "partial_outage"}

    assert steps == [("investigating", "check:checkout-health"), ("investigating", "slack:U0ANN"),
                     ("resolved", "check:checkout-health")]
    slack = stack.slack.messages("#incidents")
    assert len(slack) == 3 and "Incident #1" in str(slack[0]["blocks"]) and "resolved" in slack[2]["text"]
    assert "acknowledged in Slack" in slack[1]["text"]
    assert slack[1]["thread_ts"] == slack[2]["thread_ts"] == slack[0]["ts"]  # one thread per incident
    assert "checkout-health" in str(slack[0]["blocks"])  # the team does see which check failed


BRAND_TOKEN = "acme-brand-user-token"
CAT = "U0CAT"  # in the sandbox's reply-approvers group


def _approve_buttons(stack) -> list[dict]:
    return [m for m in stack.slack.all_messages() if any(
        e.get("action_id") == "reply_approve" for b in m.get("blocks") or [] if b["type"] == "actions"
        for e in b["elements"])]


async def test_complainers_acknowledged_once_with_the_link_and_told_once_when_it_is_over(stack, world, db_url) -> None:
    """Complaints attached to the public incident get one held acknowledgement per person in the incident's
    thread; a teammate approves in Slack; each is posted once with the status link; at the all-clear each
    acknowledged person gets one follow-up, in reply to our acknowledgement."""
    health, smtp = world
    stack.slack.add_channel("incidents")
    stack.x.add_user("acme", token=BRAND_TOKEN)
    for handle, name in (("carla", "Carla Diaz"), ("dev", "Dev")):
        stack.x.add_user(handle, name)
    cfg = outage_config(stack, health, smtp, db_url)
    cfg["sources"][0].update(interval=0.3, user_token=BRAND_TOKEN)
    cfg["tickets"] = {"replies": {"categories": {"outage": "approve"}, "min_interval": 0}}
    daemon = Daemon(parse_config(cfg, env={}), serve_http=False)
    brand = stack.x.user_by_username("acme")
    ours = lambda: sorted((t for t in stack.x.tweets.values() if t.author_id == brand.id),  # noqa: E731
                          key=lambda t: int(t.id))
    await daemon.start()
    try:
        health.set_mode("checkout", "down")
        await wait_for(stack, lambda: len(stack.slack.messages("#incidents")) >= 1, what="the incident opening")
        first = stack.x.post("carla", "@acme checkout is down again, I cannot pay for my order!")
        stack.x.post("carla", "@acme still broken, the checkout keeps failing")  # the same person: one answer
        dev = stack.x.post("dev", "@acme your checkout is broken, payment fails every time")
        await wait_for(stack, lambda: len(_approve_buttons(stack)) == 2, what="two acknowledgements held in Slack")
        assert ours() == []  # nothing public before a person approves
        await wait_for(stack, lambda: stack.slack.socket.connected.is_set(), what="the cockpit on Socket Mode")
        held = _approve_buttons(stack)
        for m in held:
            assert m["thread_ts"] == stack.slack.messages("#incidents")[0]["ts"]  # in the incident's thread
            await stack.slack.socket.click(CAT, m["channel"], m["ts"], "reply_approve")
        await wait_for(stack, lambda: len(ours()) >= 2, what="both acknowledgements on X")
        acks = ours()
        assert sorted(t.reply_to for t in acks) == sorted([first, dev])
        assert all("https://status.acme.test" in t.text for t in acks)
        assert all("checkout-health" not in t.text and "127.0.0.1" not in t.text for t in acks)

        health.set_mode("checkout", "up")
        first_ts = {m["ts"] for m in held}  # approved: their buttons are gone
        later = lambda: [m for m in _approve_buttons(stack) if m["ts"] not in first_ts]  # noqa: E731
        await wait_for(stack, lambda: len(later()) == 2, what="two follow-ups held in Slack")
        for m in later():  # a double click: two presses from the same view, before its buttons go
            await asyncio.gather(*(stack.slack.socket.click(CAT, m["channel"], m["ts"], "reply_approve")
                                   for _ in range(2)))
        await wait_for(stack, lambda: len(ours()) >= 4, what="both follow-ups on X")

        async def recorded() -> list:
            async with daemon.engine.connect() as conn:
                return (await conn.execute(select(replies.c.thread_key, replies.c.status))).all()

        async def all_sent() -> bool:
            return [s for _, s in await recorded()] == ["sent"] * 4

        await wait_for(stack, all_sent, what="the four replies recorded as sent")
        rows = await recorded()

        def heads() -> list[str]:
            return [m["blocks"][0]["text"]["text"].split("\n")[0] for m in stack.slack.messages("#incidents")
                    if m.get("blocks") and "reply " in str(m["blocks"][-1])]

        # after the click, each card still says what it is (not "Reply for ticket #N")
        await wait_for(stack, lambda: sum(h.startswith("*:white_check_mark: ") for h in heads()) == 4,
                       what="the four cards updated after the approvals")
        done = sorted(h.split(" approved by")[0].split(" posted")[0] for h in heads())
        assert done == ["*:white_check_mark: Acknowledgement of @carla for incident #1",
                        "*:white_check_mark: Acknowledgement of @dev for incident #1",
                        "*:white_check_mark: Follow-up to @carla: incident #1 is resolved",
                        "*:white_check_mark: Follow-up to @dev: incident #1 is resolved"], heads()
    finally:
        await daemon.stop()
    follow_ups = ours()[2:]
    assert sorted(t.reply_to for t in follow_ups) == sorted(t.id for t in acks)  # in reply to our acknowledgement
    assert all("fixed" in t.text for t in follow_ups)
    assert len(ours()) == 4
    assert sum(1 for k, _ in rows if k.endswith(":resolved")) == 2
