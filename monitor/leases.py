"""Leases: a row with a holder and an expiry, so that one scheduled job runs on one daemon at a time.

A daemon that dies stops renewing; another takes the job over once the lease has expired. The
database is the arbiter (PostgreSQL row locks or SQLite's single writer); nothing home-made.
"""
from __future__ import annotations

from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.storage.dialect import insert_for
from monitor.storage.schema import leases


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


async def release(engine: AsyncEngine, name: str, holder: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))
