"""Outbox and leases on SQLite and PostgreSQL: idempotent enqueue, exclusive claims, backoff."""
from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import select

from monitor import lanes, leases, outbox, slack_registry
from monitor.delivery import Posted
from monitor.outbox import NewEffect
from monitor.storage.schema import outbox as outbox_t


def effect(i: int) -> NewEffect:
    return NewEffect(key=f"k{i}", kind="slack.message", target="#care", payload={"text": f"m{i}"})


async def test_enqueue_is_idempotent_on_key(engine) -> None:
    async with engine.begin() as conn:
        assert await outbox.enqueue(conn, [effect(1), effect(2)], now=100.0) == 2
    async with engine.begin() as conn:
        assert await outbox.enqueue(conn, [effect(2), effect(3)], now=101.0) == 1
    b = await outbox.backlog(engine)
    assert (b.pending, b.dead, b.oldest_pending_at) == (3, 0, 100.0)


def fx(key: str, target: str = "#care", **kw) -> NewEffect:  # type: ignore[no-untyped-def]
    return NewEffect(key=key, kind="slack.message", target=target, payload={"text": key}, **kw)


async def put(engine, *effects: NewEffect, now: float = 0.0) -> None:  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        await outbox.enqueue(conn, effects, now=now)


async def test_a_lane_sends_one_row_at_a_time_and_lanes_do_not_wait_for_each_other(engine) -> None:
    await put(engine, fx("a1"), fx("a2"), fx("b1", target="#b"))
    assert await lanes.ready(engine, now=1.0) == ["slack:#b", "slack:#care"]
    a1 = await lanes.take(engine, "slack:#care", "w", now=1.0, hold=20)
    assert a1 is not None and a1.key == "a1" and a1.lane == "slack:#care"
    # the lane is reserved while a1 is delivered, by this daemon and every other
    assert await lanes.take(engine, "slack:#care", "other", now=1.0, hold=20) is None
    assert await lanes.ready(engine, now=1.0) == ["slack:#b"]
    b1 = await lanes.take(engine, "slack:#b", "other", now=1.0, hold=20)
    assert b1 is not None and b1.key == "b1"
    # sent at 2.0 with a one-second pace: the lane's next row may go at 3.0, whoever sends it
    await outbox.mark_sent(engine, a1, "w", result="1.1", now=2.0, next_at=3.0)
    assert await lanes.take(engine, "slack:#care", "other", now=2.5, hold=20) is None
    a2 = await lanes.take(engine, "slack:#care", "other", now=3.0, hold=20)
    assert a2 is not None and a2.key == "a2"


async def test_critical_goes_first_in_its_lane_whatever_the_backlog(engine) -> None:
    await put(engine, *(fx(f"n{i}") for i in range(200)))
    await put(engine, fx("low", priority=3), fx("crit", priority=0), fx("high", priority=1), now=5.0)
    order = []
    for t in range(4):
        it = await lanes.take(engine, "slack:#care", "w", now=10.0 + t, hold=20)
        order.append(it.key)
        await outbox.mark_sent(engine, it, "w", result="x", now=10.0 + t, next_at=10.0 + t)
    assert order == ["crit", "high", "n0", "n1"]


async def test_a_dead_workers_claim_and_lane_lapse_after_the_hold(engine) -> None:
    await put(engine, fx("a"))
    taken = await lanes.take(engine, "slack:#care", "dead", now=1.0, hold=20)
    assert await lanes.take(engine, "slack:#care", "w", now=20.0, hold=20) is None
    again = await lanes.take(engine, "slack:#care", "w", now=21.5, hold=20)
    assert again is not None and again.id == taken.id


async def test_concurrent_takers_never_share_a_row(engine) -> None:
    await put(engine, *(fx(f"k{i}", target=f"#c{i % 6}") for i in range(60)))

    async def worker(name: str) -> list[int]:
        got: list[int] = []
        for _ in range(40):
            for lane in await lanes.ready(engine, now=1.0):
                it = await lanes.take(engine, lane, name, now=1.0, hold=30)
                if it is not None:
                    got.append(it.id)
                    await outbox.mark_sent(engine, it, name, result="x", now=1.0, next_at=1.0)
        return got

    results = await asyncio.gather(*(worker(f"w{i}") for i in range(4)))
    flat = [i for r in results for i in r]
    assert len(flat) == 60 and len(set(flat)) == 60


