"""Reddit catch-up that cannot reach its cursor within max_pages, poll after poll, moves on and says
what may be missing, instead of re-reading the same top pages forever."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from connectors.reddit import CUT_SHORT_LIMIT, RedditConfig, RedditSource
from connectors.reddit_things import Mark
from monitor.sandbox.clock import ManualClock as Clock
from monitor.sandbox.core import Server
from monitor.sandbox.reddit_api import RedditWorld, make_reddit_app

T0 = 1_764_000_000.0


@pytest.fixture
async def setup() -> AsyncIterator[tuple[RedditWorld, RedditSource, Clock]]:
    clock = Clock(T0)
    world = RedditWorld(clock=clock)
    world.add_app("cid", "s3cret")
    world.add_subreddit("acme")
    server = Server(make_reddit_app(world))
    url = await server.start()
    src = RedditSource(RedditConfig(type="reddit", client_id="cid", client_secret="s3cret", api_base=url,
                                    www_base=url, subreddits=["acme"], page_size=2, max_pages=2, timeout=0.5,
                                    retry_pause=0, fetch_parents=False), clock=clock)
    try:
        yield world, src, clock
    finally:
        await src.close()
        await server.stop()


async def test_a_cursor_out_of_reach_poll_after_poll_moves_on_with_a_gap(setup) -> None:
    world, src, clock = setup
    world.add_submission("acme", "seen before")
    cursors = {c.stream: c for c in (await src.fetch({})).cursors}
    start = Mark.decode(cursors["sub:acme"].value).created  # type: ignore[union-attr]
    for i in range(12):  # far more than 2 pages of 2 can reach
        clock.now += 10
        world.add_submission("acme", f"burst {i}")
    for _ in range(CUT_SHORT_LIMIT - 1):
        batch = await src.fetch(cursors)
        assert batch.cursors == [] and src.gaps == []  # the cursor waits: maybe the next poll gets there
    batch = await src.fetch(cursors)
    (moved,) = batch.cursors
    assert Mark.decode(moved.value).created == T0 + 120  # type: ignore[union-attr]
    (gap,) = src.gaps
    assert gap.stream == "sub:acme" and gap.start == start and start < gap.end <= T0 + 120
    cursors = {moved.stream: moved}
    clock.now += 10
    world.add_submission("acme", "after")
    batch = await src.fetch(cursors)
    assert [m.text for m in batch.mentions] == ["after"] and src.gaps == []


async def test_a_cursor_reached_in_between_starts_the_count_again(setup) -> None:
    world, src, clock = setup
    world.add_submission("acme", "seen before")
    cursors = {c.stream: c for c in (await src.fetch({})).cursors}
    for i in range(6):
        clock.now += 10
        world.add_submission("acme", f"burst {i}")
    assert (await src.fetch(cursors)).cursors == []
    src.cfg.max_pages = 10
    reached = await src.fetch(cursors)  # caught up: the cursor moves, no gap
    assert reached.cursors and src.gaps == []
    src.cfg.max_pages = 2
    cursors = {c.stream: c for c in reached.cursors}
    for i in range(6):
        clock.now += 10
        world.add_submission("acme", f"second burst {i}")
    for _ in range(CUT_SHORT_LIMIT - 1):
        assert (await src.fetch(cursors)).cursors == []
    assert (await src.fetch(cursors)).cursors and src.gaps  # a fresh count, not carried over
