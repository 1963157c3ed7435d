"""Read what a digest needs from the database and fold it into the figures (figures.py).

Mentions are streamed (`yield_per`), so a busy week is read in one pass with bounded memory. Hours
whose raw mentions were pruned come from the hourly roll-ups instead (retention.py records up to
when raw rows are gone).
"""
from __future__ import annotations

import time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from monitor.coverage import events_between
from monitor.digest.config import DigestsConfig
from monitor.digest.figures import Care, Competitors, Row, Rollup, Tally, build_digest, pick_examples, ranked_themes
from monitor.digest.period import Period
from monitor.storage.engine import READ_ONLY
from monitor.storage.schema import digest_runs, incidents, mention_rollups, mentions, tickets

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


async def care_figures(conn: AsyncConnection, period: Period, sla_seconds: float | None) -> Care:
    """Tickets opened and solved in the period, and how long the customers of the tickets opened
    in it waited for the brand's first response (platform times: their wait, not our polling)."""
    t = tickets.c
    in_period = (t.opened_at >= period.start) & (t.opened_at < period.end)
    opened = (await conn.execute(select(func.count()).where(in_period))).scalar_one()
    solved = (await conn.execute(select(func.count()).where(t.solved_at >= period.start,
                                                            t.solved_at < period.end))).scalar_one()
    waits = await conn.execute(select(t.first_response_at - t.opened_at).where(in_period,
                                                                               t.first_response_at.is_not(None)))
    overdue = 0
    if sla_seconds is not None:  # unanswered and past the target by the period's end: missed it
        overdue = (await conn.execute(select(func.count()).where(
            in_period, t.first_response_at.is_(None), t.opened_at + sla_seconds <= period.end))).scalar_one()
    return Care(opened=int(opened), solved=int(solved), first_response=[max(0.0, float(w)) for (w,) in waits],
                sla_seconds=sla_seconds, overdue=int(overdue))


async def incident_rows(conn: AsyncConnection, period: Period) -> list[dict[str, Any]]:
    """Incidents open at any time in the period, with how many mentions were attached to each."""
    i = incidents.c
    rows = (await conn.execute(
        select(i.id, i.service, i.title, i.status, i.impact, i.public, i.opened_at, i.resolved_at)
        .where(i.opened_at < period.end, (i.resolved_at.is_(None)) | (i.resolved_at >= period.start))
        .order_by(i.opened_at, i.id))).mappings().all()
    ids = [r["id"] for r in rows]
    counts: dict[int, int] = {}
    if ids:
        counts = {k: n for k, n in await conn.execute(
            select(m.incident_id, func.count()).where(m.incident_id.in_(ids)).group_by(m.incident_id))}
    return [{**r, "mentions": counts.get(r["id"], 0)} for r in rows]


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
        sla = None if cfg.response_target_minutes is None else cfg.response_target_minutes * 60
        care_now, care_before = await care_figures(conn, period, sla), await care_figures(conn, period.previous, sla)
        found = await incident_rows(conn, period)
        rose, fell = ranked_themes(cur, prev)
        examples = (await theme_examples(conn, period, [t.term for t in rose], rivals, ignore),
                    await theme_examples(conn, period.previous, [t.term for t in fell], rivals, ignore))
    return build_digest(cur, prev, brand=brand, coverage_events=events, care_now=care_now, care_before=care_before,
                        incident_list=found, theme_examples=examples,
                        generated_at=time.time() if now is None else now, schedule=schedule)


async def theme_examples(conn: AsyncConnection, period: Period, wanted: list[str], rivals: Competitors,
                         ignore: frozenset[str], scan: int = 500) -> dict[str, list[Row]]:
    """Posts of the period that use each theme, widest reach first: the database narrows them down
    (every word of the theme appears), `pick_examples` checks the theme itself."""
    if not wanted:
        return {}
    text = func.lower(m.text)
    each = [and_(*(text.like(f"%{w}%") for w in term.split(" "))) for term in wanted]
    stmt = (select(*MENTION_COLUMNS)
            .where(m.created_at >= period.start, m.created_at < period.end, m.is_own.is_(False), or_(*each))
            .order_by(m.author_followers.desc(), m.id).limit(scan))
    if rivals.streams:
        stmt = stmt.where(m.stream.not_in(list(rivals.streams)))
    rows = [Row(*r) for r in await conn.execute(stmt)]
    return pick_examples(rows, wanted, ignore)


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
