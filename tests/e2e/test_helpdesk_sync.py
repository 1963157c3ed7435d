"""Helpdesk sync end to end: a real daemon, the sandbox X and Slack, and a sandbox Zendesk or Freshdesk.

A complaint becomes one helpdesk ticket carrying our ticket key; the customer's follow-up becomes one
comment; the helpdesk down for a while delays the sync (the outbox lane waits) and then syncs once; a
create whose answer was lost (the helpdesk made the ticket, we never heard) is retried and finds it —
still one ticket; an agent solving it in the helpdesk solves ours.
"""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from helpers import wait_for
from sqlalchemy import select

from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.helpdesk_sync import external_id
from monitor.sandbox.core import Fault, Server
from monitor.sandbox.freshdesk_api import make_freshdesk_app
from monitor.sandbox.helpdesk_world import HelpdeskWorld
from monitor.sandbox.zendesk_api import make_zendesk_app
from monitor.storage.schema import delivery_lanes, outbox, ticket_events, tickets

EMAIL, TOKEN = "agent@acme.test", "helpdesk-token"


@pytest.fixture(params=["zendesk", "freshdesk"])
async def helpdesk(request, stack) -> AsyncIterator[tuple[HelpdeskWorld, dict]]:
    kind = request.param
    world = HelpdeskWorld(kind, username=f"{EMAIL}/token" if kind == "zendesk" else TOKEN,
                          password=TOKEN if kind == "zendesk" else "X")
    server = Server((make_zendesk_app if kind == "zendesk" else make_freshdesk_app)(world))
    await server.start()
    stack.watch(world.recorder)  # the tests wait on the helpdesk's traffic too
    settings = {"kind": kind, "url": server.url, "token": "${HELPDESK_TOKEN}", "status_every_s": 0.3,
                "timeout_s": 2}
    if kind == "zendesk":
        settings["email"] = EMAIL
    yield world, settings
    await server.stop()


def daemon_for(stack, db_url: str, settings: dict) -> Daemon:
    cfg = stack.config(brand="acme", db_url=db_url, x_interval=0.3, slack_min_interval=0,
                       overrides={"tickets": {"replies": {"default": "off"}, "helpdesk": settings}})
    return Daemon(parse_config(cfg, env={"HELPDESK_TOKEN": TOKEN}))


async def ticket_of(engine, post_id: str):
    async with engine.connect() as conn:
        return (await conn.execute(select(tickets).where(tickets.c.root_key == f"x:{post_id}"))).first()


def comments_with(world: HelpdeskWorld, hid: str, text: str) -> list[dict]:
    return [c for c in world.comments.get(int(hid), []) if text in str(c.get("body_text") or c.get("body"))]


