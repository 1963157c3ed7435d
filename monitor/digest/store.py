"""Built digests in the database: saved once per key, listed and read back by the pages."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from monitor.digest.figures import Row
from monitor.digest.load import MENTION_COLUMNS
from monitor.storage.dialect import insert_for
from monitor.storage.engine import READ_ONLY
from monitor.storage.schema import digests, mentions


@dataclass(frozen=True, slots=True)
class Stored:
    id: int
    key: str
    schedule: str
    period_start: float
    period_end: float
    created_at: float
    data: dict[str, Any]


async def save(conn: AsyncConnection, *, key: str, schedule: str, data: dict[str, Any], now: float) -> int:
    """Store the digest under `key` (kept if one is there already); returns its id."""
    p = data["period"]
    await conn.execute(
        insert_for(conn, digests).on_conflict_do_nothing(index_elements=["key"]),
        [{"key": key, "schedule": schedule, "period_start": p["start"], "period_end": p["end"], "created_at": now,
          "data": data}],
    )
    return int((await conn.execute(select(digests.c.id).where(digests.c.key == key))).scalar_one())


async def get(engine: AsyncEngine, digest_id: int) -> Stored | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(digests).where(digests.c.id == digest_id))).first()
    return None if row is None else Stored(*row)


async def by_key(conn: AsyncConnection, key: str) -> Stored | None:
    row = (await conn.execute(select(digests).where(digests.c.key == key))).first()
    return None if row is None else Stored(*row)


async def recent(engine: AsyncEngine, limit: int = 100) -> list[Stored]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(digests).order_by(digests.c.created_at.desc(), digests.c.id.desc()).limit(limit))
        return [Stored(*r) for r in rows]


async def period_mentions(engine: AsyncEngine, start: float, end: float) -> AsyncIterator[Row]:
    """The mentions of a period (not our own posts), oldest first, streamed."""
    m = mentions.c
    async with engine.connect() as conn:
        await conn.execution_options(**READ_ONLY)
        stmt = select(*MENTION_COLUMNS).where(m.created_at >= start, m.created_at < end, m.is_own.is_(False)) \
            .order_by(m.created_at, m.id)
        result = await conn.stream(stmt.execution_options(yield_per=2000))
        async for part in result.partitions():
            for r in part:
                yield Row(*r)
