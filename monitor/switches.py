"""Operators' switches kept in the database, so every daemon on it sees the same setting at once.

`replies_paused` is the kill switch for the brand's public voice: `/outreach pause-replies` in Slack
sets it, the reply policy (outreach/) reads it before anything is posted in public.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.storage.dialect import insert_for
from monitor.storage.schema import switches

REPLIES_PAUSED = "replies_paused"


@dataclass(frozen=True)
class Switch:
    name: str
    value: str
    by: str
    updated_at: float


async def get(engine: AsyncEngine, name: str) -> Switch | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(switches).where(switches.c.name == name))).first()
    return None if row is None else Switch(row.name, row.value, row.by, row.updated_at)


async def set_value(engine: AsyncEngine, name: str, value: str, by: str, *, now: float | None = None) -> None:
    at = time.time() if now is None else now
    async with engine.begin() as conn:
        ins = insert_for(conn, switches).values(name=name, value=value, by=by, updated_at=at)
        await conn.execute(ins.on_conflict_do_update(
            index_elements=["name"], set_={"value": value, "by": by, "updated_at": at}))


async def replies_paused(engine: AsyncEngine) -> bool:
    """True while the team has paused public replies (nothing public may be posted)."""
    s = await get(engine, REPLIES_PAUSED)
    return s is not None and s.value == "on"


async def set_replies_paused(engine: AsyncEngine, paused: bool, by: str, *, now: float | None = None) -> None:
    await set_value(engine, REPLIES_PAUSED, "on" if paused else "off", by, now=now)
