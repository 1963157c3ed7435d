"""Dispatcher over a real database with a recording handler (our own protocol, not a client library)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

import asyncio
import time

from monitor import lanes, outbox
from monitor.delivery import OutboxItem, PermanentFailure, RetryLater
from monitor.dispatcher import Dispatcher
from monitor.outbox import NewEffect
from monitor.sandbox.clock import ManualClock as Clock
from monitor.storage.schema import outbox as outbox_t


@dataclass
class Handler:
    """Answers from a script: each entry is a result string or an exception to raise."""

    script: list[object] = field(default_factory=list)
    landed: set[str] = field(default_factory=set)  # keys the "outside world" has
    kind: str = "slack.message"
    min_interval: float = 0.0
    delivered: list[str] = field(default_factory=list)
    reconciled: list[str] = field(default_factory=list)
    delivery: asyncio.Event = field(default_factory=asyncio.Event)  # set on each delivery, for tests that wait

    async def deliver(self, item: OutboxItem) -> str:
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, Exception):
            raise step
        self.delivered.append(item.key)
        self.delivery.set()
        self.landed.add(item.key)
        return f"ts-{item.key}"

    async def reconcile(self, item: OutboxItem) -> str | None:
        self.reconciled.append(item.key)
        return f"ts-{item.key}" if item.key in self.landed else None



async def add(engine, *keys: str, now: float = 1000.0, target: str = "#care") -> None:
    async with engine.begin() as conn:
        await outbox.enqueue(conn, [NewEffect(k, "slack.message", target, {"text": k}) for k in keys], now=now)


async def rows(engine) -> dict[str, object]:
    async with engine.connect() as conn:
        return {r.key: r for r in (await conn.execute(select(outbox_t))).all()}


@pytest.mark.parametrize(
    ("script", "status", "attempts", "next_at", "in_doubt", "lane_blocked_until"),
    [
        (["ok"], "sent", 1, 1000.0, False, None),
        # a 5xx or a timeout: an attempt, and it may have landed
        ([RetryLater("503")], "pending", 1, None, True, None),
        ([RetryLater("503", scope="lane")], "pending", 1, None, True, "backoff"),
        # a 429: not an attempt, nothing landed; the whole channel waits as long as Slack says
        ([RetryLater("ratelimited", retry_after=30, counts=False, scope="lane")], "pending", 0, 1000.0, False, 1030.0),
        ([PermanentFailure("channel_not_found")], "dead", 1, 1000.0, False, None),
        ([RuntimeError("bug in handler")], "pending", 1, None, True, None),
    ],
)
async def test_one_delivery_outcome(engine, script, status, attempts, next_at, in_doubt, lane_blocked_until) -> None:
    clock = Clock(1000.0)
    h = Handler(script=list(script))
    await add(engine, "a")
    d = Dispatcher(engine, {"slack.message": h}, worker="w", clock=clock, base_backoff=2)
    assert await d.run_once() == 1
    r = (await rows(engine))["a"]
    assert (r.status, r.attempts, bool(r.in_doubt)) == (status, attempts, in_doubt)
    if next_at is not None:
        assert r.next_attempt_at == next_at
    else:
        assert 1000.0 < r.next_attempt_at <= 1002.0
    blocked = {b.lane: b.until for b in await lanes.blocks(engine)}
    if lane_blocked_until is None:
        assert blocked == {}
    elif lane_blocked_until == "backoff":
        assert 1000.0 < blocked["slack:#care"] <= 1002.0
    else:
        assert blocked == {"slack:#care": lane_blocked_until}


async def test_transient_failures_never_dead_letter_within_the_horizon(engine) -> None:
    clock = Clock(1000.0)
    h = Handler(script=[RetryLater("503")] * 400)
    await add(engine, "a")
    d = Dispatcher(engine, {"slack.message": h}, worker="w", clock=clock, base_backoff=1, max_backoff=300,
                   give_up_after=86_400)
    while clock.now < 1000 + 86_000:  # Slack answers 5xx for almost a day
        await d.run_once()
        clock.now += 301
    r = (await rows(engine))["a"]
    assert r.status == "pending" and r.attempts > 250
    clock.now = 1000 + 86_401
    await d.run_once()
    r = (await rows(engine))["a"]
    assert r.status == "dead" and "gave up after" in r.last_error and "503" in r.last_error
    assert r.in_doubt  # a re-drive reconciles before it sends: a timed-out call may have landed
    assert d.stats.dead == 1


async def test_after_a_long_slack_outage_alerts_go_within_one_probe_interval(engine) -> None:
    """Ten minutes of 5xx on a channel: the lane is tried about every 30 s (not every max_backoff), and
    within 30 s of Slack answering again every waiting alert is sent."""
    clock = Clock(1000.0)
    h = Handler(script=[RetryLater("503", scope="lane")] * 10_000)
    await add(engine, "a1", "a2", "a3")
    d = Dispatcher(engine, {"slack.message": h}, worker="w", clock=clock, base_backoff=2, max_backoff=300,
                   probe_every=30)
    while clock.now < 1000 + 600:
        await d.run_once()
        clock.now += 1
    tries = 10_000 - len(h.script)
    assert 20 <= tries <= 40  # backoff 2, 4, ... then one probe per ≤30 s; never more than one at a time
    h.script.clear()  # Slack is back
    back = clock.now
    while len(h.delivered) < 3:
        await d.run_once()
        clock.now += 1
        assert clock.now - back <= 32, "alerts still waiting more than a probe interval after Slack came back"
    assert sorted(h.delivered) == ["a1", "a2", "a3"]


async def test_a_refused_token_is_never_an_attempt_and_resumes_as_soon_as_it_works(engine) -> None:
    clock = Clock(1000.0)
    token = RetryLater("invalid_auth", retry_after=30, counts=False, scope="service")
    h = Handler(script=[token] * 1000)
    events: list[tuple[str, dict]] = []

    async def on_event(what: str, details: dict) -> None:
        events.append((what, details))

    await add(engine, "a1", "a2", target="#a")
    await add(engine, "b1", target="#b")
    d = Dispatcher(engine, {"slack.message": h}, worker="w", clock=clock, on_event=on_event, announce_after=60)
    for _ in range(20):  # ten minutes of a revoked token
        await d.run_once()
        clock.now += 30
    tries = 1000 - len(h.script)
    assert 20 <= tries <= 21  # one probe per 30 s for the whole service (both channels may meet it first)
    assert all(r.status == "pending" and r.attempts == 0 for r in (await rows(engine)).values())
    h.script.clear()  # the operator fixed the token: the next probe works, within 30 s, no 15-minute timer
    while await d.run_once():
        clock.now += 1
    assert sorted(h.delivered) == ["a1", "a2", "b1"] and len(h.delivered) == 3
    # told once the block had lasted a minute, and when it ended; every event names the block's start,
    # which the daemon uses as the message's key, so each is one Slack message however often it is said
    kinds = [w for w, _ in events]
    assert kinds[-1] == "recovered" and set(kinds) == {"blocked", "recovered"}
    assert {d["since"] for _, d in events} == {1000.0}
    assert {d["lane"] for _, d in events} == {"service:slack"}


async def test_permanent_failures_dead_letter_and_are_reported(engine) -> None:
    events: list[str] = []

    async def on_event(what: str, details: dict) -> None:
        events.append(f"{what}:{details['target']}")

    h = Handler(script=[PermanentFailure("Slack refused chat.postMessage to #gone: channel_not_found")])
    await add(engine, "a", target="#gone")
    d = Dispatcher(engine, {"slack.message": h}, worker="w", clock=Clock(1000.0), on_event=on_event)
    await d.run_once()
    assert (await rows(engine))["a"].status == "dead" and events == ["dead:#gone"]


async def test_row_in_doubt_is_reconciled_not_resent(engine) -> None:
    """The crash window: Slack accepted the message but we died before recording it."""
    clock = Clock(1000.0)
    h = Handler(landed={"a"})
    await add(engine, "a")
    await add(engine, "b", target="#b")
    for lane in ("slack:#care", "slack:#b"):
        it = await lanes.take(engine, lane, "dead-worker", now=1000.0, hold=10)
        assert await outbox.begin_attempt(engine, it, "dead-worker")
    clock.now = 1020.0  # the dead worker's claims lapsed
    d = Dispatcher(engine, {"slack.message": h}, worker="w", clock=clock)
    assert await d.run_once() == 2
    assert sorted(h.reconciled) == ["a", "b"]
    assert h.delivered == ["b"]  # a was found in the channel, only b is sent
    got = await rows(engine)
    assert got["a"].status == got["b"].status == "sent"
    assert d.stats.reconciled == 1 and d.stats.sent == 1


async def test_unknown_kind_is_dead_lettered(engine) -> None:
    async with engine.begin() as conn:
        await outbox.enqueue(conn, [NewEffect("z", "carrier.pigeon", "", {})], now=1000.0)
    d = Dispatcher(engine, {}, worker="w", clock=Clock(1000.0))
    await d.run_once()
    assert (await rows(engine))["z"].status == "dead"


async def _run_until(dispatchers: list[Dispatcher], handler: Handler, done) -> None:  # type: ignore[no-untyped-def]
    """Run the dispatchers until `done()` holds, re-checking it after each delivery the handler makes."""
    tasks = [asyncio.create_task(d.run()) for d in dispatchers]
    try:
        while not done():
            handler.delivery.clear()
            # 60 s is a failure bound for a busy machine, not an expectation (deliveries come within a second)
            await asyncio.wait_for(handler.delivery.wait(), timeout=60)
    finally:
        for d in dispatchers:
            d.stop()
        await asyncio.gather(*tasks)


async def test_paces_each_channel_but_not_across_channels_even_with_two_daemons(engine) -> None:
    sent_at: dict[str, float] = {}

    class Timed(Handler):
        async def deliver(self, item: OutboxItem) -> str:
            sent_at[item.key] = time.time()
            return await super().deliver(item)

    h = Timed(min_interval=0.2)
    await add(engine, "a1", "a2", "a3", target="#a")
    await add(engine, "b1", "b2", target="#b")
    # two daemons on one database share each channel's pace (the lane row), not just one process
    ds = [Dispatcher(engine, {"slack.message": h}, worker=w, clock=time.time, idle_wait=0.05) for w in ("d1", "d2")]
    await _run_until(ds, h, lambda: len(h.delivered) == 5)
    assert [k for k in h.delivered if k.startswith("a")] == ["a1", "a2", "a3"]
    a = [sent_at[k] for k in ("a1", "a2", "a3")]
    assert all(later - earlier >= 0.2 for earlier, later in zip(a, a[1:])), a
    assert h.delivered.index("b1") < h.delivered.index("a2")  # another channel does not wait for #a
    assert len(set(h.delivered)) == 5


async def test_a_critical_alert_overtakes_a_backlog(engine) -> None:
    h = Handler()
    await add(engine, *(f"n{i}" for i in range(300)))
    async with engine.begin() as conn:
        await outbox.enqueue(conn, [NewEffect("crit", "slack.message", "#care", {"text": "!"}, priority=0)], now=1001)
    d = Dispatcher(engine, {"slack.message": h}, worker="w", clock=Clock(1002.0))
    await d.run_once()
    assert h.delivered == ["crit"]
