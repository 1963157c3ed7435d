"""Delivery lanes: which outbox row goes next, and when, shared by every daemon on the database.

A lane is what is paced together — one Slack channel ("slack:#care"), one e-mail address. Within a
lane rows go one at a time, highest priority first; different lanes go side by side, so a slow or
rate-limited channel never holds another. The lane's pacing (`next_at`) and blocks live in the
`delivery_lanes` table rather than in a process, so two daemons on one PostgreSQL still post at most
one message a second per channel. A service block ("service:slack") stops every lane of a service
(a revoked token) until a delivery on it works again.

take():  lock the lane's row (SKIP LOCKED: a lane another daemon is taking is simply skipped),
         check its pacing and blocks, claim the lane's best due row, and reserve the lane until the
         delivery ends (`next_at = now + hold`). The outcome (monitor/outbox.py) sets the real
         `next_at` = end of the call + the handler's interval, and clears blocks on success.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased

from monitor import slack_registry
from monitor.delivery import OutboxItem
from monitor.outbox import service_lane
from monitor.storage.dialect import insert_for
from monitor.storage.engine import READ_ONLY
from monitor.storage.schema import delivery_lanes, outbox

def _due(now: float):  # type: ignore[no-untyped-def]
    return and_(
        outbox.c.status == "pending",
        outbox.c.next_attempt_at <= now,
        or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
    )


def _parent_pending():  # type: ignore[no-untyped-def]
    """A row in the thread of a subject waits while an older row about that subject is pending in its lane."""
    older = aliased(outbox)
    return exists().where(
        older.c.status == "pending",
        older.c.lane == outbox.c.lane,
        older.c.about == outbox.c.thread_of,
        older.c.id < outbox.c.id,
    )


async def ready(engine: AsyncEngine, *, now: float, exclude: Collection[str] = (), limit: int = 50) -> list[str]:
    """Lanes with a due row whose pacing and blocks allow a send now, most urgent first."""
    async with engine.connect() as conn:
        await conn.execution_options(**READ_ONLY)
        rows = (
            await conn.execute(
                select(outbox.c.lane, func.min(outbox.c.priority)).where(_due(now)).group_by(outbox.c.lane)
            )
        ).all()
        if not rows:
            return []
        held = {
            lane: (next_at, blocked)
            for lane, next_at, blocked in (
                await conn.execute(select(delivery_lanes.c.lane, delivery_lanes.c.next_at,
                                          delivery_lanes.c.blocked_until))
            ).all()
        }
    out = []
    for lane, prio in sorted(rows, key=lambda r: (r[1], r[0])):
        if lane in exclude:
            continue
        next_at, blocked = held.get(lane, (0.0, 0.0))
        _, service_blocked = held.get(service_lane(lane), (0.0, 0.0))
        if next_at <= now and blocked <= now and service_blocked <= now:
            out.append(lane)
    return out[:limit]


async def next_due(engine: AsyncEngine, *, now: float) -> float | None:
    """When the earliest waiting lane may send (for the dispatcher's idle wait)."""
    async with engine.connect() as conn:
        await conn.execution_options(**READ_ONLY)
        first_row = (await conn.execute(select(func.min(outbox.c.next_attempt_at)).where(
            outbox.c.status == "pending"))).scalar()
        lanes = (await conn.execute(select(func.min(delivery_lanes.c.next_at)).where(
            delivery_lanes.c.next_at > now))).scalar()
    times = [t for t in (first_row, lanes) if t is not None]
    return max(min(times), now) if times else None


async def take(engine: AsyncEngine, lane: str, worker: str, *, now: float, hold: float) -> OutboxItem | None:
    """Claim the lane's best due row and reserve the lane for the delivery, or None (not its turn, or no row)."""
    async with engine.begin() as conn:
        await conn.execute(
            insert_for(conn, delivery_lanes)
            .values(lane=lane, next_at=0.0, blocked_until=0.0)
            .on_conflict_do_nothing(index_elements=["lane"])
        )
        row = (
            await conn.execute(
                select(delivery_lanes.c.next_at, delivery_lanes.c.blocked_until)
                .where(delivery_lanes.c.lane == lane)
                .with_for_update(skip_locked=True)
            )
        ).first()
        if row is None or row.next_at > now or row.blocked_until > now:
            return None  # another daemon is sending on it, or it is paced or blocked
        svc = service_lane(lane)
        # A service block whose time is up is probed by ONE delivery, whichever lane gets here first:
        # the conditional update makes it the prober and holds the others off until it has an answer.
        probing = (
            await conn.execute(
                update(delivery_lanes)
                .where(delivery_lanes.c.lane == svc, delivery_lanes.c.blocked_since.is_not(None),
                       delivery_lanes.c.blocked_until <= now)
                .values(blocked_until=now + hold)
            )
        ).rowcount == 1
        if not probing:
            service_blocked = (
                await conn.execute(select(delivery_lanes.c.blocked_until).where(delivery_lanes.c.lane == svc))
            ).scalar()
            if service_blocked is not None and service_blocked > now:
                return None
        r = (
            await conn.execute(
                select(outbox)
                .where(_due(now), outbox.c.lane == lane, or_(outbox.c.thread_of.is_(None), ~_parent_pending()))
                .order_by(outbox.c.priority, outbox.c.next_attempt_at, outbox.c.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
        ).mappings().first()
        if r is None:
            if probing:  # nothing to probe with after all: leave the block as it was
                await conn.execute(update(delivery_lanes).where(delivery_lanes.c.lane == svc).values(blocked_until=now))
            return None
        await conn.execute(update(outbox).where(outbox.c.id == r["id"]).values(claimed_by=worker,
                                                                                 claimed_until=now + hold))
        await conn.execute(update(delivery_lanes).where(delivery_lanes.c.lane == lane).values(next_at=now + hold,
                                                                                               holder=worker))
        parent = await slack_registry.thread_root(conn, r["thread_of"], lane) if r["thread_of"] else None
    return OutboxItem(
        id=r["id"],
        key=r["key"],
        kind=r["kind"],
        target=r["target"],
        payload=r["payload"],
        attempts=r["attempts"],
        in_doubt=bool(r["in_doubt"]),
        created_at=r["created_at"],
        priority=r["priority"],
        lane=r["lane"],
        about=r["about"],
        thread_of=r["thread_of"],
        parent=parent,
    )


async def block(engine: AsyncEngine, lane: str, *, until: float, reason: str, now: float) -> float:
    """Stop a lane (or a service: `service_lane(...)`) until `until`. Returns when the block began."""
    async with engine.begin() as conn:
        await conn.execute(
            insert_for(conn, delivery_lanes)
            .values(lane=lane, next_at=0.0, blocked_until=0.0)
            .on_conflict_do_nothing(index_elements=["lane"])
        )
        since = (await conn.execute(select(delivery_lanes.c.blocked_since).where(delivery_lanes.c.lane == lane))).scalar()
        since = since if since is not None else now
        await conn.execute(
            update(delivery_lanes).where(delivery_lanes.c.lane == lane)
            .values(blocked_until=until, blocked_reason=reason[:2000], blocked_since=since)
        )
        return since


async def try_blocked_now(engine: AsyncEngine, *, now: float) -> int:
    """Let every blocked lane and service try again at once (an operator fixed something and sent
    SIGHUP): the block stays recorded until a delivery works, so recovery is still told once."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(delivery_lanes)
            .where(delivery_lanes.c.blocked_since.is_not(None), delivery_lanes.c.blocked_until > now)
            .values(blocked_until=now)
        )
        return result.rowcount or 0


@dataclass(frozen=True)
class Block:
    lane: str
    reason: str
    since: float
    until: float


async def blocks(engine: AsyncEngine) -> list[Block]:
    """Lanes and services currently blocked or recovering (blocked_since set), for /healthz and the CLI."""
    async with engine.connect() as conn:
        await conn.execution_options(**READ_ONLY)
        rows = await conn.execute(
            select(delivery_lanes.c.lane, delivery_lanes.c.blocked_reason, delivery_lanes.c.blocked_since,
                   delivery_lanes.c.blocked_until).where(delivery_lanes.c.blocked_since.is_not(None))
        )
        return [Block(lane, reason or "", since, until) for lane, reason, since, until in rows]
