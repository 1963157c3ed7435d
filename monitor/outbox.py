"""The outbox: every effect on the outside world is first a row here, written with the decision.

Life of a row:  pending ──take──► (attempt: in_doubt=1) ──ok──► sent (+ the message registry)
                   ▲                     │ RetryLater / crash
                   └──── backoff ────────┘            PermanentFailure, or still failing after
                                                      `give_up_after` ──► dead ──(outbox retry)──► pending

`in_doubt` is committed *before* the outside call and cleared after a definite answer, so a row
found in doubt after a crash is reconciled with the outside world before it is sent again.
Rows are taken one at a time per lane (monitor/lanes.py), highest priority first; a 429 or a
refused token is not an attempt (the row waits, however long), so only permanent errors, or
transient ones that outlast the horizon, dead-letter.
"""
from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from monitor import slack_registry
from monitor.delivery import OutboxItem, Posted, default_lane, service_of
from monitor.storage.dialect import insert_for
from monitor.storage.engine import READ_ONLY
from monitor.storage.schema import delivery_lanes, outbox

def service_lane(lane: str) -> str:
    """The row in `delivery_lanes` that blocks every lane of a service: "slack:#care" → "service:slack"."""
    return "service:" + service_of(lane.split(":", 1)[0])


PRIORITY = {"critical": 0, "high": 1, "normal": 2, "low": 3, "ignore": 4}
OPERATORS = 1  # the operators' messages go before normal alerts


@dataclass(frozen=True)
class NewEffect:
    key: str  # idempotency key: the same decision always yields the same key
    kind: str
    target: str
    payload: dict[str, Any]
    priority: int = 2
    lane: str | None = None  # default: "<service>:<target>"
    about: str | None = None  # "ticket:7": what the effect is about (the registry indexes it)
    thread_of: str | None = None  # "ticket:7": post in the thread of the first message about that


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
            "priority": e.priority,
            "lane": e.lane or default_lane(e.kind, e.target),
            "about": e.about,
            "thread_of": e.thread_of,
        }
        for e in effects
    ]
    if not rows:
        return 0
    # RETURNING, because executemany's rowcount is not reported by every driver (asyncpg)
    stmt = insert_for(conn, outbox).on_conflict_do_nothing(index_elements=["key"]).returning(outbox.c.id)
    added = len((await conn.execute(stmt, rows)).all())
    # A reply waits for its thread's first message: lift that one to the reply's priority, so a
    # critical follow-up never waits behind a backlog for a normal parent.
    urgent_parents: dict[tuple[str, str], int] = {}
    for r in rows:
        if r["thread_of"]:
            k = (r["lane"], r["thread_of"])
            urgent_parents[k] = min(urgent_parents.get(k, 9), r["priority"])
    for (lane, about), prio in urgent_parents.items():
        await conn.execute(
            update(outbox)
            .where(outbox.c.status == "pending", outbox.c.lane == lane, outbox.c.about == about,
                   outbox.c.priority > prio)
            .values(priority=prio)
        )
    return added


def _owned(item: OutboxItem, worker: str) -> Any:
    return and_(outbox.c.id == item.id, outbox.c.claimed_by == worker, outbox.c.status == "pending")


async def begin_attempt(engine: AsyncEngine, item: OutboxItem, worker: str) -> bool:
    """Record that an outside call is about to happen. False if the claim was lost meanwhile."""
    async with engine.begin() as conn:
        res = await conn.execute(
            update(outbox).where(_owned(item, worker)).values(in_doubt=True, attempts=outbox.c.attempts + 1)
        )
        return res.rowcount == 1


async def mark_sent(engine: AsyncEngine, item: OutboxItem, worker: str, *, result: str, now: float,
                    posted: Posted | None = None, next_at: float | None = None) -> tuple[str, float] | None:
    """Sent: the row, the registry entry and the lane's pacing, in one transaction.

    A send that works also ends any block of its lane and its service; returns which block ended
    and when it began (the service's, if both), so the operators can hear it is over; else None.
    """
    async with engine.begin() as conn:
        res = await conn.execute(
            update(outbox)
            .where(outbox.c.id == item.id, outbox.c.status == "pending")
            .values(status="sent", in_doubt=False, result=result[:200], sent_at=now, claimed_by=None,
                    claimed_until=None)
        )
        if posted is not None and res.rowcount == 1:
            await slack_registry.record(conn, item, posted, now=now)
        if next_at is not None:
            return await _lane_done(conn, item.lane, worker, next_at=next_at, ok=True)
    return None


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
    next_at: float | None = None,
) -> None:
    """Try again in `delay` s. `attempts` is what the row has spent (unchanged for a wait that was not an attempt)."""
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
        if next_at is not None:
            await _lane_done(conn, item.lane, worker, next_at=next_at, ok=False)


