"""The care team's buttons, end to end: a real daemon, its bolt app on the sandbox's Socket Mode
websocket, teammates clicking in the sandbox, and the alert changing in place."""
from __future__ import annotations

import asyncio
import importlib.util

from helpers import wait_for
from sqlalchemy import func, select

from monitor import switches
from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.storage.schema import feedback, mentions, outbox, ticket_actions

ANN, BOB, CAT = "U0ANN", "U0BOB", "U0CAT"  # CAT is in the reply-approvers group


def _card(msg: dict) -> str:
    return msg["blocks"][1]["elements"][0]["text"]


def _buttons(msg: dict) -> list[str]:
    return [e["action_id"] for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def _daemon_with_one_alert(stack, db_url, text: str, author: str = "anna_k") -> tuple[Daemon, dict]:
    stack.x.add_user(author, author.title(), followers=1_000)
    stack.x.post(author, text)
    daemon = Daemon(parse_config(stack.config(brand="acme", db_url=db_url, x_interval=0.3, slack_min_interval=0),
                                 env={}))
    await daemon.start()
    await wait_for(stack, lambda: stack.slack.socket.connected.is_set(), what="the cockpit on Socket Mode")
    await wait_for(stack, lambda: len(stack.slack.all_messages()) >= 1, what="the alert")
    return daemon, stack.slack.all_messages()[0]


def _message(stack, channel: str, ts: str) -> dict:
    return next(m for m in stack.slack.messages(channel) if m["ts"] == ts)


async def test_claim_relabel_resolve_change_the_alert_in_place(stack, db_url) -> None:
    daemon, alert = await _daemon_with_one_alert(stack, db_url, "@acme I was charged twice for my order, refund me")
    channel, ts = alert["channel"], alert["ts"]
    try:
        assert _card(alert).endswith("1 mention · Unclaimed")  # rendered at delivery with the ticket's state
        assert {"mention_claim", "mention_ack", "mention_resolve", "mention_spam"} <= set(_buttons(alert))

        envelope = await stack.slack.socket.click(ANN, channel, ts, "mention_claim")
        assert envelope.acked and envelope.acked_in_s < 3
        await wait_for(stack, lambda: "Claimed by <@U0ANN>" in _card(_message(stack, channel, ts)),
                       what="the alert showing the claim")
        assert "mention_claim" not in _buttons(_message(stack, channel, ts))
        assert any("You claimed ticket" in r["body"]["text"] for r in stack.slack.socket.responses)

        await stack.slack.socket.click(BOB, channel, ts, "mention_relabel")
        await wait_for(stack, lambda: bool(stack.slack.views), what="the relabel modal")
        (view_id,) = stack.slack.views
        await stack.slack.socket.submit_view(BOB, view_id, {"urgency": {"pick_urgency": "critical"},
                                                            "category": {"pick_category": "outage"}})
        await wait_for(stack, lambda: "Relabelled by <@U0BOB>" in _card(_message(stack, channel, ts)),
                       what="the relabel shown")
        assert _message(stack, channel, ts)["blocks"][0]["text"]["text"].startswith(":rotating_light: Critical · Outage")

        await stack.slack.socket.click(ANN, channel, ts, "mention_resolve")
        await wait_for(stack, lambda: "Resolved" in _card(_message(stack, channel, ts)), what="resolved")
        assert _buttons(_message(stack, channel, ts)) == ["mention_open"]  # only the link to the post is left

        async with daemon.engine.connect() as conn:
            log = [(r.action, r.by) for r in await conn.execute(select(ticket_actions).order_by(ticket_actions.c.id))]
            labels = [(r.urgency, r.category, r.by) for r in await conn.execute(select(feedback))]
        assert log == [("claim", ANN), ("relabel", BOB), ("resolve", ANN)]
        assert labels == [("critical", "outage", BOB)]
    finally:
        await daemon.stop()


async def test_two_teammates_clicking_at_once_make_one_claim(stack, db_url) -> None:
    daemon, alert = await _daemon_with_one_alert(stack, db_url, "@acme my card was charged twice, please help")
    channel, ts = alert["channel"], alert["ts"]
    try:
        acks = await asyncio.gather(*(stack.slack.socket.click(u, channel, ts, "mention_claim")
                                      for u in (ANN, BOB, ANN, BOB)))
        assert all(e.acked for e in acks)
        await wait_for(stack, lambda: len(stack.slack.socket.responses) >= 4, what="a note to each click")
        async with daemon.engine.connect() as conn:
            claims = (await conn.execute(select(ticket_actions.c.by).where(ticket_actions.c.action == "claim"))).all()
        assert len(claims) == 1
        owner = claims[0][0]
        await wait_for(stack, lambda: f"Claimed by <@{owner}>" in _card(_message(stack, channel, ts)),
                       what="the alert showing the one claim")
        notes = sorted(r["body"]["text"] for r in stack.slack.socket.responses)
        assert sum(n.startswith("You claimed") for n in notes) == 1
        assert sum(f"already claimed by <@{owner}>" in n or "You already have" in n for n in notes) == 3
    finally:
        await daemon.stop()
    assert stack.slack.updates == 1  # one effect, one chat.update


async def test_spam_silences_the_author_and_only_approvers_approve(stack, db_url) -> None:
    daemon, alert = await _daemon_with_one_alert(stack, db_url, "@acme the app is down, click my link for free money",
                                                 author="spammy")
    channel, ts = alert["channel"], alert["ts"]
    try:
        await stack.slack.socket.click(ANN, channel, ts, "mention_approve_reply")
        await wait_for(stack, lambda: bool(stack.slack.socket.responses), what="the refusal")
        assert "Only the reply approvers" in stack.slack.socket.responses[-1]["body"]["text"]
        await stack.slack.socket.click(CAT, channel, ts, "mention_approve_reply")
        await wait_for(stack, lambda: len(stack.slack.socket.responses) >= 2, what="the answer to an approver")
        # an approver passes the group check; no reply waits for this ticket (or this build has no replies)
        expected = "No public reply is waiting" if importlib.util.find_spec("outreach.replies") else \
            "Public replies are not set up"
        assert stack.slack.socket.responses[-1]["body"]["text"].startswith(expected)

        await stack.slack.socket.click(BOB, channel, ts, "mention_spam")
        await wait_for(stack, lambda: "as spam" in _card(_message(stack, channel, ts)), what="marked as spam")
        stack.x.post("spammy", "@acme the app is down again!!! free money at my link")
        await wait_for(stack, lambda: daemon.pollers["x"].health.stored >= 2, what="the next post stored")
        async with daemon.engine.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(mentions))).scalar_one() == 2
            # the alert would have been written with the mention, in the same transaction: there is none
            alerts = (await conn.execute(select(func.count()).where(outbox.c.kind == "slack.mention"))).scalar_one()
        assert alerts == 1 and len(stack.slack.all_messages()) == 1
    finally:
        await daemon.stop()


