"""Outbox and leases on SQLite and PostgreSQL: idempotent enqueue, exclusive claims, backoff."""
from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import select

from monitor import leases, outbox
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


async def test_claims_are_exclusive_and_lapse(engine) -> None:
    async with engine.begin() as conn:
        await outbox.enqueue(conn, [effect(i) for i in range(10)], now=0.0)
    a = await outbox.claim(engine, "a", now=1.0, limit=6, hold_for=30)
    b = await outbox.claim(engine, "b", now=1.0, limit=6, hold_for=30)
    assert len(a) == 6 and len(b) == 4
    assert not {i.id for i in a} & {i.id for i in b}
    assert await outbox.claim(engine, "c", now=2.0, limit=10, hold_for=30) == []
    # worker a died: after its claim lapses another worker takes its rows
    c = await outbox.claim(engine, "c", now=40.0, limit=10, hold_for=30)
    assert {i.id for i in c} == {i.id for i in a} | {i.id for i in b}


async def test_concurrent_claimers_never_share_a_row(engine) -> None:
    async with engine.begin() as conn:
        await outbox.enqueue(conn, [effect(i) for i in range(60)], now=0.0)

    async def worker(name: str) -> list[int]:
        got: list[int] = []
        while batch := await outbox.claim(engine, name, now=1.0, limit=5, hold_for=30):
            got += [i.id for i in batch]
        return got

    results = await asyncio.gather(*(worker(f"w{i}") for i in range(4)))
    flat = [i for r in results for i in r]
    assert len(flat) == 60 and len(set(flat)) == 60


async def test_attempt_retry_sent_and_dead_states(engine) -> None:
    async with engine.begin() as conn:
        await outbox.enqueue(conn, [effect(1), effect(2)], now=0.0)
    one, two = await outbox.claim(engine, "w", now=0.0, limit=2, hold_for=30)
    assert await outbox.begin_attempt(engine, one, "w")
    assert not await outbox.begin_attempt(engine, one, "intruder")
    await outbox.mark_retry(engine, one, "w", attempts=1, error="429", delay=10, now=0.0, in_doubt=True)
    await outbox.mark_dead(engine, two, "w", error="channel_not_found")
    assert await outbox.claim(engine, "w", now=5.0, limit=5, hold_for=30) == []
    (again,) = await outbox.claim(engine, "w", now=10.0, limit=5, hold_for=30)
    assert again.in_doubt and again.attempts == 1
    await outbox.mark_sent(engine, again, "w", result="123.4", now=11.0)
    async with engine.connect() as conn:
        rows = {r.key: r for r in (await conn.execute(select(outbox_t))).all()}
    assert (rows["k1"].status, rows["k1"].result, rows["k1"].in_doubt) == ("sent", "123.4", False)
    assert (rows["k2"].status, rows["k2"].last_error) == ("dead", "channel_not_found")


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


async def test_a_dead_local_daemon_does_not_blind_its_successor(engine) -> None:
    """After kill -9 the restarted daemon frees what the dead one held instead of waiting it out."""
    dead, alive_other, remote = "vm1:111:aaa", "vm1:222:bbb", "vm2:111:ccc"
    for name, holder in (("poll:x", dead), ("poll:reddit", alive_other), ("poll:hn", remote)):
        assert await leases.acquire(engine, name, holder, ttl=600, now=0)
    async with engine.begin() as conn:
        await outbox.enqueue(conn, [effect(1), effect(2)], now=0.0)
    (one,) = await outbox.claim(engine, dead, now=0.0, limit=1, hold_for=600)
    freed = await leases.release_dead_local(engine, "vm1", alive=lambda pid: pid == 222)
    assert freed == 2  # the dead daemon's lease and its outbox claim
    assert await leases.acquire(engine, "poll:x", "vm1:333:new", ttl=600, now=1)
    assert not await leases.acquire(engine, "poll:reddit", "vm1:333:new", ttl=600, now=1)
    assert not await leases.acquire(engine, "poll:hn", "vm1:333:new", ttl=600, now=1)  # another host: wait
    assert {i.key for i in await outbox.claim(engine, "vm1:333:new", now=1.0, limit=5, hold_for=60)} == {"k1", "k2"}
