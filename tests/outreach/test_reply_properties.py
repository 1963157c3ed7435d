"""Properties of the public voice, for any sequence of posts, approvals, double clicks, pauses, waits and restarts.

Every example runs the real pieces — ingest, the reply desk, the dispatcher (a new one at each
dispatch: a restart keeps nothing but the database) and XSource against the sandbox X — on both
backends, and checks what the sandbox X recorded:
  - never two replies of ours in one thread;
  - never more than the hourly cap in any hour;
  - nothing posted while paused, nothing posted for a dry-run draft;
  - no customer text in anything we posted.
"""
from __future__ import annotations

import asyncio
import os
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from replyenv import start
from sqlalchemy import delete
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from monitor.storage.engine import create_engine, normalise_url
from monitor.storage.migrate import upgrade
from monitor.storage.schema import metadata
from outreach import replies as desk
from outreach.policy import ReplyConfig

CAP = 2  # small, so that random sequences reach it often
CFG = ReplyConfig(categories={"delivery": "approve", "billing": "approve", "outage": "auto"},
                  auto_allowed=["outage"], hourly_cap=CAP, cooldown_hours=0)
PG_URL = os.environ.get("OUTREACH_TEST_PG_URL", "")

marker = st.text(alphabet="bcdfghjklmnp", min_size=6, max_size=8).map(lambda s: "zq" + s)
post = st.tuples(st.just("post"), st.integers(0, 3), st.sampled_from(["delivery", "billing", "outage", "outage",
                                                                     "outage", "question", "praise"]),
                 st.none() | st.integers(0, 30), marker)
dispatch = st.tuples(st.just("dispatch"))
approve = st.tuples(st.just("approve"), st.integers(0, 8), st.integers(1, 3))
step = st.one_of(
    post, post, post, post, dispatch, dispatch, approve, approve, st.tuples(st.just("paused_dispatch")),
    st.tuples(st.just("skip"), st.integers(0, 8)),
    st.tuples(st.just("pause"), st.booleans()),
    st.tuples(st.just("wait"), st.sampled_from([1, 61, 61, 600, 1800, 3600])),
    dispatch,
)


async def scenario(url: str, steps: list[tuple]) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    async with engine.begin() as conn:  # one database for all examples: start each from nothing
        for table in reversed(metadata.sorted_tables):
            if table.name != "alembic_version":
                await conn.execute(delete(table))
    env, server = await start(engine, CFG)
    markers: list[str] = []
    posted: list = []
    try:
        for s in [*steps, ("paused_dispatch",), ("approve_all",), ("pause", False), ("dispatch",), ("wait", 61),
                  ("dispatch",), ("wait", 3600), ("dispatch",)]:
            if s[0] == "post":
                _, who, category, thread, word = s
                to = posted[thread % len(posted)].external_id if thread is not None and posted else None
                # the display name is the platform's, not a first name: it must not reach the reply either
                m = env.say(f"user{who}", f"{category} {word} please", reply_to=to, name=f"{word}_<!channel>")
                markers.append(word)
                posted.append(m)
                await env.ingest(m)
            elif s[0] == "approve":
                rows = await env.replies()
                if rows:
                    for _ in range(s[2]):  # a double (or triple) click
                        await desk.approve(engine, rows[s[1] % len(rows)].id, "U1", now=env.clock())
            elif s[0] == "approve_all":
                for r in await env.replies():
                    await desk.approve(engine, r.id, "U2", now=env.clock())
            elif s[0] == "skip":
                rows = await env.replies()
                if rows:
                    await desk.skip(engine, rows[s[1] % len(rows)].id, "U1", now=env.clock())
            elif s[0] == "pause":
                env.paused = s[1]
            elif s[0] == "paused_dispatch":  # the kill switch thrown while replies are due
                before, was = len(env.brand_posts()), env.paused
                env.paused = True
                await env.dispatch()
                assert len(env.brand_posts()) == before, "posted while paused"
                env.paused = was
            elif s[0] == "wait":
                env.clock.advance(s[1])
            else:
                before = len(env.brand_posts())
                await env.dispatch()
                if env.paused:
                    assert len(env.brand_posts()) == before, "posted while paused"

        ours = env.brand_posts()
        threads = [t.conversation_id for t in ours]
        assert len(threads) == len(set(threads)), "two replies in one thread"
        times = sorted(t.at for t in ours)
        assert all(times[i + CAP] - times[i] >= 3600 for i in range(len(times) - CAP)), "above the hourly cap"
        rows = await env.replies()
        dry = {r.thread_key.split(":", 1)[1] for r in rows if r.status in ("dry_run", "skipped", "held")}
        assert not dry & set(threads), "posted a draft that was never approved"
        for t in ours:
            assert not any(w in t.text for w in markers), "customer text in our reply"
        assert {r.ref for r in rows if r.status == "sent"} == {t.id for t in ours}
    finally:
        await env.source.close()
        await server.stop()
        await engine.dispose()


def _backends() -> list:
    skip = pytest.mark.skip(reason="OUTREACH_TEST_PG_URL is not set")
    return ["sqlite", pytest.param("postgresql", marks=[] if PG_URL else [skip])]


@pytest.mark.parametrize("backend", _backends())
def test_the_public_voice_never_misbehaves(backend: str, tmp_path) -> None:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
        drop = None
    else:
        admin_url = normalise_url(PG_URL)
        name = f"om_prop_{uuid.uuid4().hex[:12]}"

        async def admin(sql: str) -> None:
            eng = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
            async with eng.connect() as conn:
                await conn.exec_driver_sql(sql)
            await eng.dispose()

        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'

    @settings(max_examples=60 if backend == "sqlite" else 20, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(steps=st.lists(step, min_size=10, max_size=30))
    def run(steps: list[tuple]) -> None:
        asyncio.run(scenario(url, steps))

    try:
        run()
    finally:
        if drop:
            asyncio.run(admin(drop))