async def test_a_reply_waits_for_its_thread_and_is_posted_under_it(engine) -> None:
    await put(engine, *(fx(f"n{i}") for i in range(5)), fx("parent", about="ticket:7"))
    await put(engine, fx("reply", about="ticket:7", thread_of="ticket:7", priority=0), now=1.0)
    # the critical reply lifted its parent above the backlog; the reply itself waits for the parent
    first = await lanes.take(engine, "slack:#care", "w", now=2.0, hold=20)
    assert first.key == "parent"
    assert await lanes.take(engine, "slack:#care", "w2", now=2.0, hold=20) is None  # lane busy
    await outbox.mark_sent(engine, first, "w", result="100.1", now=2.0, next_at=2.0,
                           posted=Posted("C0CARE", "100.1"))
    reply = await lanes.take(engine, "slack:#care", "w", now=2.0, hold=20)
    assert reply.key == "reply" and reply.parent == Posted("C0CARE", "100.1")
    async with engine.connect() as conn:
        (msg,) = await slack_registry.messages_about(conn, "ticket:7")
        assert (msg.outbox_key, msg.channel_id, msg.ts, msg.thread_ts) == ("parent", "C0CARE", "100.1", None)
        assert (await slack_registry.find_by_ts(conn, "C0CARE", "100.1")).about == "ticket:7"


async def test_blocks_stop_a_lane_or_a_whole_service_until_a_send_works(engine) -> None:
    await put(engine, fx("a"), fx("b", target="#b"), NewEffect("m", "email.message", "x@example.com", {}))
    assert await lanes.block(engine, "slack:#care", until=50.0, reason="429", now=1.0) == 1.0
    assert await lanes.block(engine, "slack:#care", until=60.0, reason="429", now=2.0) == 1.0  # the same block
    assert await lanes.ready(engine, now=3.0) == ["email:x@example.com", "slack:#b"]
    await lanes.block(engine, outbox.service_lane("slack:#b"), until=40.0, reason="invalid_auth", now=3.0)
    assert await lanes.ready(engine, now=4.0) == ["email:x@example.com"]  # other services go on
    assert await lanes.take(engine, "slack:#b", "w", now=4.0, hold=20) is None
    assert {b.lane for b in await lanes.blocks(engine)} == {"slack:#care", "service:slack"}
    b = await lanes.take(engine, "slack:#b", "w", now=40.0, hold=20)
    since = await outbox.mark_sent(engine, b, "w", result="1", now=41.0, next_at=42.0)
    assert since == ("service:slack", 3.0)  # the service block ended with this send: the operators hear of it
    assert {b.lane for b in await lanes.blocks(engine)} == {"slack:#care"}


async def test_attempt_retry_sent_and_dead_states(engine) -> None:
    await put(engine, fx("k1"), fx("k2", target="#b"))
    one = await lanes.take(engine, "slack:#care", "w", now=0.0, hold=30)
    two = await lanes.take(engine, "slack:#b", "w", now=0.0, hold=30)
    assert await outbox.begin_attempt(engine, one, "w")
    assert not await outbox.begin_attempt(engine, one, "intruder")
    await outbox.mark_retry(engine, one, "w", attempts=1, error="503", delay=10, now=0.0, in_doubt=True, next_at=0.0)
    await outbox.mark_dead(engine, two, "w", error="channel_not_found", next_at=0.0)
    assert await lanes.take(engine, "slack:#care", "w", now=5.0, hold=30) is None
    again = await lanes.take(engine, "slack:#care", "w", now=10.0, hold=30)
    assert again.in_doubt and again.attempts == 1
    await outbox.mark_sent(engine, again, "w", result="123.4", now=11.0)
    async with engine.connect() as conn:
        rows = {r.key: r for r in (await conn.execute(select(outbox_t))).all()}
    assert (rows["k1"].status, rows["k1"].result, rows["k1"].in_doubt) == ("sent", "123.4", False)
    assert (rows["k2"].status, rows["k2"].last_error) == ("dead", "channel_not_found")


