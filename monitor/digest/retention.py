"""Retention: raw mentions older than `digests.keep_raw_days` are rolled up per hour, then deleted,
in one transaction — each mention is counted in the roll-ups exactly once, and digests of old
periods keep their volume, categories and tone (figures that need the posts themselves say so).

The instant before which raw rows are gone is kept in `digest_runs` (schedule "retention"); the
digest loader reads roll-ups before it and raw rows after it.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor import leases
from monitor.digest.figures import NEGATIVE, POSITIVE, Row
from monitor.digest.load import MENTION_COLUMNS, RETENTION_SCHEDULE
from monitor.storage.dialect import insert_for
from monitor.storage.schema import digest_runs, mention_rollups, mentions

HOUR = 3600.0
_FIELDS = ("mentions", "own", "complaints", "positive", "negative", "sentiment_sum", "sentiment_n", "reach",
           "engagement")


@dataclass(frozen=True, slots=True)
class Pruned:
    cutoff: float
    mentions: int
    rollup_rows: int


Sums = dict[tuple[float, str, str, str], list[float]]


def new_sums() -> Sums:
    return defaultdict(lambda: [0] * len(_FIELDS))


def rollup(rows: Iterable[Row], acc: Sums | None = None) -> Sums:
    """Hourly sums per (hour, source, stream, category) — pure."""
    acc = new_sums() if acc is None else acc
    for r in rows:
        a = acc[(r.created_at // HOUR * HOUR, r.source, r.stream, "" if r.is_own else (r.category or ""))]
        if r.is_own:
            a[1] += 1
            continue
        a[0] += 1
        a[2] += int(bool(r.complaint))
        if r.sentiment is not None:
            a[3] += int(r.sentiment >= POSITIVE)
            a[4] += int(r.sentiment <= NEGATIVE)
            a[5] += r.sentiment
            a[6] += 1
        a[7] += r.followers
        a[8] += r.engagement
    return acc


async def prune(engine: AsyncEngine, *, keep_seconds: float, now: float, holder: str = "") -> Pruned:
    """Roll up and delete raw mentions created before `now - keep_seconds` (rounded down to the hour)."""
    cutoff = (now - keep_seconds) // HOUR * HOUR
    m = mentions.c
    async with engine.begin() as conn:
        # every row before the cutoff: earlier runs deleted theirs, so what is left arrived late
        sums, n = new_sums(), 0
        result = await conn.stream(select(*MENTION_COLUMNS).where(m.created_at < cutoff)
                                   .execution_options(yield_per=5000))
        async for part in result.partitions():  # a first prune of a large table is not held in memory
            rollup((Row(*r) for r in part), sums)
            n += len(part)
        if sums:
            ins = insert_for(conn, mention_rollups)
            await conn.execute(
                ins.on_conflict_do_update(
                    index_elements=["hour_at", "source", "stream", "category"],
                    set_={f: getattr(mention_rollups.c, f) + getattr(ins.excluded, f) for f in _FIELDS}),
                [{"hour_at": k[0], "source": k[1], "stream": k[2], "category": k[3],
                  **{f: (float(v) if f == "sentiment_sum" else int(v)) for f, v in zip(_FIELDS, vals)}}
                 for k, vals in sums.items()])
            await conn.execute(delete(mentions).where(m.created_at < cutoff))
        ins = insert_for(conn, digest_runs)
        await conn.execute(ins.on_conflict_do_update(
            index_elements=["schedule"],
            set_={"slot_at": ins.excluded.slot_at, "ran_at": ins.excluded.ran_at, "holder": ins.excluded.holder},
            where=digest_runs.c.slot_at < ins.excluded.slot_at),
            [{"schedule": RETENTION_SCHEDULE, "slot_at": cutoff, "digest_key": "", "ran_at": now, "holder": holder}])
    return Pruned(cutoff, n, len(sums))


async def prune_job(engine: AsyncEngine, *, keep_seconds: float, now: float, holder: str) -> Pruned | None:
    """Under a lease, so two daemons do not prune at once."""
    if not await leases.acquire(engine, "digest:retention", holder, ttl=600, now=now):
        return None
    try:
        return await prune(engine, keep_seconds=keep_seconds, now=now, holder=holder)
    finally:
        await leases.release(engine, "digest:retention", holder)