async def mark_dead(engine: AsyncEngine, item: OutboxItem, worker: str, *, error: str, in_doubt: bool = False,
                    next_at: float | None = None) -> None:
    """Give up. A row given up while in doubt stays in doubt: a re-drive reconciles it before sending."""
    async with engine.begin() as conn:
        await conn.execute(
            update(outbox)
            .where(_owned(item, worker))
            .values(status="dead", in_doubt=in_doubt, last_error=error[:2000], claimed_by=None, claimed_until=None)
        )
        if next_at is not None:
            await _lane_done(conn, item.lane, worker, next_at=next_at, ok=False)


async def _lane_done(conn: AsyncConnection, lane: str, worker: str, *, next_at: float,
                     ok: bool) -> tuple[str, float] | None:
    """The lane's next send may start at `next_at`; after a success, blocks on it and its service end."""
    await conn.execute(update(delivery_lanes).where(delivery_lanes.c.lane == lane).values(next_at=next_at, holder=None))
    if not ok:
        return None
    both = [lane, service_lane(lane)]
    ended = (await conn.execute(select(delivery_lanes.c.lane, delivery_lanes.c.blocked_since).where(
        delivery_lanes.c.lane.in_(both), delivery_lanes.c.blocked_since.is_not(None)))).all()
    if not ended:
        return None
    await conn.execute(update(delivery_lanes).where(delivery_lanes.c.lane.in_(both))
                       .values(blocked_until=0.0, blocked_reason=None, blocked_since=None))
    which, since = max(ended, key=lambda r: r[0].startswith("service:"))  # the service's block says more
    return which, since


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
        lanes = {i.lane for i in items}
        await conn.execute(
            update(delivery_lanes)
            .where(delivery_lanes.c.lane.in_(lanes), delivery_lanes.c.holder == worker)
            .values(next_at=0.0, holder=None)
        )


# ── what the operator sees ───────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class Backlog:
    pending: int
    dead: int
    sent: int
    oldest_pending_at: float | None
    oldest_urgent_at: float | None = None  # the oldest pending critical or high row
    waiting_lanes: frozenset[str] = frozenset()  # lanes with at least one pending row


async def backlog(engine: AsyncEngine) -> Backlog:
    async with engine.connect() as conn:
        await conn.execution_options(**READ_ONLY)
        rows = (
            await conn.execute(
                select(outbox.c.status, func.count(), func.min(outbox.c.created_at)).group_by(outbox.c.status)
            )
        ).all()
        urgent = (
            await conn.execute(
                select(func.min(outbox.c.created_at)).where(outbox.c.status == "pending", outbox.c.priority <= 1)
            )
        ).scalar()
        waiting = frozenset((await conn.execute(select(outbox.c.lane).where(outbox.c.status == "pending")
                                                .distinct())).scalars())
    by = {status: (count, oldest) for status, count, oldest in rows}
    return Backlog(
        waiting_lanes=waiting,
        pending=by.get("pending", (0, None))[0],
        dead=by.get("dead", (0, None))[0],
        sent=by.get("sent", (0, None))[0],
        oldest_pending_at=by.get("pending", (0, None))[1],
        oldest_urgent_at=urgent,
    )


@dataclass(frozen=True)
class Row:
    id: int
    key: str
    kind: str
    target: str
    status: str
    priority: int
    attempts: int
    created_at: float
    next_attempt_at: float
    last_error: str


async def list_rows(engine: AsyncEngine, *, status: Sequence[str] = ("pending", "dead"), limit: int = 100) -> list[Row]:
    """Rows waiting or given up, most urgent and oldest first (`outreach-monitor outbox list`)."""
    async with engine.connect() as conn:
        await conn.execution_options(**READ_ONLY)
        rows = await conn.execute(
            select(outbox.c.id, outbox.c.key, outbox.c.kind, outbox.c.target, outbox.c.status, outbox.c.priority,
                   outbox.c.attempts, outbox.c.created_at, outbox.c.next_attempt_at, outbox.c.last_error)
            .where(outbox.c.status.in_(list(status)))
            .order_by(outbox.c.status, outbox.c.priority, outbox.c.created_at, outbox.c.id)
            .limit(limit)
        )
        return [Row(*r[:9], last_error=r[9] or "") for r in rows]


async def retry(engine: AsyncEngine, ids: Sequence[int] = (), *, all_dead: bool = False, now: float) -> int:
    """Requeue dead rows (or waiting ones, now): attempts start again. Returns the rows requeued."""
    cond = outbox.c.status.in_(["dead", "pending"]) if ids else outbox.c.status == "dead"
    where = [cond] + ([outbox.c.id.in_(list(ids))] if ids else [])
    if not ids and not all_dead:
        return 0
    async with engine.begin() as conn:
        res = await conn.execute(
            update(outbox).where(*where).values(status="pending", attempts=0, next_attempt_at=now,
                                                claimed_by=None, claimed_until=None)
        )
        return res.rowcount


async def drop(engine: AsyncEngine, ids: Sequence[int]) -> int:
    """Give up on rows for good (kept as `dropped`, never sent). Returns the rows dropped."""
    async with engine.begin() as conn:
        res = await conn.execute(
            update(outbox).where(outbox.c.id.in_(list(ids)), outbox.c.status.in_(["pending", "dead"]))
            .values(status="dropped", claimed_by=None, claimed_until=None)
        )
        return res.rowcount
