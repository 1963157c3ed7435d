"""Our tickets mirrored in a helpdesk (Zendesk or Freshdesk, `tickets.helpdesk:`), through the outbox.

    ingest: a ticket opened      ──► outbox "helpdesk.create"   key helpdesk:create:<ticket>
            a post joins it      ──► outbox "helpdesk.comment"  key helpdesk:note:<source>:<post id>
    reply:  our reply is posted  ──► outbox "helpdesk.comment"  key helpdesk:note:<source>:<reply's post id>
    job:    every status_every_s, the helpdesk's status of our live tickets; "solved" there solves ours

The rows are written in the transaction that decided them (ingest's, or the one recording the
reply), so nothing is synced that was not decided and nothing decided is lost. They all share one
lane per helpdesk: one request at a time across every daemon, in order — a comment waits for its
ticket's create (`thread_of`) — and an outage (5xx, timeouts) or a 429 blocks the lane, so rows
wait rather than fail; only a request the helpdesk refuses for good (another 4xx) is set aside.

Never two tickets: a ticket carries our ticket key as its external id, and every create first looks
for it (`find`), so a create retried after a crash, a timeout, or `outbox retry` finds the ticket
the first attempt made. A comment carries its outbox key on a marker line; one in doubt is looked
for on the ticket before it is sent again. Our reply and the same post read back from the
platform share one key: one comment.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from connectors.base import AuthError, BadPayload, SourceError, TransientError
from connectors.helpdesk import Helpdesk, HelpdeskConfig, NewTicket
from monitor.delivery import OutboxItem, PermanentFailure, RetryLater
from monitor.outbox import PRIORITY, NewEffect, enqueue
from monitor.storage.dialect import insert_for
from monitor.storage.schema import mentions, outbox, replies, ticket_events, tickets

log = structlog.get_logger("helpdesk")

CREATE_KIND = "helpdesk.create"
COMMENT_KIND = "helpdesk.comment"
AUTH_RECHECK_S = 60.0  # refused credentials: one request this often until a person fixes them
# what a post does to its ticket (monitor/ticket_resolver.py) → it becomes a comment there
_COMMENTED = ("joined", "context", "responded")


def external_id(root_key: str) -> str:
    """Our ticket key, as the helpdesk ticket's external id (stable across restarts and daemons)."""
    return f"outreach:{root_key}"


def marker(key: str) -> str:
    return f"outreach-monitor ref {key}"


def _about(ticket_id: int) -> str:
    return f"helpdesk:{ticket_id}"


def _told_since(ticket_id: int, asked_at: float):  # type: ignore[no-untyped-def]
    """Something for this ticket is still going to the helpdesk, or reached it after `asked_at`."""
    about = _about(ticket_id)
    return exists().where(or_(outbox.c.about == about, outbox.c.thread_of == about),
                          or_(outbox.c.status == "pending", outbox.c.sent_at >= asked_at))


def create_effect(target: str, ticket_id: int, urgency: str | None) -> NewEffect:
    return NewEffect(f"helpdesk:create:{ticket_id}", CREATE_KIND, target, {"ticket_id": ticket_id},
                     priority=PRIORITY.get(urgency or "normal", 2), about=_about(ticket_id))


def comment_effect(target: str, ticket_id: int, source: str, post_id: str, *, urgency: str | None = None,
                   reply_id: int | None = None, reopen: bool = False) -> NewEffect:
    payload: dict[str, Any] = {"ticket_id": ticket_id, "source": source, "post_id": post_id}
    if reply_id is not None:
        payload["reply_id"] = reply_id
    if reopen:  # the customer wrote after the ticket was solved: open it in the helpdesk too
        payload["reopen"] = True
    return NewEffect(f"helpdesk:note:{source}:{post_id}", COMMENT_KIND, target, payload,
                     priority=PRIORITY.get(urgency or "normal", 2), thread_of=_about(ticket_id))


def ingest_effects(target: str, source: str, events: Iterable[tuple[int, str, str]],
                   urgency: dict[str, str | None]) -> list[NewEffect]:
    """From the resolver's events (ticket, kind, post id): a create per ticket opened, a comment per post added."""
    events = list(events)
    reopening = {ref for _, kind, ref in events if kind == "reopened"}
    out = []
    for tid, kind, ref in events:
        if kind == "opened":
            out.append(create_effect(target, tid, urgency.get(ref)))
        elif kind in _COMMENTED:
            out.append(comment_effect(target, tid, source, ref, urgency=urgency.get(ref), reopen=ref in reopening))
    return out


