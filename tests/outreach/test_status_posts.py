"""The incident's public status post on X: the rule as a table, then held, approved and posted once on both
backends through the real XSource and the sandbox X."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from monitor import incidents as inc
from monitor.storage.schema import outbox
from outreach import replies as desk
from outreach.policy import ReplyConfig
from outreach.status_posts import Plan, StatusPosts, plan, status_key
from outreach.templates import Templates
from replyenv import ReplyEnv, start


@pytest.mark.parametrize(("state", "existing", "expected"), [
    ("investigating", {}, Plan(True, ())),
    ("investigating", {"investigating": "held"}, Plan(False, ())),
    ("investigating", {"investigating": "sent"}, Plan(False, ())),
    ("identified", {"investigating": "held"}, Plan(True, ("investigating",))),
    ("identified", {"investigating": "sent"}, Plan(True, ())),
    ("resolved", {"investigating": "sent"}, Plan(True, ())),
    ("resolved", {"investigating": "approved"}, Plan(True, ())),
    ("resolved", {"investigating": "held"}, Plan(False, ("investigating",))),  # nobody heard: no all-clear
    ("resolved", {}, Plan(False, ())),
    ("resolved", {"investigating": "skipped"}, Plan(False, ())),
    ("resolved", {"investigating": "sent", "resolved": "held"}, Plan(False, ())),
])
def test_one_post_per_state_and_an_all_clear_only_after_one_was_posted(state, existing, expected) -> None:
    assert plan(state, existing) == expected


@pytest.fixture
async def env(engine) -> AsyncIterator[ReplyEnv]:
    e, server = await start(engine, ReplyConfig())
    try:
        yield e
    finally:
        await e.source.close()
        await server.stop()


def posts_of(env: ReplyEnv) -> StatusPosts:
    return StatusPosts(env.engine, Templates(forbidden=["checkout-health", "pay-1.acme.internal"]), "x",
                       {"checkout": "Checkout"}, "Acme", "https://status.acme.example", "#incidents", clock=env.clock)


async def test_held_in_the_thread_approved_posted_once_and_the_all_clear_after_it(env: ReplyEnv) -> None:
    async with env.engine.begin() as conn:
        i, _ = await inc.open_incident(conn, service="checkout", title="Checkout fails", by="check:checkout-health",
                                       message="Some payments at checkout fail. We are looking into it.",
                                       note="checkout-health: HTTP 503 from pay-1.acme.internal", now=env.clock(),
                                       slack_channel="#incidents")
    posts = posts_of(env)
    assert await posts.run() == 1 and await posts.run() == 0
    await env.dispatch()
    assert env.brand_posts() == []  # held: never automatic
    (held,) = await env.replies()
    assert held.thread_key == status_key(i.id, "investigating") and held.status == "held"
    assert held.text == ("Checkout: Some payments at checkout fail. We are looking into it. "
                         "Updates: https://status.acme.example")
    async with env.engine.connect() as conn:
        draft = (await conn.execute(select(outbox).where(outbox.c.key == f"slack.reply:{held.id}"))).one()
    assert draft.thread_of == f"incident:{i.id}" and "Status post on X" in draft.payload["text"]

    assert (await desk.approve(env.engine, held.id, "U_CAT", now=env.clock())).ok
    assert (await desk.approve(env.engine, held.id, "U_BOB", now=env.clock())).ok  # twice: posted once
    await env.dispatch()
    (tweet,) = env.brand_posts()
    assert tweet.reply_to is None and tweet.text == held.text

    async with env.engine.begin() as conn:  # an update naming a host is never posted
        await inc.update_incident(conn, i.id, status="identified", message="pay-1.acme.internal is restarting",
                                  by="U_ANN", now=env.clock(), slack_channel="#incidents")
    assert await posts.run() == 0 and posts.unsafe == 1
    async with env.engine.begin() as conn:
        await inc.resolve(conn, i.id, message="Checkout works normally again.", by="check", now=env.clock(),
                          slack_channel="#incidents")
    assert await posts.run() == 1
    (_, clear) = await env.replies()
    assert clear.thread_key == status_key(i.id, "resolved")
    await desk.approve(env.engine, clear.id, "U_CAT", now=env.clock())
    await env.dispatch()
    assert [t.text for t in env.brand_posts()][1].startswith("Resolved: Checkout works normally again.")


async def test_a_post_that_already_landed_is_found_not_posted_twice(env: ReplyEnv) -> None:
    first = await env.source.post_status("Checkout: all fine now.")
    assert await env.source.post_status("Checkout: all fine now.") == first  # X refuses a duplicate: ours is found
    assert len(env.brand_posts()) == 1
