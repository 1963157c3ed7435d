"""The budget planner, pure: rules as tables, and a simulated day that never overspends (no sleeps)."""
from __future__ import annotations

import random
from collections import deque

import pytest

from connectors.reddit import RedditConfig
from connectors.x import XConfig
from monitor.budget import (
    Pacing,
    Planner,
    Pool,
    StreamSpec,
    Window,
    month_elapsed,
    planner_for,
)

T0 = 1_764_000_000.0  # 2025-11-24, a Monday


def x_like(**pacing: float) -> Planner:
    pools = [Pool("mentions", (Window(450, 900),)), Pool("search", (Window(450, 900),))]
    streams = [StreamSpec("mentions:acme", "mentions", 0, 5), StreamSpec("search:acme", "search", 1, 5),
               StreamSpec("search:broad", "search", 2, 5)]
    return Planner(pools, streams, Pacing(**{"interval": 60, "min_interval": 15, "max_interval": 300, **pacing}))


def test_everything_is_due_at_start_highest_priority_first() -> None:
    p = x_like()
    assert p.due(T0) == ["mentions:acme", "search:acme", "search:broad"]


@pytest.mark.parametrize(
    "items, polls, expected_interval",
    [
        ([3], 1, 30.0),  # found something: twice as fast
        ([3, 3, 3], 3, 15.0),  # ... but never under min_interval
        ([0], 1, 90.0),  # empty: half again as slow
        ([0] * 10, 10, 300.0),  # ... but never over max_interval
        ([0, 0, 5], 3, 67.5),  # flows again: speeds up from where it was
    ],
)
def test_interval_follows_the_flow_of_mentions(items: list[int], polls: int, expected_interval: float) -> None:
    p = x_like()
    now = T0
    for n in items:
        p.polled("mentions:acme", now=now, items=n, cost=1)
        now += 1
    s = p.streams["mentions:acme"]
    assert (s.polls, s.interval) == (polls, expected_interval)
    assert s.next_due == pytest.approx(now - 1 + expected_interval)


@pytest.mark.parametrize(
    "used, expected",
    [
        (0, ["mentions:acme", "search:acme", "search:broad"]),
        # each window keeps 10% headroom; in the search pool, search:broad (one level below
        # search:acme) also leaves 15% of the limit to it, and has to fit behind its worst case
        (450 - 45 - 68 - 10, ["mentions:acme", "search:acme", "search:broad"]),
        (450 - 45 - 68 - 9, ["mentions:acme", "search:acme"]),
        (450 - 45 - 5, ["mentions:acme", "search:acme"]),  # the top of each pool may use all but the headroom
        (450 - 45 - 4, []),  # not even mentions: its worst case (5 pages) would eat into the headroom
    ],
)
def test_priority_keeps_the_last_of_a_window_for_mentions(used: int, expected: list[str]) -> None:
    p = x_like()
    p.spent("search", used, T0 - 10)
    p.spent("mentions", used, T0 - 10)
    assert [s for s in p.due(T0) if s.startswith("search")] == [s for s in expected if s.startswith("search")]
    assert ("mentions:acme" in p.due(T0)) == ("mentions:acme" in expected)


def test_spend_leaves_the_window_after_it_and_the_server_view_is_honoured() -> None:
    p = x_like()
    p.spent("search", 401, T0)
    assert p.due(T0 + 1) == ["mentions:acme"]
    assert p.due(T0 + 901) == ["mentions:acme", "search:acme", "search:broad"]  # the window slid past it
    # the server says another client of this app spent most of the window: believe it until its reset
    p.spent("search", 1, T0 + 901)
    p.observed("search", remaining=4, reset=T0 + 1500, now=T0 + 901)
    assert p.due(T0 + 902) == ["mentions:acme"]
    assert "search:acme" in p.due(T0 + 1501)


def test_a_refused_pool_waits_for_its_reset_and_a_failing_stream_backs_off() -> None:
    p = x_like()
    p.refused("search", retry_after=120, now=T0)
    assert p.due(T0 + 119) == ["mentions:acme"]
    assert p.due(T0 + 120) == ["mentions:acme", "search:acme", "search:broad"]
    waits = []
    for _ in range(5):
        p.failed("mentions:acme", now=T0)
        waits.append(p.streams["mentions:acme"].next_due - T0)
    assert waits == [5, 10, 20, 40, 80]  # never a burst of retries
    p.failed("mentions:acme", now=T0, retry_after=600)
    assert p.streams["mentions:acme"].next_due == T0 + 600


def test_shares_put_a_floor_under_intervals_when_many_streams_share_a_small_pool() -> None:
    pools = [Pool("search", (Window(60, 900),))]  # a small app: 60 searches per 15 minutes
    streams = [StreamSpec(f"search:{i}", "search", i, 2) for i in range(4)]
    p = Planner(pools, streams, Pacing(interval=5, min_interval=1, max_interval=3600))
    floors = [p.floor(s.name) for s in streams]
    assert floors == sorted(floors)  # lower priority, longer floor
    rate = sum(p.streams[s.name].avg_cost / f for s, f in zip(streams, floors))
    assert rate == pytest.approx(60 / 900 * 0.9)  # together exactly the sustainable rate


