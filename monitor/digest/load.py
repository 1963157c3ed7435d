"""Read what a digest needs from the database and fold it into the figures (figures.py).

Mentions are streamed (`yield_per`), so a busy week is read in one pass with bounded memory. Hours
whose raw mentions were pruned come from the hourly roll-ups instead (retention.py records up to
when raw rows are gone).
"""
from __future__ import annotations

import time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from monitor.coverage import events_between
from monitor.digest.config import DigestsConfig
from monitor.digest.figures import Care, Competitors, Row, Rollup, Tally, build_digest
from monitor.digest.period import Period
from monitor.storage.engine import READ_ONLY
from monitor.storage.schema import digest_runs, mention_rollups, mentions, tickets

m = mentions.c
MENTION_COLUMNS = (m.id, m.source, m.stream, m.author_id, m.author_username, m.author_name, m.author_followers,
                   m.text, m.url, m.created_at, m.category, m.complaint, m.sentiment, m.metrics, m.is_own,
                   m.removed)
RETENTION_SCHEDULE = "retention"  # digest_runs row whose slot_at is the instant raw mentions are pruned before


async def pruned_before(conn: AsyncConnection) -> float:
    """Raw mentions created before this instant were pruned (0: none were)."""
    row = (await conn.execute(select(digest_runs.c.slot_at).where(digest_runs.c.schedule == RETENTION_SCHEDULE))).first()
    return float(row[0]) if row else 0.0


async def fold(conn: AsyncConnection, tally: Tally, horizon: float) -> None:
    p = tally.period
    raw_from = max(p.start, horizon)
    if raw_from < p.end:
        stmt = select(*MENTION_COLUMNS).where(m.created_at >= raw_from, m.created_at < p.end)
        result = await conn.stream(stmt.execution_options(yield_per=5000))
        async for part in result.partitions():
            for r in part:
                tally.add(Row(*r))
    if p.start < horizon:
        r = mention_rollups.c
        rows = await conn.execute(select(mention_rollups).where(r.hour_at >= p.start, r.hour_at < min(p.end, horizon)))
        for row in rows:
            tally.add_rollup(Rollup(*row))


async def care_figures(conn: AsyncConnection, period: Period) -> Care:
    """Tickets opened in the period. Solving and first responses are not recorded by this schema
    yet: those stay None ("not available yet"), never zero."""
    t = tickets.c
    opened = (await conn.execute(select(func.count()).where(t.opened_at >= period.start,
                                                            t.opened_at < period.end))).scalar_one()
    return Care(opened=int(opened))


def competitors_of(cfg: DigestsConfig) -> Competitors:
    streams = {f"search:{q}": c.name for c in cfg.competitors for q in c.search_queries}
    return Competitors(streams=streams, names=tuple(c.name for c in cfg.competitors))


async def compute(engine: AsyncEngine, period: Period, *, brand: str, cfg: DigestsConfig,
                  ignore_terms: frozenset[str] = frozenset(), schedule: str = "",
                  now: float | None = None) -> dict[str, Any]:
    """The digest of `period` (compared with the one before it), as plain JSON-able data."""
    rivals = competitors_of(cfg)
    async with engine.connect() as conn:
        await conn.execution_options(**READ_ONLY)
        # the brand's own names say nothing about a theme: config names plus the accounts that posted as us
        own = await conn.execute(select(m.author_username).distinct().where(
            m.created_at >= period.previous.start, m.created_at < period.end, m.is_own.is_(True)))
        ignore = frozenset({*brand.lower().split(), *ignore_terms, *(n.lower() for n in rivals.names),
                            *(u.lower() for (u,) in own if u)})
        cur, prev = Tally(period, rivals, ignore), Tally(period.previous, rivals, ignore)
        horizon = await pruned_before(conn)
        await fold(conn, cur, horizon)
        await fold(conn, prev, horizon)
        events = [e.as_dict() for e in await events_between(conn, period.start, period.end)]
        care_now, care_before = await care_figures(conn, period), await care_figures(conn, period.previous)
    return build_digest(cur, prev, brand=brand, coverage_events=events, care_now=care_now, care_before=care_before,
                        generated_at=time.time() if now is None else now, schedule=schedule)


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
