"""What the budget planner needs from the connectors, over real sockets: asking only some streams,
requests counted per pool, the platform's rate-limit headers, posts read, 429s flagged."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors.base import TransientError
from connectors.reddit import RedditConfig, RedditSource
from connectors.x import XConfig, XSource
from monitor.sandbox.clock import ManualClock as Clock
from monitor.sandbox.core import Fault, Server
from monitor.sandbox.reddit_api import RedditWorld, make_reddit_app
from monitor.sandbox.x_api import XWorld, make_x_app

T0 = 1_764_000_000.0


@pytest.fixture
async def reddit() -> AsyncIterator[tuple[RedditWorld, RedditSource, Clock]]:
    clock = Clock(T0)
    world = RedditWorld(clock=clock)
    world.add_app("cid", "s3cret")
    world.add_user("AcmeCare", "pw")
    world.add_subreddit("acme")
    server = Server(make_reddit_app(world))
    url = await server.start()
    src = RedditSource(RedditConfig(type="reddit", client_id="cid", client_secret="s3cret", username="AcmeCare",
                                    password="pw", api_base=url, www_base=url, queries=["acme"], subreddits=["acme"],
                                    timeout=0.5, retry_pause=0), clock=clock)
    try:
        yield world, src, clock
    finally:
        await src.close()
        await server.stop()


@pytest.fixture
async def x() -> AsyncIterator[tuple[XWorld, XSource, Clock]]:
    clock = Clock(T0)
    world = XWorld(clock)
    world.add_user("acme", "Acme")
    world.add_user("carla", "Carla")
    server = Server(make_x_app(world))
    url = await server.start()
    src = XSource(XConfig(type="x", bearer_token="sandbox-bearer", api_base=url, handles=["acme"],
                          queries=["acme"], max_results=10), clock=clock)
    try:
        yield world, src, clock
    finally:
        await src.close()
        await server.stop()


def paths(world: Any, prefix: str = "/") -> list[str]:
    return [r.path for r in world.recorder.requests if r.path.startswith(prefix)]


async def test_reddit_asks_only_the_streams_it_is_given(reddit) -> None:
    world, src, _ = reddit
    assert src.streams() == ["inbox", "sub:acme", "search:acme"]
    world.add_submission("acme", "acme app is down")
    batch = await src.fetch({}, streams=["sub:acme"])
    assert {c.stream for c in batch.cursors} == {"sub:acme"}
    assert not any(p.startswith(("/message/", "/r/all/search")) for p in paths(world))
    assert {p for p in paths(world) if p.startswith("/r/")} == {"/r/acme/new/", "/r/acme/comments/"}


async def test_reddit_counts_requests_and_reports_its_rate_window(reddit) -> None:
    world, src, _ = reddit
    await src.fetch({})
    api_calls = [p for p in paths(world) if p != "/api/v1/access_token"]
    assert src.requests_by_pool == {"api": len(api_calls)} and src.requests_total == len(api_calls)
    rl = src.rate_limits["api"]
    assert (rl.limit, rl.remaining) == (100, 100 - len(api_calls))
    assert T0 < rl.reset <= T0 + 60  # on the injected clock


async def test_x_counts_requests_per_endpoint_and_posts_read(x) -> None:
    world, src, clock = x
    for i in range(3):
        clock.now += 1
        world.post("carla", f"@acme hello {i}")
    batch = await src.fetch({}, streams=["mentions:acme"])
    assert len(batch.mentions) == 3 and not paths(world, "/2/tweets/search")
    assert src.requests_by_pool == {"users": 1, "mentions": 1}
    assert src.reads_total == 3
    assert src.rate_limits["mentions"].remaining == 449


async def test_x_flags_a_429_as_rate_limited_and_keeps_its_retry_after(x) -> None:
    world, src, _ = x
    world.faults.add("/2/tweets/search/recent", Fault("429-no-reset"))
    with pytest.raises(TransientError) as e:
        await src.fetch({}, streams=["search:acme"])
    assert e.value.rate_limited and e.value.retry_after is None
    assert src.last_errors[0][0] == "search:acme"
