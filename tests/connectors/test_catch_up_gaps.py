"""Nothing lost at the edges: a stream's first read of an empty listing starts from now, so a later
burst is read in full; a catch-up limit that drops posts says so, with the range."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from connectors.reddit import RedditConfig, RedditSource
from connectors.reddit_things import Mark
from connectors.x import XConfig, XSource, snowflake_time
from monitor.sandbox.clock import ManualClock as Clock
from monitor.sandbox.core import Server
from monitor.sandbox.reddit_api import RedditWorld, make_reddit_app
from monitor.sandbox.x_api import MENTIONS_CAP, XWorld, make_x_app

T0 = 1_760_000_000.0


@pytest.fixture
async def reddit() -> AsyncIterator[tuple[RedditWorld, Clock, RedditSource]]:
    clock = Clock(T0)
    world = RedditWorld(clock=clock, rate_limit=None)
    world.add_app("cid", "s3cret")
    world.add_subreddit("acme")
    server = Server(make_reddit_app(world))
    url = await server.start()
    src = RedditSource(RedditConfig(type="reddit", client_id="cid", client_secret="s3cret", api_base=url,
                                    www_base=url, subreddits=["acme"], queries=[], timeout=2, retry_pause=0,
                                    fetch_parents=False), clock=clock)
    yield world, clock, src
    await src.close()
    await server.stop()


async def test_reddit_first_read_of_an_empty_stream_starts_from_now_and_a_burst_is_read_whole(reddit) -> None:
    world, clock, src = reddit
    first = await src.fetch({})
    (cursor,) = first.cursors  # nothing there yet, and still a cursor: "now"
    assert cursor.stream == "sub:acme" and Mark.decode(cursor.value).created <= clock.now
    clock.now += 30
    burst = []
    for i in range(250):
        clock.now += 0.5
        burst.append(world.add_submission("acme", f"acme is down {i}", author=f"user{i}")["name"])
    batch = await src.fetch({cursor.stream: cursor})
    assert sorted(m.external_id for m in batch.mentions) == sorted(burst)  # all 250, not one page of 100
    assert src.gaps == []


async def test_reddit_burst_past_every_page_is_reported_as_a_gap_with_its_range(reddit) -> None:
    world, clock, src = reddit
    (cursor,) = (await src.fetch({})).cursors
    start = Mark.decode(cursor.value).created
    clock.now += 30
    for i in range(700):  # more than max_pages (5) x page_size (100) reach
        clock.now += 0.5
        world.add_submission("acme", f"acme is down {i}", author=f"user{i}")
    cursors = {cursor.stream: cursor}
    gaps = []
    for _ in range(4):  # the walk is cut short, poll after poll, until it moves on and says so
        batch = await src.fetch(cursors)
        cursors.update({c.stream: c for c in batch.cursors})
        gaps += src.gaps
    (gap,) = gaps
    assert gap.stream == "sub:acme" and gap.start == start and start < gap.end < clock.now


async def test_x_mentions_timeline_cap_is_reported_as_a_gap() -> None:
    clock = Clock(T0)
    world = XWorld(clock, bearer_token="b", limits={"mentions": 10_000})
    world.add_user("acme", "Acme")
    world.add_user("carla", "Carla")
    server = Server(make_x_app(world))
    url = await server.start()
    src = XSource(XConfig(type="x", bearer_token="b", api_base=url, handles=["acme"], max_results=100,
                          max_pages=20), clock=clock)
    try:
        (cursor,) = (await src.fetch({})).cursors  # starts from now
        since_at = snowflake_time(cursor.value)
        clock.now += 120
        ids: list[str] = []
        for i in range(MENTIONS_CAP + 150):  # more than the timeline serves
            clock.now += 1
            ids.append(world.post("carla", f"@acme refund please {i}"))
        batch = await src.fetch({cursor.stream: cursor})
    finally:
        await src.close()
        await server.stop()
    got = {m.external_id for m in batch.mentions}
    assert got == set(ids[-MENTIONS_CAP:])
    (gap,) = src.gaps
    oldest_read = min(int(i) for i in got)
    assert gap.stream == "mentions:acme" and gap.start == since_at
    assert gap.end == snowflake_time(str(oldest_read))
    assert batch.cursors[0].value == ids[-1]  # moved on, past what X cannot serve any more