async def test_dead_rows_can_be_listed_requeued_and_dropped(engine) -> None:
    await put(engine, fx("k1"), fx("k2", target="#b"), fx("k3", target="#c"))
    for lane in ("slack:#care", "slack:#b"):
        it = await lanes.take(engine, lane, "w", now=0.0, hold=30)
        await outbox.mark_dead(engine, it, "w", error="channel_not_found", next_at=0.0)
    listed = await outbox.list_rows(engine)
    assert [(r.key, r.status) for r in listed] == [("k1", "dead"), ("k2", "dead"), ("k3", "pending")]
    assert await outbox.retry(engine, [listed[0].id], now=5.0) == 1
    assert await outbox.drop(engine, [listed[1].id]) == 1
    assert await outbox.retry(engine, all_dead=True, now=5.0) == 0  # nothing else is dead
    again = await lanes.take(engine, "slack:#care", "w", now=5.0, hold=30)
    assert again.key == "k1" and again.attempts == 0
    b = await outbox.backlog(engine)
    assert (b.pending, b.dead) == (2, 0)


@pytest.mark.parametrize(
    ("attempts", "retry_after", "low", "high"),
    [
        (1, None, 1.0, 2.0),
        (2, None, 2.0, 4.0),
        (4, None, 8.0, 16.0),
        (20, None, 150.0, 300.0),  # capped
        (3, 42.0, 42.0, 42.0),  # the server's Retry-After wins
        (1, 0.0, 0.0, 0.0),
    ],
)
def test_backoff(attempts: int, retry_after: float | None, low: float, high: float) -> None:
    rng = random.Random(7)
    for _ in range(20):
        d = outbox.backoff(attempts, base=2.0, cap=300.0, retry_after=retry_after, rng=rng)
        assert low <= d <= high


async def test_lease_is_exclusive_until_it_expires(engine) -> None:
    assert await leases.acquire(engine, "poll:x", "a", ttl=10, now=0)
    assert await leases.acquire(engine, "poll:x", "a", ttl=10, now=5)  # renew
    assert not await leases.acquire(engine, "poll:x", "b", ttl=10, now=14)
    assert await leases.acquire(engine, "poll:x", "b", ttl=10, now=15.5)  # a stopped renewing
    assert not await leases.acquire(engine, "poll:x", "a", ttl=10, now=16)
    await leases.release(engine, "poll:x", "b")
    assert await leases.acquire(engine, "poll:x", "a", ttl=10, now=17)
    assert await leases.renew(engine, "poll:x", "a", ttl=10, now=26)  # a long poll keeps its lease
    assert not await leases.acquire(engine, "poll:x", "b", ttl=10, now=30)
    assert not await leases.renew(engine, "poll:x", "b", ttl=10, now=30)


async def test_a_dead_local_daemon_does_not_blind_its_successor(engine) -> None:
    """After kill -9 the restarted daemon frees what the dead one held instead of waiting it out."""
    dead, alive_other, remote = "vm1:111:aaa", "vm1:222:bbb", "vm2:111:ccc"
    for name, holder in (("poll:x", dead), ("poll:reddit", alive_other), ("poll:hn", remote)):
        assert await leases.acquire(engine, name, holder, ttl=600, now=0)
    async with engine.begin() as conn:
        await outbox.enqueue(conn, [effect(1), effect(2)], now=0.0)
    assert await lanes.take(engine, "slack:#care", dead, now=0.0, hold=600)
    freed = await leases.release_dead_local(engine, "vm1", alive=lambda pid: pid == 222)
    assert freed == 3  # the dead daemon's lease, its outbox claim and its reservation of the lane
    assert await leases.acquire(engine, "poll:x", "vm1:333:new", ttl=600, now=1)
    assert not await leases.acquire(engine, "poll:reddit", "vm1:333:new", ttl=600, now=1)
    assert not await leases.acquire(engine, "poll:hn", "vm1:333:new", ttl=600, now=1)  # another host: wait
    first = await lanes.take(engine, "slack:#care", "vm1:333:new", now=1.0, hold=60)
    assert first is not None and first.key == "k1"
