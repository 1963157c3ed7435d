"""Tickets and public replies end to end: a real daemon, the sandbox X and Slack, a teammate approving in Slack.

A complaint becomes a ticket; its reply is held and shown in the ticket's Slack thread; an approver
clicks (twice); the sandbox X records exactly one reply, to the right post; the brand's reply comes
back through the search stream as the ticket's response; the customer's follow-up joins the same
ticket; a billing complaint is moved private. Then the daemon is killed with SIGKILL between an
approval and X's answer, and the next life posts nothing twice.
"""
from __future__ import annotations

import asyncio

import os
import signal

from helpers import wait_for, write_config
from sqlalchemy import select

from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.sandbox.core import Fault, Recorded
from monitor.sandbox.daemon_process import DaemonProcess
from monitor.storage.engine import create_engine
from monitor.storage.schema import mentions, replies, tickets
from outreach import replies as desk

ANN, CAT = "U0ANN", "U0CAT"  # CAT is in the reply-approvers group
BRAND_TOKEN = "acme-brand-user-token"
REPLIES = {"default": "approve", "private_link": "https://acme.example/secure", "status_link": "https://status.acme"}


def config(stack, db_url: str) -> dict:
    stack.x.add_user("acme", token=BRAND_TOKEN)  # the brand account may post through the API
    cfg = stack.config(brand="acme", db_url=db_url, x_interval=0.3, slack_min_interval=0,
                       overrides={"tickets": {"replies": REPLIES}})
    cfg["sources"][0]["user_token"] = BRAND_TOKEN
    return cfg


def ours(stack) -> list:
    brand = stack.x.user_by_username("acme")
    return [t for t in stack.x.tweets.values() if t.author_id == brand.id]


def _buttons(msg: dict) -> list[str]:
    return [e["action_id"] for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def rows(engine, table, *where) -> list:
    async with engine.connect() as conn:
        return (await conn.execute(select(table).where(*where))).all()


async def test_complaint_reply_approved_in_slack_posted_once_follow_up_joins_billing_goes_private(stack, db_url):
    stack.x.add_user("carla", "Carla Diaz", followers=300)
    complaint = stack.x.post("carla", "@acme my parcel never arrived and nobody answers, order 5512. Where is it?")
    daemon = Daemon(parse_config(config(stack, db_url), env={}))
    await daemon.start()
    try:
        await wait_for(stack, lambda: stack.slack.socket.connected.is_set(), what="the cockpit on Socket Mode")
        drafts = lambda: [m for m in stack.slack.all_messages() if "reply_approve" in _buttons(m)]  # noqa: E731
        await wait_for(stack, lambda: bool(drafts()), what="the held reply in Slack")
        (draft,) = drafts()
        (alert,) = [m for m in stack.slack.all_messages() if m["ts"] == draft.get("thread_ts")]
        assert alert["text"].startswith("Normal delivery mention from @carla")  # in the ticket's thread
        assert "5512" not in draft["text"] and "@carla" in draft["text"]
        assert ours(stack) == []  # nothing public before a person approves

        await stack.slack.socket.click(ANN, draft["channel"], draft["ts"], "reply_approve")  # not an approver
        # a double click: two presses from the same view, before its buttons go
        await asyncio.gather(*(stack.slack.socket.click(CAT, draft["channel"], draft["ts"], "reply_approve")
                               for _ in range(2)))
        await wait_for(stack, lambda: bool(ours(stack)), what="our reply on X")
        (reply,) = ours(stack)
        assert reply.reply_to == complaint and reply.text.startswith("@carla ")

        # our reply comes back through the search stream as the ticket's response; carla answers it
        follow = stack.x.post("carla", "thanks, still waiting though", reply_to=reply.id)
        await wait_for(stack, lambda: daemon.pollers["x"].health.stored >= 3, what="reply and follow-up stored")
        by_id = {m.external_id: m for m in await rows(daemon.engine, mentions)}
        assert by_id[complaint].ticket_id == by_id[reply.id].ticket_id == by_id[follow].ticket_id is not None
        (t,) = await rows(daemon.engine, tickets, tickets.c.id == by_id[complaint].ticket_id)
        assert t.reply_ref == reply.id == t.first_response_ref and t.status == "open"  # carla wrote after us
        assert len(await rows(daemon.engine, replies)) == 1 and len(ours(stack)) == 1

        stack.x.add_user("dan", "Dan", followers=40)
        stack.x.post("dan", "@acme you charged my card twice for the same booking, refund please")
        # (the first draft lost its buttons once approved: the cockpit updates it in place)
        await wait_for(stack, lambda: len(drafts()) >= 1, what="the billing reply held in Slack")
        (billing,) = [r for r in await rows(daemon.engine, replies) if r.private]
        assert "https://acme.example/secure" in billing.text
        (bt,) = await rows(daemon.engine, tickets, tickets.c.id == billing.ticket_id)
        assert bt.handoff == "link"
    finally:
        await daemon.stop()
    assert len(ours(stack)) == 1


async def test_sigkill_between_approval_and_the_post_still_posts_once(stack, db_url, tmp_path):
    url = db_url.replace("+aiosqlite", "") if db_url.startswith("sqlite") else db_url
    path = write_config(tmp_path / "c.yaml", config(stack, url))
    stack.x.add_user("erin", "Erin")
    complaint = stack.x.post("erin", "@acme my parcel never arrived, where is it?")
    engine = create_engine(url)
    posts: list[Recorded] = []
    try:
        async with DaemonProcess(path) as first:
            await first.start()
            await wait_for(stack, lambda: any("reply_approve" in _buttons(m) for m in stack.slack.all_messages()),
                           what="the held reply")
            # X will keep the post but answer slowly; the daemon is killed the instant X receives it
            stack.x.faults.add("/2/tweets", Fault("timeout", times=1, delay=1.5))

            def kill_on_post(rec: Recorded) -> None:
                if rec.method == "POST" and rec.path == "/2/tweets" and first.running:
                    posts.append(rec)
                    os.kill(first.pid, signal.SIGKILL)  # from inside X's handling: the post is in flight

            stack.x.recorder.listen_received(kill_on_post)
            (held,) = await rows(engine, replies)
            assert (await desk.approve(engine, held.id, "cli:test")).ok
            await wait_for(stack, lambda: bool(posts), what="the daemon posting the approved reply")
            await first.reap()
        assert len(posts) == 1
        await wait_for(stack, lambda: bool(ours(stack)), what="X keeping the post of the killed daemon")

        async with DaemonProcess(path) as second:
            await second.start()

            async def sent() -> bool:
                return [r.status for r in await rows(engine, replies)] == ["sent"]

            await wait_for(stack, sent, what="the next life settling the reply in doubt", timeout=60)
            (r,) = await rows(engine, replies)
            assert r.ref == ours(stack)[0].id
            await second.terminate()
        assert len(ours(stack)) == 1 and ours(stack)[0].reply_to == complaint
        assert sum(1 for rec in stack.x.recorder.requests if rec.path == "/2/tweets" and rec.method == "POST") == 1
    finally:
        await engine.dispose()