async def test_complaint_one_ticket_follow_up_one_comment_solved_there_solves_ours(stack, db_url, helpdesk):
    world, settings = helpdesk
    stack.x.add_user("carla", "Carla Diaz", followers=300)
    complaint = stack.x.post("carla", "@acme my parcel never arrived and nobody answers, order 5512. Where is it?")
    daemon = daemon_for(stack, db_url, settings)
    await daemon.start()
    try:
        key = external_id(f"x:{complaint}")
        await wait_for(stack, lambda: bool(world.with_external_id(key)), what="the helpdesk ticket", timeout=30)

        async def linked() -> bool:
            t = await ticket_of(daemon.engine, complaint)
            return t is not None and t.helpdesk_id is not None

        await wait_for(stack, linked, what="the helpdesk id on our ticket", timeout=30)
        t = await ticket_of(daemon.engine, complaint)
        (made,) = world.with_external_id(key)
        assert t.helpdesk_id == str(made["id"])
        assert "order 5512" in str(made.get("description") or "")  # the team reads the post there

        stack.x.post("carla", "@acme still nothing, this is the third time I ask", reply_to=complaint)
        await wait_for(stack, lambda: bool(comments_with(world, t.helpdesk_id, "third time I ask")),
                       what="the follow-up as a comment", timeout=30)

        world.solve(t.helpdesk_id)  # an agent solves it in the helpdesk

        async def solved() -> bool:
            return (await ticket_of(daemon.engine, complaint)).status == "solved"

        await wait_for(stack, solved, what="our ticket solved from the helpdesk's status", timeout=30)
        async with daemon.engine.connect() as conn:
            events = (await conn.execute(select(ticket_events.c.kind, ticket_events.c.detail)
                                         .where(ticket_events.c.ticket_id == t.id))).all()
        assert ("solved", f"solved in {world.kind}") in events

        # the customer writes again: our ticket reopens, and so does the helpdesk's
        stack.x.post("carla", "@acme no it is NOT solved, nothing arrived", reply_to=complaint)
        await wait_for(stack, lambda: world.tickets[int(t.helpdesk_id)]["status"] in ("open", 2)
                       and bool(comments_with(world, t.helpdesk_id, "NOT solved")),
                       what="the helpdesk ticket opened again, with the new message", timeout=30)
        assert (await ticket_of(daemon.engine, complaint)).status == "open"
    finally:
        await daemon.stop()
    assert len(world.with_external_id(key)) == 1
    assert len(comments_with(world, t.helpdesk_id, "third time I ask")) == 1
    assert not any(c.get("public") for c in world.comments[int(t.helpdesk_id)])  # internal notes only


async def test_outage_delays_the_sync_then_it_lands_once(stack, db_url, helpdesk):
    world, settings = helpdesk
    lift = world.faults.hold("/api/v2/", Fault("503"))
    stack.x.add_user("dan", "Dan")
    complaint = stack.x.post("dan", "@acme you charged my card twice, refund please")
    daemon = daemon_for(stack, db_url, settings)
    await daemon.start()
    try:
        failed = lambda: [r for r in world.recorder.requests if r.status == 503]  # noqa: E731
        await wait_for(stack, lambda: len(failed()) >= 2, what="the sync retrying during the outage", timeout=30)

        async def lane_blocked() -> bool:
            async with daemon.engine.connect() as conn:
                return (await conn.execute(select(delivery_lanes.c.blocked_reason).where(
                    delivery_lanes.c.lane == f"helpdesk:{world.kind}"))).scalar() is not None

        await wait_for(stack, lane_blocked, what="the helpdesk lane blocked", timeout=30)
        assert world.tickets == {}
        async with daemon.engine.connect() as conn:
            (row,) = (await conn.execute(select(outbox).where(outbox.c.kind == "helpdesk.create"))).all()
        assert row.status == "pending" and "503" in row.last_error  # waiting, not given up

        lift()
        key = external_id(f"x:{complaint}")
        await wait_for(stack, lambda: bool(world.with_external_id(key)), what="the ticket after the outage",
                       timeout=30)

        async def sent() -> bool:
            async with daemon.engine.connect() as conn:
                return (await conn.execute(select(outbox.c.status).where(outbox.c.kind == "helpdesk.create"))
                        ).scalar() == "sent"

        await wait_for(stack, sent, what="the create row marked sent", timeout=30)
    finally:
        await daemon.stop()
    assert len(world.with_external_id(key)) == 1 and len(world.tickets) == 1


def is_comment(rec) -> bool:
    return rec.method == "PUT" or rec.path.endswith("/notes")