async def test_slash_command_status_and_the_kill_switch(stack, db_url) -> None:
    daemon, _ = await _daemon_with_one_alert(stack, db_url, "@acme my parcel never arrived, where is it?")
    try:
        status = await stack.slack.socket.slash(ANN, "#care", "/outreach", "status")
        assert "Public replies: on" in status.ack["text"] and "Tickets: 1 open, 1 unclaimed" in status.ack["text"]
        assert "Open incidents: 0" in status.ack["text"] and "Source x: ok" in status.ack["text"]
        paused = await stack.slack.socket.slash(ANN, "#care", "/outreach", "pause-replies")
        assert paused.ack["response_type"] == "in_channel" and "paused public replies" in paused.ack["text"]
        assert await switches.replies_paused(daemon.engine)
        refused = await stack.slack.socket.slash(BOB, "#care", "/outreach", "resume-replies")
        assert "Only the reply approvers" in refused.ack["text"] and await switches.replies_paused(daemon.engine)
        await stack.slack.socket.slash(CAT, "#care", "/outreach", "resume-replies")
        assert not await switches.replies_paused(daemon.engine)
        status = await stack.slack.socket.slash(ANN, "#care", "/outreach", "")
        assert "Public replies: on" in status.ack["text"]
        usage = await stack.slack.socket.slash(ANN, "#care", "/outreach", "dance")
        assert usage.ack["text"].startswith("Usage:")
    finally:
        await daemon.stop()
