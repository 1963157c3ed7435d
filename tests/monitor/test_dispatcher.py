"""Dispatcher over a real database with a recording handler (our own protocol, not a client library)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from monitor import outbox
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

    async def deliver(self, item: OutboxItem) -> str:
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, Exception):
            raise step
        self.delivered.append(item.key)
        self.landed.add(item.key)
        return f"ts-{item.key}"

    async def reconcile(self, item: OutboxItem) -> str | None:
        self.reconciled.append(item.key)
        return f"ts-{item.key}" if item.key in self.landed else None

    def pace_key(self, item: OutboxItem) -> str | None:
        return item.target


async def add(engine, *keys: str, now: float = 1000.0, target: str = "#care") -> None:
    async with engine.begin() as conn:
        await outbox.enqueue(conn, [NewEffect(k, "slack.message", target, {"text": k}) for k in keys], now=now)


async def rows(engine) -> dict[str, object]:
    async with engine.connect() as conn:
        return {r.key: r for r in (await conn.execute(select(outbox_t))).all()}


@pytest.mark.parametrize(
    ("script", "status", "attempts", "next_at", "in_doubt"),
    [
        (["ok"], "sent", 1, 1000.0, False),
        ([RetryLater("ratelimited", retry_after=30)], "pending", 1, 1030.0, True),
        ([PermanentFailure("channel_not_found")], "dead", 1, 1000.0, False),
        ([RuntimeError("bug in handler")], "pending", 1, None, True),
    ],
)
async def test_one_delivery_outcome(engine, script, status, attempts, next_at, in_doubt) -> None:
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


async def test_gives_up_after_max_attempts_and_says_why(engine) -> None:
    clock = Clock(1000.0)
    h = Handler(script=[RetryLater("503")] * 5)
    await add(engine, "a")
    d = Dispatcher(engine, {"slack.message": h}, worker="w", clock=clock, max_attempts=3, base_backoff=1)
    for _ in range(3):
        await d.run_once()
        clock.now += 1000
    r = (await rows(engine))["a"]
    assert r.status == "dead" and "gave up after 3 attempts: 503" in r.last_error
    assert d.stats.dead == 1


async def test_row_in_doubt_is_reconciled_not_resent(engine) -> None:
    """The crash window: Slack accepted the message but we died before recording it."""
    clock = Clock(1000.0)
    h = Handler(landed={"a"})
    await add(engine, "a", "b")
    items = await outbox.claim(engine, "dead-worker", now=1000.0, limit=5, hold_for=10)
    for it in items:
        assert await outbox.begin_attempt(engine, it, "dead-worker")
    clock.now = 1020.0  # the dead worker's claim lapsed
    d = Dispatcher(engine, {"slack.message": h}, worker="w", clock=clock)
    assert await d.run_once() == 2
    assert h.reconciled == ["a", "b"]
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


async def test_paces_each_channel_but_not_across_channels(engine) -> None:
    import time

    sent_at: dict[str, float] = {}

    class Timed(Handler):
        async def deliver(self, item: OutboxItem) -> str:
            sent_at[item.key] = time.monotonic()
            return await super().deliver(item)

    h = Timed(min_interval=0.2)
    await add(engine, "a1", "a2", "a3", target="#a")
    await add(engine, "b1", "b2", target="#b")
    d = Dispatcher(engine, {"slack.message": h}, worker="w", clock=time.time)
    assert await d.run_once() == 5
    assert [k for k in h.delivered if k.startswith("a")] == ["a1", "a2", "a3"]
    a = [sent_at[k] for k in ("a1", "a2", "a3")]
    assert all(later - earlier >= 0.2 for earlier, later in zip(a, a[1:])), a
    assert h.delivered.index("b1") < h.delivered.index("a2")  # another channel does not wait for #a