async def test_answers_lost_after_the_helpdesk_acted_are_retried_without_doubles(stack, db_url, helpdesk):
    """A create and a comment the helpdesk carried out, whose answers never reached us (as after a crash
    between the call and marking the row): retried, they find what the first attempt made."""
    world, settings = helpdesk
    lost: dict[str, object] = {}

    def lose_first_answers(rec) -> None:  # called as each request arrives, before the fault is looked up
        what = "comment" if is_comment(rec) else "create" if rec.method == "POST" else None
        if what and what not in lost:
            lost[what] = rec
            world.faults.add(rec.path, Fault("lost-answer"))

    world.recorder.listen_received(lose_first_answers)
    stack.x.add_user("erin", "Erin")
    complaint = stack.x.post("erin", "@acme my parcel never arrived, where is it?")
    daemon = daemon_for(stack, db_url, settings)
    await daemon.start()
    try:
        async def linked() -> bool:
            t = await ticket_of(daemon.engine, complaint)
            return t is not None and t.helpdesk_id is not None

        await wait_for(stack, linked, what="the retried create linking the ticket", timeout=30)
        stack.x.post("erin", "@acme hello? a week now", reply_to=complaint)

        async def comment_sent() -> bool:
            async with daemon.engine.connect() as conn:
                return (await conn.execute(select(outbox.c.status).where(outbox.c.kind == "helpdesk.comment"))
                        ).scalar() == "sent"

        await wait_for(stack, comment_sent, what="the retried comment settled", timeout=30)
        hid = (await ticket_of(daemon.engine, complaint)).helpdesk_id
    finally:
        await daemon.stop()
    assert set(lost) == {"create", "comment"} and all(r.status == -1 for r in lost.values())  # answers lost…
    assert len(world.with_external_id(external_id(f"x:{complaint}"))) == 1  # …yet one ticket
    assert len(comments_with(world, hid, "a week now")) == 1  # …and one comment
    assert sum(1 for r in world.recorder.requests if r.method == "POST" and not is_comment(r)) == 1


async def test_our_reply_is_one_comment_though_it_also_comes_back_as_the_brands_post(stack, db_url, helpdesk):
    """Our reply is recorded as sent (a comment) and read back from X as the brand's post (a comment):
    both are keyed by the post, so the helpdesk gets it once."""
    from outreach import replies as desk

    world, settings = helpdesk
    stack.x.add_user("acme", token="acme-brand-token")
    cfg = stack.config(brand="acme", db_url=db_url, x_interval=0.3, slack_min_interval=0,
                       overrides={"tickets": {"replies": {"default": "approve"}, "helpdesk": settings}})
    cfg["sources"][0]["user_token"] = "acme-brand-token"
    stack.x.add_user("gus", "Gus")
    complaint = stack.x.post("gus", "@acme my parcel never arrived and nobody answers. Where is it?")
    daemon = Daemon(parse_config(cfg, env={"HELPDESK_TOKEN": TOKEN}))
    await daemon.start()
    try:
        async def held() -> list:
            return await desk.list_replies(daemon.engine, status=("held",))

        await wait_for(stack, lambda: held(), what="the held reply", timeout=30)
        (r,) = await held()
        assert (await desk.approve(daemon.engine, r.id, "cli:test")).ok
        brand = stack.x.user_by_username("acme")
        ours = lambda: [t for t in stack.x.tweets.values() if t.author_id == brand.id]  # noqa: E731
        await wait_for(stack, lambda: bool(ours()), what="our reply on X", timeout=30)
        (reply,) = ours()
        await wait_for(stack, lambda: daemon.pollers["x"].health.stored >= 2, what="our reply read back", timeout=30)
        hid = lambda: world.with_external_id(external_id(f"x:{complaint}"))  # noqa: E731
        await wait_for(stack, lambda: bool(hid()) and bool(comments_with(world, str(hid()[0]["id"]), reply.id)),
                       what="our reply as a comment", timeout=30)

        async def settled() -> bool:
            async with daemon.engine.connect() as conn:
                return {s for (s,) in await conn.execute(select(outbox.c.status).where(
                    outbox.c.kind.like("helpdesk.%")))} == {"sent"}

        await wait_for(stack, settled, what="every helpdesk row sent", timeout=30)
    finally:
        await daemon.stop()
    assert len(comments_with(world, str(hid()[0]["id"]), f"ref helpdesk:note:x:{reply.id}")) == 1
