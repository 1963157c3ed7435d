"""Answering the people complaining about an incident: the pure rules as tables, then the job on both backends
with the real XSource posting to the sandbox X (one acknowledgement per person, one follow-up at the end)."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from monitor import incidents as inc
from monitor.storage.schema import outbox, replies, suppressed_authors
from outreach.incident_replies import (
    IncidentAcks,
    ack_key,
    acknowledged_by,
    after_resolve,
    follow_up_decision,
    follow_up_key,
)
from outreach.policy import ReplyConfig
from outreach.replies import Voice
from replyenv import ReplyEnv, start

STATUS = "https://status.acme.example"


@pytest.mark.parametrize(("status", "action"), [
    ("sent", "follow_up"),
    ("held", "withdraw"),
    ("approved", "withdraw"),
    ("dry_run", "none"),
    ("skipped", "none"),
])
def test_what_becomes_of_an_acknowledgement_when_the_incident_resolves(status: str, action: str) -> None:
    assert after_resolve(status) == action


@pytest.mark.parametrize(("mode", "action"), [
    ("off", "none"), ("dry-run", "dry_run"), ("approve", "hold"), ("auto", "auto"),
])
def test_the_follow_up_follows_the_mode_and_nothing_else(mode: str, action: str) -> None:
    assert follow_up_decision(mode).action == action


@pytest.mark.parametrize(("key", "ack"), [
    (follow_up_key(ack_key(3, "x", "42")), "incident:3:x:42"),
    (ack_key(3, "x", "42"), None),
    ("x:12345", None),  # a thread's own reply
    ("x:resolved:resolved", None),
])
def test_a_follow_up_knows_its_acknowledgement(key: str, ack: str | None) -> None:
    assert acknowledged_by(key) == ack


def config(mode: str) -> ReplyConfig:
    auto = ["outage"] if mode == "auto" else []
    return ReplyConfig(categories={"outage": mode, "delivery": "auto" if auto else "approve"},  # type: ignore[dict-item]
                       auto_allowed=auto + (["delivery"] if auto else []), status_link="https://help.acme")


@pytest.fixture(params=["auto"])
async def env(engine, request) -> AsyncIterator[ReplyEnv]:
    e, server = await start(engine, config(request.param), channels={"high": "#care", "normal": "#care"})
    try:
        yield e
    finally:
        await e.source.close()
        await server.stop()


def acks_of(env: ReplyEnv) -> IncidentAcks:
    voice = Voice(env.cfg, env.templates, brand="Acme", own_handles=frozenset({"acme"}))
    return IncidentAcks(env.engine, voice, STATUS, "#incidents", ["checkout-health", "db1.acme.internal"],
                        clock=env.clock)


async def open_public(env: ReplyEnv, *, public: bool = True) -> int:
    async with env.engine.begin() as conn:
        i, _ = await inc.open_incident(conn, service="checkout", title="Checkout is failing", message="Checkout fails",
                                       by="check:checkout-health", now=env.clock(), slack_channel="#incidents",
                                       public=public, terms=["checkout"])
    return i.id


async def resolve(env: ReplyEnv, iid: int) -> None:
    async with env.engine.begin() as conn:
        await inc.resolve(conn, iid, message="Checkout works again.", by="check", now=env.clock(),
                          slack_channel="#incidents")


async def test_each_complainer_acknowledged_once_then_followed_up_once_in_reply_to_it(env: ReplyEnv) -> None:
    iid = await open_public(env)
    carla = env.say("carla", "outage the checkout is down, cannot pay", name="Carla Diaz")
    again = env.say("carla", "outage checkout still down!!")
    dev = env.say("dev", "outage your checkout keeps failing")
    muted = env.say("mo", "outage checkout broken")
    other = env.say("eve", "delivery my parcel is late")  # not about the incident: answered as usual
    async with env.engine.begin() as conn:
        await conn.execute(suppressed_authors.insert().values(source="x", author_id=muted.author.id, by="U1", at=0))
    r = await env.ingest(carla, again, dev, muted, other)
    assert r.replies["approved"] == 1  # only eve's: the complaints about the incident wait for their acknowledgement

    acks = acks_of(env)
    assert await acks.run() == 2
    assert await acks.run() == 0  # one per person per incident, however often the job runs
    await env.dispatch()
    posted = {t.reply_to: t for t in env.brand_posts()}
    assert set(posted) == {carla.external_id, dev.external_id, other.external_id}
    for m in (carla, dev):
        assert STATUS in posted[m.external_id].text and "checkout-health" not in posted[m.external_id].text
    async with env.engine.connect() as conn:
        drafts = (await conn.execute(select(outbox).where(outbox.c.kind == "slack.message",
                                                          outbox.c.target == "#incidents",
                                                          outbox.c.key.like("slack.reply:%")))).all()
    assert len(drafts) == 2 and {d.thread_of for d in drafts} == {f"incident:{iid}"}

    await resolve(env, iid)
    assert await acks.run() == 2
    assert await acks.run() == 0
    await env.dispatch()
    follow = [t for t in env.brand_posts() if t.reply_to in {posted[carla.external_id].id, posted[dev.external_id].id}]
    assert len(follow) == 2 and all("fixed" in t.text for t in follow)
    assert len(env.brand_posts()) == 5
    assert [r.status for r in await env.replies()] == ["sent"] * 5


async def test_an_internal_incident_is_not_acknowledged_and_its_complaints_are_answered_as_usual(env: ReplyEnv) -> None:
    await open_public(env, public=False)
    m = env.say("carla", "outage checkout is down")
    r = await env.ingest(m)
    assert r.replies["approved"] == 1  # nothing said about an incident nobody confirmed
    assert await acks_of(env).run() == 0


async def test_a_held_acknowledgement_is_withdrawn_when_the_incident_resolves_first(engine) -> None:
    env, server = await start(engine, config("approve"))
    try:
        iid = await open_public(env)
        await env.ingest(env.say("carla", "outage checkout is down"))
        acks = acks_of(env)
        assert await acks.run() == 1
        (held,) = await env.replies()
        assert held.status == "held" and held.thread_key == ack_key(iid, "x", held.author_id)
        await resolve(env, iid)
        assert await acks.run() == 0
        (skipped,) = await env.replies()
        assert skipped.status == "skipped" and acks.stats.withdrawn == 1
        await env.dispatch()
        assert env.brand_posts() == []
    finally:
        await env.source.close()
        await server.stop()


async def test_a_follow_up_in_doubt_after_a_crash_is_found_on_x_not_taken_for_the_acknowledgement(env: ReplyEnv) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import update

    from monitor.models import Author, Mention

    iid = await open_public(env)
    carla = env.say("carla", "outage the checkout is down", name="Carla Diaz")
    await env.ingest(carla)
    acks = acks_of(env)
    await acks.run()
    await env.dispatch()
    (ack_post,) = env.brand_posts()
    await resolve(env, iid)
    await acks.run()
    (_, follow) = await env.replies()
    # the daemon asked X, X posted it, the daemon died before recording it: the row is in doubt
    to = Mention(source="x", external_id=ack_post.id, text="", conversation_id=carla.conversation_id,
                 author=Author(carla.author.id, "carla", "Carla Diaz"), created_at=datetime.now(UTC))
    landed = await env.source.reply(to, follow.text, key="crash")
    async with env.engine.begin() as conn:
        await conn.execute(update(outbox).where(outbox.c.key == f"reply:{follow.thread_key}").values(in_doubt=True))
    await env.dispatch()
    assert len(env.brand_posts()) == 2  # nothing posted again
    (_, recorded) = await env.replies()
    assert recorded.status == "sent" and recorded.ref == landed != ack_post.id
