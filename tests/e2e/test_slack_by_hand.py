"""A newcomer clicks a button in the sandbox Slack's page and sees the alert change (README: the sandbox)."""
from __future__ import annotations

import aiohttp
from helpers import wait_for

from monitor.config import parse_config
from monitor.daemon import Daemon


async def test_a_click_on_the_page_changes_the_alert(stack, db_url) -> None:
    stack.x.add_user("anna_k", "Anna", followers=900)
    stack.x.post("anna_k", "@acme I was charged twice for my order, please refund me")
    daemon = Daemon(parse_config(stack.config(brand="acme", db_url=db_url, x_interval=0.3, slack_min_interval=0),
                                 env={}))
    base = stack.urls["slack"].removesuffix("api/")
    await daemon.start()
    try:
        await wait_for(stack, lambda: len(stack.slack.all_messages()) == 1, what="the alert")
        (alert,) = stack.slack.all_messages()
        async with aiohttp.ClientSession() as http:
            async with http.get(base, params={"user": "U0BOB"}) as resp:
                page = await resp.text()
            assert "the daemon is connected over Socket Mode" in page and "charged twice" in page
            assert "Unclaimed" in page and ">Claim</button>" in page
            form = {"user": "U0BOB", "channel": alert["channel"], "ts": alert["ts"], "action": "mention_claim"}
            async with http.post(base + "click", data=form) as resp:  # the button's form; redirected back
                assert resp.status == 200 and "mention_claim: " in await resp.text()
            await wait_for(stack, lambda: "Claimed by <@U0BOB>" in str(stack.slack.messages(alert["channel"])),
                           what="the alert updated by the daemon")
            async with http.get(base) as resp:
                page = await resp.text()
            assert "Claimed by &lt;@U0BOB&gt;" in page and "(edited)" in page  # what the newcomer sees
    finally:
        await daemon.stop()
