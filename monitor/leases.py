"""Leases: a row with a holder and an expiry, so that one scheduled job runs on one daemon at a time.

A daemon that dies stops renewing; another takes the job over once the lease has expired. The
database is the arbiter (PostgreSQL row locks or SQLite's single writer); nothing home-made.
"""
from __future__ import annotations

import os
from collections.abc import Callable

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.storage.dialect import insert_for
from monitor.storage.schema import delivery_lanes, leases, outbox


async def acquire(engine: AsyncEngine, name: str, holder: str, *, ttl: float, now: float) -> bool:
    """Take or renew the lease `name` for `ttl` seconds. True when `holder` now holds it."""
    async with engine.begin() as conn:
        ins = insert_for(conn, leases).values(name=name, holder=holder, expires_at=now + ttl)
        res = await conn.execute(ins.on_conflict_do_nothing(index_elements=["name"]))
        if res.rowcount == 1:
            return True
        res = await conn.execute(
            update(leases)
            .where(leases.c.name == name)
            .where(or_(leases.c.holder == holder, leases.c.expires_at < now))
            .values(holder=holder, expires_at=now + ttl)
        )
        return res.rowcount == 1


async def renew(engine: AsyncEngine, name: str, holder: str, *, ttl: float, now: float) -> bool:
    """Extend a lease we hold (a long poll must not lose it). False if it is no longer ours."""
    async with engine.begin() as conn:
        res = await conn.execute(
            update(leases).where(leases.c.name == name, leases.c.holder == holder).values(expires_at=now + ttl)
        )
        return res.rowcount == 1


async def release(engine: AsyncEngine, name: str, holder: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))


def holder_name(host: str, pid: int, nonce: str) -> str:
    return f"{host}:{pid}:{nonce}"


def _dead_local(holder: str | None, host: str, alive: Callable[[int], bool]) -> bool:
    """A holder on this host whose process is gone (killed, crashed): its claims need not lapse first."""
    if not holder:
        return False
    parts = holder.split(":")
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    return not alive(int(parts[1]))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


async def release_dead_local(engine: AsyncEngine, host: str, alive: Callable[[int], bool] = pid_alive) -> int:
    """At start: free the leases and outbox claims of earlier daemons on this host that died.

    After a kill -9 and a restart the new daemon would otherwise wait out the old one's lease (up to
    two poll intervals) and be blind meanwhile. Holders on other hosts are left to expire.
    """
    freed = 0
    async with engine.begin() as conn:
        for name, holder in (await conn.execute(select(leases.c.name, leases.c.holder))).all():
            if _dead_local(holder, host, alive):
                await conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))
                freed += 1
        claimed = await conn.execute(
            select(outbox.c.claimed_by).where(outbox.c.status == "pending", outbox.c.claimed_by.is_not(None)).distinct()
        )
        for (holder,) in claimed.all():
            if _dead_local(holder, host, alive):
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.claimed_by == holder, outbox.c.status == "pending")
                    .values(claimed_by=None, claimed_until=None)
                )
                freed += 1
        lane_holders = await conn.execute(select(delivery_lanes.c.holder).where(delivery_lanes.c.holder.is_not(None))
                                          .distinct())
        for (holder,) in lane_holders.all():
            if _dead_local(holder, host, alive):
                await conn.execute(update(delivery_lanes).where(delivery_lanes.c.holder == holder)
                                   .values(next_at=0.0, holder=None))
                freed += 1
    return freed