# ── the words that reach the helpdesk ────────────────────────────────────────────────────────
def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _who(m: Any) -> str:
    handle = f"@{m.author_username}" if m.author_username else m.author_id
    return f"{handle} ({m.author_name})" if m.author_name and m.author_name != m.author_username else handle


def ticket_text(t: Any, first: Any | None) -> tuple[str, str]:
    """(subject, body) of a new helpdesk ticket: the opening post and what triage said about it."""
    if first is None:
        return f"[{t.source}] ticket #{t.id}", f"Ticket #{t.id} from {t.source} (its first post is no longer stored)."
    words = " ".join(first.text.split())
    subject = f"[{t.source}] {_who(first)}: {words[:80]}{'…' if len(words) > 80 else ''}"
    lines = [f"{_who(first)} on {t.source}, {_when(first.created_at)}:", "", first.text, ""]
    if first.url:
        lines.append(first.url)
    triage = ", ".join(x for x in (f"urgency {first.urgency}" if first.urgency else "",
                                   f"category {first.category}" if first.category else "",
                                   "a complaint" if first.complaint else "") if x)
    if triage:
        lines.append(f"Triage: {triage}")
    if first.reasons:
        lines.append("Why: " + "; ".join(str(r) for r in first.reasons))
    lines.append(f"outreach-monitor ticket #{t.id} (`outreach-monitor tickets show {t.id}`)")
    return subject, "\n".join(lines)


def comment_text(m: Any | None, reply: Any | None) -> str:
    if reply is not None:
        return f"Our public reply on {reply.source} ({reply.ref}), {_when(reply.sent_at or time.time())}:\n\n{reply.text}"
    if m is None:
        return "(a post that is no longer stored)"
    who = "The brand" if m.is_own else _who(m)
    return "\n".join([f"{who} on {m.source}, {_when(m.created_at)}:", "", m.text] + ([m.url] if m.url else []))


