"""Tickets as the team sees them: one per conversation, with how many messages and the latest one."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.models import URGENCIES
from monitor.storage.schema import mentions, tickets


@dataclass(frozen=True)
class TicketSummary:
    id: int
    source: str
    status: str
    urgency: str  # the most urgent of its mentions
    messages: int
    author: str
    latest_text: str
    opened_at: float
    updated_at: float


async def list_tickets(engine: AsyncEngine, *, status: str | None = "open", limit: int = 50) -> list[TicketSummary]:
    """Most urgent first, then most recently active."""
    per_ticket = (
        select(
            mentions.c.ticket_id,
            func.count().label("messages"),
            func.max(mentions.c.created_at).label("latest_at"),
        )
        .where(mentions.c.ticket_id.is_not(None))
        .group_by(mentions.c.ticket_id)
        .subquery()
    )
    stmt = select(tickets, per_ticket.c.messages, per_ticket.c.latest_at).join(
        per_ticket, per_ticket.c.ticket_id == tickets.c.id
    )
    if status is not None:
        stmt = stmt.where(tickets.c.status == status)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
        ids = [r["id"] for r in rows]
        latest: dict[int, tuple[str, str, str]] = {}
        if ids:
            found = await conn.execute(
                select(mentions.c.ticket_id, mentions.c.author_username, mentions.c.text, mentions.c.urgency)
                .where(mentions.c.ticket_id.in_(ids))
                .order_by(mentions.c.created_at)
            )
            urg: dict[int, str] = {}
            for tid, author, text, u in found:
                latest[tid] = (author, text, u or "ignore")
                if u and (tid not in urg or URGENCIES.index(u) < URGENCIES.index(urg[tid])):  # type: ignore[arg-type]
                    urg[tid] = u
    out = [
        TicketSummary(
            id=r["id"], source=r["source"], status=r["status"], urgency=urg.get(r["id"], r["urgency"] or "normal"),
            messages=r["messages"], author=latest[r["id"]][0], latest_text=latest[r["id"]][1],
            opened_at=r["opened_at"], updated_at=r["updated_at"],
        )
        for r in rows
    ]
    out.sort(key=lambda t: (URGENCIES.index(t.urgency), -t.updated_at))  # type: ignore[arg-type]
    return out[:limit]
