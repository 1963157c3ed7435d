"""Which ticket a mention joins — so a customer never repeats themselves, and strangers never share.

`resolve()` is pure: stored mentions of one poll (in time order) + what the database knows → a plan.
`apply()` is its storage half: loads what `resolve` needs, runs it, writes the plan, in the caller's
transaction (ingest's one write transaction).

For a customer's post (not ours), in order:
  1. its conversation's ticket, when its author is that ticket's customer (and it is not closed);
  2. else the author's open (or pending, or solved) ticket heard from within `window` — a returning
     customer in a new thread; that thread is then linked to the ticket;
  3. else, when it is actionable (or critical/high), a new ticket;
  4. else, when the conversation has a live ticket, it is attached to it as context (a stranger's
     remark in someone's thread), without reopening anything;
  5. else no ticket.
A customer message (1, 2) on a pending ticket sets it open again; on a solved one it reopens it.
For the brand's own post: the ticket of the post it answers, else its conversation's first live
ticket; recorded as a response (the first sets `first_response_at`; open → pending).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from monitor.models import URGENCIES, Mention, Verdict
from monitor.storage.dialect import insert_for
from monitor.storage.schema import mentions, ticket_events, ticket_threads, tickets

DEFAULT_WINDOW_S = 72 * 3600.0
LIVE = ("open", "pending", "solved")  # a closed ticket is history: a new message opens a new one


@dataclass(frozen=True)
class Item:
    """One stored mention, as the resolver sees it."""

    external_id: str
    author_id: str
    conversation: str  # the thread root (the post itself when it starts one)
    at: float  # when it was posted
    is_own: bool = False
    in_reply_to: str = ""
    actionable: bool = False  # actionable, or urgent enough to need a person
    urgency: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class TicketState:
    id: int  # negative: opened by this plan, not yet stored
    author_id: str
    status: str
    opened_at: float
    last_customer_at: float
    conversation: str = ""
    urgency: str | None = None
    category: str | None = None
    first_response_at: float | None = None
    first_response_ref: str | None = None
    last_response_at: float | None = None


@dataclass
class Known:
    """What the database says, for the items of one plan."""

    tickets: dict[int, TicketState] = field(default_factory=dict)
    threads: dict[tuple[str, str], int] = field(default_factory=dict)  # (conversation, author) → ticket
    answered: dict[str, int] = field(default_factory=dict)  # a stored mention's external id → its ticket


@dataclass(frozen=True)
class Event:
    ticket: int
    kind: str  # opened | joined | context | reopened | responded | first_response
    at: float
    ref: str  # the mention's external id


@dataclass
class Plan:
    assign: dict[str, int] = field(default_factory=dict)  # external id → ticket
    tickets: dict[int, TicketState] = field(default_factory=dict)  # new or changed tickets, final state
    links: dict[tuple[str, str], int] = field(default_factory=dict)  # (conversation, author) → ticket
    events: list[Event] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e.kind == kind)


def _more_urgent(a: str | None, b: str | None) -> str | None:
    if a is None or a not in URGENCIES:
        return b
    if b is None or b not in URGENCIES:
        return a
    return a if URGENCIES.index(a) <= URGENCIES.index(b) else b  # type: ignore[arg-type]


def resolve(items: Sequence[Item], known: Known, *, window: float = DEFAULT_WINDOW_S) -> Plan:
    """Assign each item (in the given order) to a ticket. Pure: `known` is not modified."""
    state = dict(known.tickets)
    threads = dict(known.threads)
    answered = dict(known.answered)
    plan = Plan()
    next_new = -1

    def live(tid: int | None) -> TicketState | None:
        t = state.get(tid) if tid is not None else None
        return t if t is not None and t.status in LIVE else None

    def conversation_ticket(conv: str) -> TicketState | None:
        """The conversation's first live ticket (its owner opened it before any stranger's)."""
        found = [state[tid] for (c, _), tid in threads.items() if c == conv and live(tid)]
        return min(found, key=lambda t: (t.opened_at, abs(t.id))) if found else None

    def put(t: TicketState) -> None:
        state[t.id] = t
        plan.tickets[t.id] = t

    def link(conv: str, author: str, tid: int) -> None:
        if threads.get((conv, author)) != tid:
            threads[(conv, author)] = tid
            plan.links[(conv, author)] = tid

    for it in items:
        if it.is_own:
            t = live(answered.get(it.in_reply_to)) or conversation_ticket(it.conversation)
            if t is None:
                continue
            plan.assign[it.external_id] = t.id
            answered[it.external_id] = t.id
            changes: dict[str, object] = {"last_response_at": max(t.last_response_at or it.at, it.at)}
            if t.first_response_at is None:
                changes.update(first_response_at=it.at, first_response_ref=it.external_id)
                plan.events.append(Event(t.id, "first_response", it.at, it.external_id))
            if t.status == "open" and it.at >= t.last_customer_at:  # an older answer, read late, answers nothing new
                changes["status"] = "pending"
            plan.events.append(Event(t.id, "responded", it.at, it.external_id))
            put(replace(t, **changes))  # type: ignore[arg-type]
            continue

        t = live(threads.get((it.conversation, it.author_id)))
        if t is None:
            mine = [s for s in state.values()
                    if s.author_id == it.author_id and s.status in LIVE and s.last_customer_at >= it.at - window]
            t = max(mine, key=lambda s: s.last_customer_at) if mine else None
        if t is not None:  # the customer again: their ticket, wherever they write
            link(it.conversation, it.author_id, t.id)
            changes = {"last_customer_at": max(t.last_customer_at, it.at), "urgency": _more_urgent(t.urgency, it.urgency)}
            if t.status == "solved":
                changes["status"] = "open"
                plan.events.append(Event(t.id, "reopened", it.at, it.external_id))
            elif t.status == "pending":
                changes["status"] = "open"
            plan.events.append(Event(t.id, "joined", it.at, it.external_id))
            put(replace(t, **changes))  # type: ignore[arg-type]
        elif it.actionable:
            t = TicketState(id=next_new, author_id=it.author_id, status="open", opened_at=it.at,
                            last_customer_at=it.at, conversation=it.conversation, urgency=it.urgency,
                            category=it.category)
            next_new -= 1
            put(t)
            link(it.conversation, it.author_id, t.id)
            plan.events.append(Event(t.id, "opened", it.at, it.external_id))
        else:
            t = conversation_ticket(it.conversation)
            if t is None:
                continue
            plan.events.append(Event(t.id, "context", it.at, it.external_id))
        plan.assign[it.external_id] = t.id
        answered[it.external_id] = t.id
    return plan


# ── the storage half ──────────────────────────────────────────────────────────────────────────
def item_of(m: Mention, v: Verdict | None) -> Item:
    return Item(
        external_id=m.external_id,
        author_id=m.author.id,
        conversation=m.conversation_id or m.external_id,
        at=m.created_at.timestamp(),
        is_own=m.is_own,
        in_reply_to=m.in_reply_to,
        actionable=v is not None and (v.actionable or v.urgency in ("critical", "high")),
        urgency=v.urgency if v is not None else None,
        category=v.category if v is not None else None,
    )


def _state(r) -> TicketState:  # type: ignore[no-untyped-def]
    return TicketState(
        id=r.id, author_id=r.author_id, status=r.status, opened_at=r.opened_at,
        last_customer_at=r.last_customer_at if r.last_customer_at is not None else r.opened_at,
        conversation=r.conversation_id or "", urgency=r.urgency, category=r.category,
        first_response_at=r.first_response_at, first_response_ref=r.first_response_ref,
        last_response_at=r.last_response_at,
    )


async def load_known(conn: AsyncConnection, source: str, items: Sequence[Item], *, window: float) -> Known:
    known = Known()
    if not items:
        return known
    convs = sorted({i.conversation for i in items})
    authors = sorted({i.author_id for i in items if not i.is_own})
    for conv, author, tid in await conn.execute(
        select(ticket_threads.c.conversation_id, ticket_threads.c.author_id, ticket_threads.c.ticket_id)
        .where(ticket_threads.c.source == source, ticket_threads.c.conversation_id.in_(convs))
    ):
        known.threads[(conv, author)] = tid
    parents = sorted({i.in_reply_to for i in items if i.is_own and i.in_reply_to})
    if parents:
        for eid, tid in await conn.execute(
            select(mentions.c.external_id, mentions.c.ticket_id)
            .where(mentions.c.source == source, mentions.c.external_id.in_(parents), mentions.c.ticket_id.is_not(None))
        ):
            known.answered[eid] = tid
    oldest = min(i.at for i in items) - window
    conds = [tickets.c.id.in_(sorted({*known.threads.values(), *known.answered.values()}))]
    if authors:
        conds.append(and_(tickets.c.author_id.in_(authors), tickets.c.status.in_(LIVE),
                          tickets.c.last_customer_at >= oldest))
    rows = await conn.execute(select(tickets).where(tickets.c.source == source, or_(*conds)))
    for r in rows:
        known.tickets[r.id] = _state(r)
    return known


@dataclass(frozen=True)
class Applied:
    assign: dict[str, int]  # external id → stored ticket id
    opened: int
    joined: int
    reopened: int
    responses: int
    customer_posts: list[str]  # external ids that opened or joined their author's own ticket
    events: list[tuple[int, str, str]] = field(default_factory=list)  # (stored ticket id, kind, external id)


async def apply(conn: AsyncConnection, source: str, items: Sequence[Item], *, now: float,
                window: float = DEFAULT_WINDOW_S) -> Applied:
    """Resolve stored mentions to tickets and write the plan: tickets, thread links, events, mentions.ticket_id."""
    known = await load_known(conn, source, items, window=window)
    plan = resolve(items, known, window=window)
    real: dict[int, int] = {}
    opening = {e.ticket: e.ref for e in plan.events if e.kind == "opened"}
    for tid, t in plan.tickets.items():
        values = {
            "status": t.status, "urgency": t.urgency, "last_customer_at": t.last_customer_at,
            "first_response_at": t.first_response_at, "first_response_ref": t.first_response_ref,
            "last_response_at": t.last_response_at, "updated_at": now,
        }
        if t.urgency == "critical" and (tid < 0 or known.tickets[tid].urgency != "critical"):
            values["critical_since"] = t.opened_at if tid < 0 else now  # a lift: critical from now on
        if tid < 0:
            new = await conn.execute(
                insert_for(conn, tickets).values(
                    root_key=f"{source}:{opening[tid]}", source=source, author_id=t.author_id,
                    opened_at=t.opened_at, conversation_id=t.conversation, category=t.category, **values,
                ).returning(tickets.c.id)
            )
            real[tid] = new.scalar_one()
        else:
            if t.status == "open" and known.tickets[tid].status == "solved":
                values["solved_at"] = None  # reopened: its resolution time is measured again
            await conn.execute(update(tickets).where(tickets.c.id == tid).values(**values))
            real[tid] = tid
    for (conv, author), tid in plan.links.items():
        ins = insert_for(conn, ticket_threads)
        await conn.execute(
            ins.values(source=source, conversation_id=conv, author_id=author, ticket_id=real.get(tid, tid))
            .on_conflict_do_update(index_elements=["source", "conversation_id", "author_id"],
                                   set_={"ticket_id": ins.excluded.ticket_id})
        )
    if plan.events:
        await conn.execute(insert_for(conn, ticket_events), [
            {"ticket_id": real.get(e.ticket, e.ticket), "kind": e.kind, "at": e.at, "ref": e.ref, "detail": None}
            for e in plan.events
        ])
    assign = {eid: real.get(tid, tid) for eid, tid in plan.assign.items()}
    if assign:
        by_ticket: dict[int, list[str]] = {}
        for eid, tid in assign.items():
            by_ticket.setdefault(tid, []).append(eid)
        for tid, eids in by_ticket.items():  # one statement per ticket, not per mention
            await conn.execute(update(mentions).where(mentions.c.source == source, mentions.c.external_id.in_(eids))
                               .values(ticket_id=tid))
        untouched = {t for t in assign.values()} - set(real.values())
        if untouched:  # context and responses to tickets whose state did not change still make them active
            await conn.execute(update(tickets).where(tickets.c.id.in_(sorted(untouched))).values(updated_at=now))
    return Applied(assign=assign, opened=plan.count("opened"), joined=plan.count("joined"),
                   reopened=plan.count("reopened"), responses=plan.count("responded"),
                   customer_posts=[e.ref for e in plan.events if e.kind in ("opened", "joined")],
                   events=[(real.get(e.ticket, e.ticket), e.kind, e.ref) for e in plan.events])
