"""Two daemons, both connected over Socket Mode: Slack hands clicks to either; one claim is made."""
from __future__ import annotations

import asyncio

from helpers import wait_for
from sqlalchemy import select

from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.sandbox.stack import SandboxStack
from monitor.storage.schema import ticket_actions


async def test_clicks_spread_over_two_daemons_make_one_claim(db_url) -> None:
    stack = SandboxStack(slack_rate_per_channel=None)
    await stack.start()
    stack.x.add_user("acme", "Acme", followers=250_000, verified=True)
    stack.x.add_user("anna_k", "Anna")
    stack.x.post("anna_k", "@acme I was charged twice for my order, please refund me")
    cfg = parse_config(stack.config(brand="acme", db_url=db_url, x_interval=0.2, slack_min_interval=0), env={})
    first, second = Daemon(cfg, serve_http=False), Daemon(cfg, serve_http=False)
    await first.start()
    await second.start()
    try:
        await wait_for(stack, lambda: stack.slack.socket.connections == 2 and len(stack.slack.all_messages()) == 1,
                       what="both daemons connected and the alert posted")
        (alert,) = stack.slack.all_messages()
        envelopes = await asyncio.gather(*(stack.slack.socket.click(u, alert["channel"], alert["ts"], "mention_claim")
                                           for u in ("U0ANN", "U0BOB") * 3))
        assert all(e.acked for e in envelopes) and {e.connection for e in envelopes} == {0, 1}
        async with first.engine.connect() as conn:
            claims = (await conn.execute(select(ticket_actions.c.by).where(ticket_actions.c.action == "claim"))).all()
        assert len(claims) == 1
        owner = claims[0][0]
        await wait_for(stack, lambda: f"Claimed by <@{owner}>" in str(stack.slack.all_messages()[0]["blocks"]),
                       what="the alert updated once")
    finally:
        await first.stop()
        await second.stop()
        await stack.stop()
    assert stack.slack.updates == 1
