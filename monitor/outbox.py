"""The outbox: every effect on the outside world is first a row here, written with the decision.

Life of a row:  pending ──claim──► (attempt: in_doubt=1) ──ok──► sent
                   ▲                     │ RetryLater / crash
                   └──── backoff ────────┘            PermanentFailure or too many attempts ──► dead

`in_doubt` is committed *before* the outside call and cleared after a definite answer, so a row
found in doubt after a crash is reconciled with the outside world before it is sent again.
Rows are claimed with FOR UPDATE SKIP LOCKED (a no-op on SQLite, whose single writer serialises
claims), so several daemons on one PostgreSQL never deliver the same row.
"""
from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from monitor.delivery import OutboxItem
from monitor.storage.dialect import insert_for
from monitor.storage.schema import outbox


@dataclass(frozen=True)
class NewEffect:
    key: str  # idempotency key: the same decision always yields the same key
    kind: str
    target: str
    payload: dict[str, Any]
    # The lead's interface (priority lanes, Slack threads); stored once the outbox gains the columns.
    priority: int = 2
    lane: str | None = None
    about: str | None = None
    thread_of: str | None = None


async def enqueue(conn: AsyncConnection, effects: Iterable[NewEffect], *, now: float) -> int:
    """Add effects inside the caller's transaction. A key already present is left alone. Returns rows added."""
    rows = [
        {
            "key": e.key,
            "kind": e.kind,
            "target": e.target,
            "payload": e.payload,
            "status": "pending",
            "attempts": 0,
            "in_doubt": False,
            "next_attempt_at": now,
            "created_at": now,
        }
        for e in effects
    ]
    if not rows:
        return 0
    # RETURNING, because executemany's rowcount is not reported by every driver (asyncpg)
    stmt = insert_for(conn, outbox).on_conflict_do_nothing(index_elements=["key"]).returning(outbox.c.id)
    return len((await conn.execute(stmt, rows)).all())


async def claim(engine: AsyncEngine, worker: str, *, now: float, limit: int, hold_for: float) -> list[OutboxItem]:
    """Claim up to `limit` due rows for `hold_for` seconds. A claim that lapses (the worker died) is taken over."""
    async with engine.begin() as conn:
        due = (
            select(outbox.c.id)
            .where(
                outbox.c.status == "pending",
                outbox.c.next_attempt_at <= now,
                or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
            )
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = [r[0] for r in (await conn.execute(due)).all()]
        if not ids:
            return []
        await conn.execute(
            update(outbox).where(outbox.c.id.in_(ids)).values(claimed_by=worker, claimed_until=now + hold_for)
        )
        rows = (await conn.execute(select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.id))).mappings()
        return [
            OutboxItem(
                id=r["id"],
                key=r["key"],
                kind=r["kind"],
                target=r["target"],
                payload=r["payload"],
                attempts=r["attempts"],
                in_doubt=bool(r["in_doubt"]),
                created_at=r["created_at"],
            )
            for r in rows
        ]


def _owned(item: OutboxItem, worker: str) -> Any:
    return and_(outbox.c.id == item.id, outbox.c.claimed_by == worker, outbox.c.status == "pending")


async def begin_attempt(engine: AsyncEngine, item: OutboxItem, worker: str) -> bool:
    """Record that an outside call is about to happen. False if the claim was lost meanwhile."""
    async with engine.begin() as conn:
        res = await conn.execute(
            update(outbox).where(_owned(item, worker)).values(in_doubt=True, attempts=outbox.c.attempts + 1)
        )
        return res.rowcount == 1


async def mark_sent(engine: AsyncEngine, item: OutboxItem, worker: str, *, result: str, now: float) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(outbox)
            .where(outbox.c.id == item.id, outbox.c.status == "pending")
            .values(status="sent", in_doubt=False, result=result, sent_at=now, claimed_by=None, claimed_until=None)
        )


def backoff(attempts: int, *, base: float, cap: float, retry_after: float | None, rng: random.Random) -> float:
    """Seconds until the next attempt: the server's Retry-After when it gave one, else capped exponential with jitter."""
    if retry_after is not None:
        return max(retry_after, 0.0)
    exp = min(cap, base * (2 ** max(attempts - 1, 0)))
    return exp * (0.5 + rng.random() / 2)


async def mark_retry(
    engine: AsyncEngine,
    item: OutboxItem,
    worker: str,
    *,
    attempts: int,
    error: str,
    delay: float,
    now: float,
    in_doubt: bool,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(outbox)
            .where(_owned(item, worker))
            .values(
                in_doubt=in_doubt,
                attempts=attempts,
                last_error=error[:2000],
                next_attempt_at=now + delay,
                claimed_by=None,
                claimed_until=None,
            )
        )


async def mark_dead(engine: AsyncEngine, item: OutboxItem, worker: str, *, error: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            update(outbox)
            .where(_owned(item, worker))
            .values(status="dead", in_doubt=False, last_error=error[:2000], claimed_by=None, claimed_until=None)
        )


async def release(engine: AsyncEngine, items: Iterable[OutboxItem], worker: str) -> None:
    """Give back claimed rows not attempted (shutdown), so another daemon need not wait for the claim to lapse."""
    ids = [i.id for i in items]
    if not ids:
        return
    async with engine.begin() as conn:
        await conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids), outbox.c.claimed_by == worker, outbox.c.status == "pending")
            .values(claimed_by=None, claimed_until=None)
        )


@dataclass(frozen=True)
class Backlog:
    pending: int
    dead: int
    sent: int
    oldest_pending_at: float | None


async def backlog(engine: AsyncEngine) -> Backlog:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(outbox.c.status, func.count(), func.min(outbox.c.created_at)).group_by(outbox.c.status)
            )
        ).all()
    by = {status: (count, oldest) for status, count, oldest in rows}
    return Backlog(
        pending=by.get("pending", (0, None))[0],
        dead=by.get("dead", (0, None))[0],
        sent=by.get("sent", (0, None))[0],
        oldest_pending_at=by.get("pending", (0, None))[1],
    )
