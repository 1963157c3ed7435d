"""The team's corrections of triage, in the `feedback` table (from the CLI now, from Slack later)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.storage.engine import create_engine
from monitor.storage.migrate import upgrade
from monitor.storage.schema import feedback, mentions


class UnknownMention(LookupError):
    pass


@dataclass(frozen=True)
class Correction:
    mention_id: int | None
    text: str
    urgency: str | None
    category: str | None
    by: str
    created_at: float


async def record(engine: AsyncEngine, *, text: str, urgency: str | None, category: str | None, by: str,
                 mention_id: int | None = None, now: float | None = None) -> None:
    """Store one correction (the Slack relabel button can call this too)."""
    async with engine.begin() as conn:
        await conn.execute(feedback.insert().values(
            mention_id=mention_id, text=text, urgency=urgency, category=category, by=by,
            created_at=time.time() if now is None else now,
        ))


async def relabel_mention(engine: AsyncEngine, mention_id: int, *, urgency: str | None, category: str | None,
                          by: str, now: float | None = None) -> str:
    """Correct a stored mention; returns its text. Raises UnknownMention."""
    async with engine.connect() as conn:
        text = (await conn.execute(sa.select(mentions.c.text).where(mentions.c.id == mention_id))).scalar()
    if text is None:
        raise UnknownMention(mention_id)
    await record(engine, text=text, urgency=urgency, category=category, by=by, mention_id=mention_id, now=now)
    return str(text)


async def corrections(engine: AsyncEngine) -> list[Correction]:
    """Every correction, the newest per mention only (a mention relabelled twice counts once)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(feedback).order_by(feedback.c.created_at, feedback.c.id))).all()
    latest: dict[object, Correction] = {}
    for r in rows:
        key = ("m", r.mention_id) if r.mention_id is not None else ("t", r.text)
        prev = latest.get(key)
        # a later correction that gives only one of the two fields keeps the other from before
        latest[key] = Correction(
            r.mention_id, r.text,
            r.urgency if r.urgency is not None else (prev.urgency if prev else None),
            r.category if r.category is not None else (prev.category if prev else None),
            r.by, r.created_at,
        )
    return list(latest.values())


async def _with_engine(url: str, fn):  # type: ignore[no-untyped-def]
    engine = create_engine(url)
    try:
        await upgrade(engine)
        return await fn(engine)
    finally:
        await engine.dispose()


async def relabel(url: str, mention_id: int, *, urgency: str | None, category: str | None, by: str) -> str:
    return await _with_engine(url, lambda e: relabel_mention(e, mention_id, urgency=urgency, category=category, by=by))


async def load_all(url: str) -> list[Correction]:
    return await _with_engine(url, corrections)