# ── the outbox handlers ──────────────────────────────────────────────────────────────────────
class HelpdeskSync:
    """Both outbox handlers and the status read-back, for one helpdesk."""

    def __init__(self, cfg: HelpdeskConfig, engine: AsyncEngine, desk: Helpdesk, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.engine = engine
        self.desk = desk
        self.clock = clock
        self.target = cfg.kind
        self.create = _Handler(self, CREATE_KIND)
        self.comment = _Handler(self, COMMENT_KIND)

    def handlers(self) -> dict[str, Any]:
        return {CREATE_KIND: self.create, COMMENT_KIND: self.comment}

    async def reply_sent(self, conn: AsyncConnection, reply: Any, ref: str) -> None:
        """Our public reply is on the platform: a comment on its ticket (in the transaction recording it)."""
        await enqueue(conn, [comment_effect(self.target, reply.ticket_id, reply.source, ref, reply_id=reply.id)],
                      now=self.clock())

    # a ticket, found or made
    async def ensure_ticket(self, ticket_id: int) -> str:
        async with self.engine.connect() as conn:
            t = (await conn.execute(select(tickets).where(tickets.c.id == ticket_id))).first()
            if t is None:
                raise PermanentFailure(f"ticket {ticket_id} does not exist")
            if t.helpdesk_id:
                return str(t.helpdesk_id)
            source, _, post = t.root_key.partition(":")
            first = (await conn.execute(select(mentions).where(mentions.c.source == source,
                                                               mentions.c.external_id == post))).first()
        key = external_id(t.root_key)
        hid = await self.desk.find(key)  # a create that landed before a crash, a timeout, or a retry
        if hid is None:
            subject, body = ticket_text(t, first)
            hid = await self.desk.create(NewTicket(
                external_id=key, subject=subject, body=body, urgency=t.urgency,
                requester_name=(f"@{first.author_username}" if first is not None and first.author_username else ""),
                requester_ref=f"{t.source}:{t.author_id}", tags=tuple(self.cfg.tags)))
        await self._store_id(ticket_id, hid)
        return hid

    async def _store_id(self, ticket_id: int, hid: str) -> None:
        async with self.engine.begin() as conn:
            res = await conn.execute(update(tickets).where(tickets.c.id == ticket_id, tickets.c.helpdesk_id.is_(None))
                                     .values(helpdesk_id=hid))
            if res.rowcount == 1:
                await conn.execute(insert_for(conn, ticket_events).values(
                    ticket_id=ticket_id, kind="helpdesk_linked", at=self.clock(), ref=hid[:64],
                    detail=f"{self.cfg.kind} ticket {hid}"[:200]))

    async def stored_id(self, ticket_id: int) -> str | None:
        async with self.engine.connect() as conn:
            hid = (await conn.execute(select(tickets.c.helpdesk_id).where(tickets.c.id == ticket_id))).scalar()
        return str(hid) if hid else None

    async def add_comment(self, item: OutboxItem) -> str:
        p = item.payload
        hid = await self.ensure_ticket(int(p["ticket_id"]))
        async with self.engine.connect() as conn:
            reply = m = None
            if p.get("reply_id") is not None:
                reply = (await conn.execute(select(replies).where(replies.c.id == p["reply_id"]))).first()
            if reply is None:
                m = (await conn.execute(select(mentions).where(mentions.c.source == p["source"],
                                                               mentions.c.external_id == p["post_id"]))).first()
        return await self.desk.comment(hid, f"{comment_text(m, reply)}\n\n{marker(item.key)}",
                                       reopen=bool(p.get("reopen")))

    async def find_comment(self, item: OutboxItem) -> str | None:
        hid = await self.stored_id(int(item.payload["ticket_id"]))
        return None if hid is None else await self.desk.find_comment(hid, marker(item.key))

    # ── status read back ─────────────────────────────────────────────────────────────────────
    async def read_back(self, *, limit: int = 200) -> int:
        """Solve our live tickets the helpdesk solved (or closed). Returns how many were solved."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(
                select(tickets.c.id, tickets.c.status, tickets.c.helpdesk_id)
                .where(tickets.c.helpdesk_id.is_not(None), tickets.c.status.in_(["open", "pending"]))
                .order_by(tickets.c.updated_at).limit(limit))).all()
        solved = 0
        for tid, status, hid in rows:
            asked_at = self.clock()
            try:
                theirs = await self.desk.status(str(hid))
            except (TransientError, AuthError) as e:  # the next run tries again; the outbox lane says more
                log.warning("helpdesk.status_unreadable", kind=self.cfg.kind, error=str(e))
                break
            except SourceError as e:
                log.warning("helpdesk.status_refused", kind=self.cfg.kind, ticket=tid, error=str(e))
                continue
            if theirs not in ("solved", "closed"):
                continue
            now = self.clock()
            async with self.engine.begin() as conn:
                # conditional on what we read: a customer who wrote meanwhile keeps it open. And their
                # "solved" may be older than what we told them: while a comment (a reopen) is on its way,
                # or landed after we asked, their answer is stale and the next read decides.
                res = await conn.execute(update(tickets).where(
                    tickets.c.id == tid, tickets.c.status == status, ~_told_since(tid, asked_at),
                ).values(status="solved", solved_at=now, updated_at=now))
                if res.rowcount == 1:
                    await conn.execute(insert_for(conn, ticket_events).values(
                        ticket_id=tid, kind="solved", at=now, ref=str(hid)[:64],
                        detail=f"{theirs} in {self.cfg.kind}"))
                    solved += 1
        return solved

    async def close(self) -> None:
        await self.desk.close()


class _Handler:
    """One outbox kind; connector errors become the outbox's words in `translate`, nowhere else."""

    def __init__(self, sync: HelpdeskSync, kind: str) -> None:
        self.sync = sync
        self.kind = kind
        self.min_interval = 0.0

    async def deliver(self, item: OutboxItem) -> str:
        try:
            if self.kind == CREATE_KIND:
                return await self.sync.ensure_ticket(int(item.payload["ticket_id"]))
            return await self.sync.add_comment(item)
        except SourceError as e:
            raise translate(e, self.sync.cfg.kind) from e

    async def reconcile(self, item: OutboxItem) -> str | None:
        if self.kind == CREATE_KIND:
            return None  # deliver looks the ticket up by its external id before it creates one
        try:
            return await self.sync.find_comment(item)
        except SourceError as e:
            raise translate(e, self.sync.cfg.kind) from e


def translate(e: SourceError, kind: str) -> Exception:
    if isinstance(e, TransientError):
        # the helpdesk is down or busy: its whole lane waits (in order); a 429 is not an attempt
        return RetryLater(f"{kind}: {e}", retry_after=e.retry_after, counts=not e.rate_limited, scope="lane")
    if isinstance(e, AuthError):
        return RetryLater(f"{e}: fix tickets.helpdesk credentials; tickets are kept and synced once it works",
                          retry_after=AUTH_RECHECK_S, counts=False, scope="lane")
    if isinstance(e, BadPayload):
        return RetryLater(f"{kind} sent an answer we cannot read: {e}", scope="lane")  # it may have landed
    return PermanentFailure(f"{kind} refused it: {e}")
