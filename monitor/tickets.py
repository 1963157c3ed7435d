"""Tickets as the team sees them: one per conversation, with how many messages and the latest one."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.models import URGENCIES
from monitor.storage.dialect import insert_for
from monitor.storage.schema import mentions, replies, ticket_events, tickets


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


LIVE = ("open", "pending", "solved")


async def list_tickets(engine: AsyncEngine, *, status: str | None = "live", limit: int = 50) -> list[TicketSummary]:
    """Most urgent first, then most recently active. `status`: one status, "live" (not closed), or None (all)."""
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
    if status == "live":
        stmt = stmt.where(tickets.c.status.in_(LIVE))
    elif status is not None:
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


# ── one ticket, for `outreach-monitor tickets show ID` and `close ID` ─────────────────────────────
@dataclass(frozen=True)
class Message:
    external_id: str
    author: str
    text: str
    at: float
    is_own: bool
    urgency: str | None
    category: str | None


@dataclass(frozen=True)
class TicketDetail:
    row: dict[str, Any]  # the ticket's columns
    messages: list[Message]  # in order, the customer's, strangers' and ours
    events: list[tuple[str, float, str, str]]  # (kind, at, ref, detail)
    replies: list[dict[str, Any]]

    @property
    def first_response_s(self) -> float | None:
        fr = self.row.get("first_response_at")
        return None if fr is None else fr - self.row["opened_at"]

    @property
    def resolution_s(self) -> float | None:
        solved = self.row.get("solved_at") or self.row.get("closed_at")
        return None if solved is None else solved - self.row["opened_at"]


async def show(engine: AsyncEngine, ticket_id: int) -> TicketDetail | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(tickets).where(tickets.c.id == ticket_id))).mappings().first()
        if row is None:
            return None
        msgs = [
            Message(r.external_id, r.author_username or r.author_id, r.text, r.created_at, bool(r.is_own), r.urgency,
                    r.category)
            for r in await conn.execute(select(mentions).where(mentions.c.ticket_id == ticket_id)
                                        .order_by(mentions.c.created_at, mentions.c.id))
        ]
        events = [(r.kind, r.at, r.ref or "", r.detail or "") for r in await conn.execute(
            select(ticket_events).where(ticket_events.c.ticket_id == ticket_id)
            .order_by(ticket_events.c.at, ticket_events.c.id))]
        reps = [dict(r) for r in (await conn.execute(select(replies).where(replies.c.ticket_id == ticket_id)
                                                     .order_by(replies.c.id))).mappings()]
    return TicketDetail(dict(row), msgs, events, reps)


async def close(engine: AsyncEngine, ticket_id: int, *, by: str, now: float) -> str | None:
    """Close a live ticket (a person decided it is done). Returns its previous status, or None if it was not live."""
    async with engine.begin() as conn:
        before = (await conn.execute(select(tickets.c.status).where(tickets.c.id == ticket_id))).scalar()
        if before is None or before == "closed":
            return None
        res = await conn.execute(
            update(tickets).where(tickets.c.id == ticket_id, tickets.c.status == before)
            .values(status="closed", closed_at=now, solved_at=func.coalesce(tickets.c.solved_at, now), updated_at=now)
        )
        if res.rowcount != 1:
            return None
        await conn.execute(insert_for(conn, ticket_events).values(ticket_id=ticket_id, kind="closed", at=now,
                                                                  ref=None, detail=f"by {by}"[:200]))
    return before
