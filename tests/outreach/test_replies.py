"""Public replies on both backends, posted by the real XSource to the sandbox X: held, approved (twice), sent once."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from monitor.storage.schema import outbox, spend, ticket_events, tickets
from outreach import replies as desk
from outreach.policy import QuietHours, ReplyConfig
from replyenv import ReplyEnv, start

CFG = ReplyConfig(categories={"delivery": "approve", "billing": "approve", "outage": "auto"},
                  auto_allowed=["outage"], private_link="https://acme.example/secure", status_link="https://status.acme")


@pytest.fixture
async def env(engine) -> AsyncIterator[ReplyEnv]:
    e, server = await start(engine, CFG, channels={"high": "#care", "normal": "#care"})
    try:
        yield e
    finally:
        await e.source.close()
        await server.stop()


async def test_held_approved_twice_posted_once_and_counted_as_first_response(env: ReplyEnv) -> None:
    complaint = env.say("carla", "delivery my parcel never came, order 5512 SECRETWORD", name="Carla Diaz")
    r = await env.ingest(complaint)
    assert r.replies["held"] == 1
    (held,) = await env.replies()
    assert held.status == "held" and held.text.startswith("@carla Sorry for the wait, Carla.")
    assert "SECRETWORD" not in held.text and "5512" not in held.text
    async with env.engine.connect() as conn:
        draft = (await conn.execute(select(outbox).where(outbox.c.kind == "slack.message"))).one()
    assert draft.thread_of == f"ticket:{held.ticket_id}" and draft.target == "#care"
    assert [b["action_id"] for b in draft.payload["blocks"][-1]["elements"]] == ["reply_approve", "reply_edit",
                                                                                  "reply_skip"]

    await env.dispatch()
    assert env.brand_posts() == []  # held: nothing goes out before a person says so

    first = await desk.approve(env.engine, held.id, "U_ANN", now=env.clock())
    second = await desk.approve(env.engine, held.id, "U_BOB", now=env.clock())
    assert first.ok and second.ok and "already approved" in second.note
    await env.dispatch()
    await env.dispatch()
    (posted,) = env.brand_posts()
    assert posted.reply_to == complaint.external_id
    (sent,) = await env.replies()
    assert sent.status == "sent" and sent.ref == posted.id
    async with env.engine.connect() as conn:
        t = (await conn.execute(select(tickets).where(tickets.c.id == sent.ticket_id))).one()
        charged = (await conn.execute(select(spend))).all()
        kinds = [k for (k,) in await conn.execute(select(ticket_events.c.kind).order_by(ticket_events.c.id))]
    assert (t.reply_ref, t.first_response_ref, t.status) == (posted.id, posted.id, "pending")
    assert [(c.source, c.pool, c.requests) for c in charged] == [("x", "tweets", 1)]
    assert kinds == ["opened", "reply_held", "reply_approved", "first_response", "reply_sent"]

    # the customer answers in the thread: same ticket, no second reply
    follow = env.say("carla", "delivery still nothing!", reply_to=posted.id)
    await env.ingest(follow)
    await env.dispatch()
    assert len(env.brand_posts()) == 1 and len(await env.replies()) == 1


async def test_billing_moves_private_and_the_ticket_records_it(env: ReplyEnv) -> None:
    await env.ingest(env.say("dan", "billing you charged my card twice, last digits 4242"))
    (r,) = await env.replies()
    assert r.private and "https://acme.example/secure" in r.text and "4242" not in r.text
    async with env.engine.connect() as conn:
        t = (await conn.execute(select(tickets))).one()
    assert t.handoff == "link" and t.handoff_at is not None


async def test_skip_edit_and_dry_run(env: ReplyEnv) -> None:
    await env.ingest(env.say("erin", "delivery where is my parcel"), env.say("finn", "question do you fly to Oslo"))
    held, dry = await env.replies()
    assert (held.status, dry.status) == ("held", "dry_run")
    assert not (await desk.approve(env.engine, dry.id, "U1")).ok  # a dry-run draft is never posted
    assert (await desk.edit(env.engine, held.id, "@erin We're on it — check your DMs.", "U1")).ok
    assert (await desk.skip(env.engine, held.id, "U1")).ok
    assert not (await desk.approve(env.engine, held.id, "U2")).ok
    await env.dispatch()
    assert env.brand_posts() == []


async def test_auto_reply_waits_out_the_pause_and_quiet_hours(env: ReplyEnv) -> None:
    env.paused = True
    await env.ingest(env.say("gus", "outage the app is down"))
    await env.dispatch()
    assert env.brand_posts() == []  # paused: held, not dropped
    env.paused = False
    env.cfg = CFG.model_copy(update={"quiet_hours": QuietHours.model_validate({"start": "13:00", "end": "15:00"})})
    env.clock.advance(120)
    await env.dispatch()
    assert env.brand_posts() == []  # 14:00 UTC is inside the quiet hours
    env.clock.advance(3600)
    await env.dispatch()
    assert len(env.brand_posts()) == 1
    (r,) = await env.replies()
    assert r.status == "sent" and r.decided_by == "policy"


async def test_billing_handed_off_by_direct_message_where_configured(env: ReplyEnv) -> None:
    env.cfg = CFG.model_copy(update={"dm_sources": ["x"]})
    complaint = env.say("hana", "billing I was charged twice, card ending 4242", name="Hana Ito")
    await env.ingest(complaint)
    (r,) = await env.replies()
    assert r.private and "sent you a direct message" in r.text and "4242" not in r.text
    await env.dispatch()
    assert env.world.dms == [] and env.brand_posts() == []  # nothing before approval
    assert (await desk.approve(env.engine, r.id, "U_ANN", now=env.clock())).ok
    await env.dispatch()
    await env.dispatch()
    (dm,) = env.world.dms
    assert dm["to"] == complaint.author.id and dm["from"] == env.brand.id
    assert dm["text"].startswith("Hi Hana, this is Acme") and "4242" not in dm["text"]
    (posted,) = env.brand_posts()
    assert posted.reply_to == complaint.external_id
    async with env.engine.connect() as conn:
        t = (await conn.execute(select(tickets))).one()
        pools = sorted(p for (p,) in await conn.execute(select(spend.c.pool)))
    assert t.handoff == "dm" and pools == ["dm", "tweets"]


async def test_marking_the_author_as_spam_skips_their_waiting_replies(env: ReplyEnv) -> None:
    """Held (waiting for a person) and approved-not-yet-sent (auto) replies are skipped by the spam click;
    someone else's held reply is left alone."""
    from monitor.cockpit import Cockpit
    from monitor.storage.schema import mentions

    env.paused = True  # the auto reply waits in the outbox, approved
    await env.ingest(env.say("ivan", "delivery where is my parcel"), env.say("ivan2", "outage the app is down"),
                     env.say("jo", "delivery my box is lost"))
    held, auto, other = await env.replies()
    assert (held.status, auto.status, other.status) == ("held", "approved", "held")
    async with env.engine.connect() as conn:
        mids = {m.author_username: m.id for m in await conn.execute(select(mentions))}
    cockpit = Cockpit(env.engine, clock=env.clock)
    assert (await cockpit.act("spam", mids["ivan"], "U0ANN")).changed
    assert (await cockpit.act("spam", mids["ivan2"], "U0ANN")).changed
    held, auto, other = await env.replies()
    assert (held.status, auto.status, other.status) == ("skipped", "skipped", "held")
    assert held.reason == "the author was marked as spam" and held.decided_by == "U0ANN"
    assert not (await desk.approve(env.engine, held.id, "U0CAT")).ok  # nothing to approve any more
    env.paused = False
    await env.dispatch()
    assert env.brand_posts() == []
    async with env.engine.connect() as conn:
        dropped = (await conn.execute(select(outbox.c.status).where(outbox.c.kind == desk.KIND))).scalars().all()
        events = (await conn.execute(select(ticket_events.c.detail).where(ticket_events.c.kind == "reply_skipped"))
                  ).scalars().all()
    assert dropped == ["dropped"] and events == ["author marked as spam by U0ANN"] * 2
