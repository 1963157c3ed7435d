"""Approving a waiting public reply from Slack: only the approvers group, and a double click posts once."""
from __future__ import annotations

import asyncio

import pytest
from helpers import wait_for
from sqlalchemy import func, select
from test_slack_buttons import CAT, _daemon_with_one_alert, _message

from alerts.cockpit_messages import reply_message
from monitor.storage.schema import mentions, outbox, replies

replies_api = pytest.importorskip("outreach.replies", reason="public replies (outreach/replies.py) are not in this build")


async def test_only_approvers_approve_and_a_double_click_posts_once(stack, db_url) -> None:
    daemon, alert = await _daemon_with_one_alert(stack, db_url, "@acme my parcel is a week late, where is it?")
    channel, ts = alert["channel"], alert["ts"]
    try:
        async with daemon.engine.begin() as conn:
            m = (await conn.execute(select(mentions))).one()
            reply_id = (await conn.execute(replies.insert().values(
                thread_key=f"x:{m.conversation_id or m.external_id}", ticket_id=m.ticket_id, mention_id=m.id,
                source="x", author_id=m.author_id, category="delivery", lang="en", policy="approve", status="held",
                private=False, text="So sorry it is late! We are checking where it is.", created_at=1.0,
            ).returning(replies.c.id))).scalar_one()
        # the reply's message in the ticket's thread, as outreach posts it
        held = reply_message(reply_id, m.ticket_id, "So sorry it is late! We are checking where it is.", "held", None)
        posted = await daemon.cockpit.client.chat_postMessage(channel=channel, thread_ts=ts, **held)

        await stack.slack.socket.click("U0BOB", channel, posted["ts"], "reply_approve")
        await wait_for(stack, lambda: bool(stack.slack.socket.responses), what="the refusal")
        assert "Only the reply approvers" in stack.slack.socket.responses[-1]["body"]["text"]
        assert (await replies_api.get(daemon.engine, reply_id)).status == "held"

        await asyncio.gather(*(stack.slack.socket.click(CAT, channel, posted["ts"], "reply_approve") for _ in range(2)))
        r = await replies_api.get(daemon.engine, reply_id)
        assert (r.status, r.decided_by) == ("approved", CAT)
        async with daemon.engine.connect() as conn:
            queued = (await conn.execute(select(func.count()).where(
                outbox.c.key == replies_api.outbox_key(r.thread_key)))).scalar_one()
        assert queued == 1  # two approvals, one public reply
        await wait_for(stack, lambda: "approved by <@U0CAT>" in str(_message(stack, channel, posted["ts"])["blocks"]),
                       what="the reply's message updated")
        assert not [b for b in _message(stack, channel, posted["ts"])["blocks"] if b["type"] == "actions"]
    finally:
        await daemon.stop()