@pytest.mark.parametrize(
    "reads, day, expected",
    [
        (0, 1, ["mentions:acme", "search:acme", "search:broad"]),
        (4_000, 15, ["mentions:acme", "search:acme", "search:broad"]),  # on pace (14 of 30 days gone)
        (9_000, 15, ["mentions:acme"]),  # ahead of pace: only the handles' mentions
        (10_000, 28, []),  # at the cap: nothing until the month turns
    ],
)
def test_monthly_read_cap(reads: int, day: int, expected: list[str]) -> None:
    p = x_like(monthly_reads=10_000)
    now = 1_761_955_200.0 + (day - 1) * 86400  # 2025-11-01 00:00 UTC
    p.read(reads, now)
    assert p.due(now) == expected
    assert month_elapsed(now) == pytest.approx((day - 1) / 30)


def test_the_read_count_restarts_with_the_month_and_restores_from_storage() -> None:
    p = x_like(monthly_reads=100)
    p.restore_reads("2025-11", 100)
    nov = 1_764_000_000.0
    assert p.due(nov) == []
    assert p.due(1_764_547_200.0) != []  # 2025-12-01: a new month


class FixedWindowServer:
    """What X and Reddit do: count requests per window, answer 429 past the limit."""

    def __init__(self, limit: int, seconds: float, aligned: bool) -> None:
        self.limit, self.seconds, self.aligned = limit, seconds, aligned
        self.start, self.used, self.refused = -1.0, 0, 0

    def request(self, now: float) -> bool:
        start = now // self.seconds * self.seconds if self.aligned else self.start
        if self.aligned and start != self.start or not self.aligned and now >= self.start + self.seconds:
            self.start, self.used = (start if self.aligned else now), 0
        if self.used >= self.limit:
            self.refused += 1
            return False
        self.used += 1
        return True

    def remaining(self) -> int:
        return self.limit - self.used

    def reset(self) -> float:
        return self.start + self.seconds


@pytest.mark.parametrize("platform", ["x", "reddit"])
def test_a_simulated_day_never_exceeds_the_budget(platform: str) -> None:
    """Bursty traffic for 24 h, several streams, random page counts: no window is ever overspent
    (no 429), every stream keeps being polled, and the busy hours do use the budget."""
    rng = random.Random(3)
    if platform == "x":
        cfg = XConfig(type="x", bearer_token="t", handles=["acme", "acme_help"], queries=["acme", "acme OR acne"],
                      interval=10, budget={"mentions_requests": 75, "search_requests": 60})
        streams = ["mentions:acme", "mentions:acme_help", "search:acme", "search:acme OR acne"]
        servers = {"mentions": FixedWindowServer(75, 900, aligned=False),
                   "search": FixedWindowServer(60, 900, aligned=False)}
        pool_of = {s: "mentions" if s.startswith("mentions") else "search" for s in streams}
    else:
        cfg = RedditConfig(type="reddit", client_id="c", client_secret="s", queries=["acme", "acme app"],
                           subreddits=["acme"], interval=2, budget={"queries_per_minute": 100})
        streams = ["inbox", "sub:acme", "search:acme", "search:acme app"]
        servers = {"api": FixedWindowServer(100, 60, aligned=True)}
        pool_of = dict.fromkeys(streams, "api")
    planner = planner_for(cfg, streams)
    log: dict[str, deque[float]] = {pool: deque() for pool in servers}
    worst = {pool: 0 for pool in servers}
    now = T0
    end = T0 + 86400
    while now < end:
        hour = int((now - T0) // 3600)
        busy = 12 <= hour < 18
        for stream in planner.due(now):
            pool = pool_of[stream]
            server = servers[pool]
            pages = rng.choice([1, 1, 1, 2, 3, 5]) if busy else 1
            pages = min(pages, planner.streams[stream].spec.max_cost)
            ok = all(server.request(now) for _ in range(pages))
            assert ok, f"{stream} overspent {pool} at hour {hour}"
            planner.spent(pool, pages, now)
            planner.observed(pool, remaining=server.remaining(), reset=server.reset(), now=now)
            log[pool].extend([now] * pages)
            items = rng.randint(1, 6) if busy and rng.random() < 0.8 else int(rng.random() < 0.05)
            planner.polled(stream, now=now, items=items, cost=pages)
        for pool, times in log.items():  # no sliding window of the pool's tightest size is ever over
            w = min(planner.pools[pool].pool.windows, key=lambda w: w.limit)
            while times and times[0] <= now - w.seconds:
                times.popleft()
            worst[pool] = max(worst[pool], len(times))
            assert len(times) <= w.limit
        now += 1.0
    assert all(s.refused == 0 for s in servers.values())
    for pool in servers:
        w = min(planner.pools[pool].pool.windows, key=lambda w: w.limit)
        assert worst[pool] <= w.limit * 0.9  # the headroom is kept
    assert all(planner.streams[s].polls > 20 for s in streams)  # nobody starves
    for pool in servers:  # the busy hours did use the budget: it is spent, not hoarded
        w = min(planner.pools[pool].pool.windows, key=lambda w: w.limit)
        assert worst[pool] >= w.limit * 0.5
