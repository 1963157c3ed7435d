"""The care team's actions from Slack, applied to the database: one effect per decision, with who and when.

A click becomes ONE transaction: read the ticket's handling, decide (`alerts.actions.decide`, pure),
apply the change with a conditional UPDATE that only matches the state that was read, log the action
in `ticket_actions`, and enqueue the Slack updates (`slack.update` rows) and any messages the action
sends. Two teammates clicking at once both read "unclaimed"; only one UPDATE matches, the other
re-reads and is told who got there first. A daemon killed before the commit did nothing (Slack gets
no ack and the teammate clicks again, or Slack redelivers); killed after it, the outbox still holds
the message update and the restarted daemon sends it.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerts.actions import Action, Decision, Handling, decide
from alerts.mention_alert import MentionView, TicketCard
from monitor.alert_flow import ticket_thread_channel
from monitor.outbox import NewEffect, enqueue
from monitor.storage.dialect import insert_for
from monitor.storage.schema import (
    feedback,
    mentions,
    outbox,
    replies,
    suppressed_authors,
    ticket_actions,
    ticket_handling,
    tickets,
)
from outreach import replies as reply_desk

UPDATE_KIND = "slack.update"
MAX_RACE_RETRIES = 5  # a conditional UPDATE that lost a race re-reads; more than a few means a bug


class UnknownMention(LookupError):
    pass


@dataclass(frozen=True)
class Outcome:
    ticket_id: int
    decision: Decision
    changed: bool

    @property
    def note(self) -> str:
        return self.decision.note


@dataclass(frozen=True)
class Where:
    """A Slack message showing the ticket (from the click, or from the message registry)."""

    channel: str
    ts: str
    mention_id: int  # whose alert the message is


# -- reading ------------------------------------------------------------------------------------


async def mention_row(conn: AsyncConnection, mention_id: int) -> Any:
    row = (await conn.execute(select(mentions).where(mentions.c.id == mention_id))).first()
    if row is None:
        raise UnknownMention(mention_id)
    return row


async def ticket_of(conn: AsyncConnection, mention_id: int, now: float) -> int:
    """The mention's ticket; a mention the pipeline did not ticket gets one when someone acts on it."""
    m = await mention_row(conn, mention_id)
    if m.ticket_id is not None:
        return int(m.ticket_id)
    root = f"{m.source}:{m.conversation_id or m.external_id}"
    await conn.execute(insert_for(conn, tickets).on_conflict_do_nothing(index_elements=["root_key"]).values(
        root_key=root, source=m.source, author_id=m.author_id, status="open", urgency=m.urgency,
        opened_at=now, updated_at=now))
    tid = (await conn.execute(select(tickets.c.id).where(tickets.c.root_key == root))).scalar_one()
    await conn.execute(update(mentions).where(mentions.c.id == mention_id).values(ticket_id=tid))
    return int(tid)


async def handling(conn: AsyncConnection, ticket_id: int, *, now: float) -> Handling:
    await conn.execute(insert_for(conn, ticket_handling).on_conflict_do_nothing(index_elements=["ticket_id"]).values(
        ticket_id=ticket_id, escalation_level=0, updated_at=now))
    h = (await conn.execute(select(ticket_handling).where(ticket_handling.c.ticket_id == ticket_id))).one()
    t = (await conn.execute(select(tickets.c.status, tickets.c.source, tickets.c.author_id)
                            .where(tickets.c.id == ticket_id))).one()
    suppressed = (await conn.execute(select(func.count()).select_from(suppressed_authors).where(
        suppressed_authors.c.source == t.source, suppressed_authors.c.author_id == t.author_id))).scalar_one()
    return Handling(ticket_id=ticket_id, status=t.status, claimed_by=h.claimed_by,
                    acknowledged_by=h.acknowledged_by, escalation_level=h.escalation_level,
                    author_suppressed=bool(suppressed))


async def card(conn: AsyncConnection, ticket_id: int) -> TicketCard:
    """What the alert shows of its ticket now (for rendering at delivery and for chat.update)."""
    t = (await conn.execute(select(tickets).where(tickets.c.id == ticket_id))).first()
    if t is None:
        return TicketCard()
    h = (await conn.execute(select(ticket_handling).where(ticket_handling.c.ticket_id == ticket_id))).first()
    count = (await conn.execute(select(func.count()).where(mentions.c.ticket_id == ticket_id))).scalar_one()
    label = (await conn.execute(
        select(feedback.c.urgency, feedback.c.category, feedback.c.by)
        .where(feedback.c.mention_id.in_(select(mentions.c.id).where(mentions.c.ticket_id == ticket_id)))
        .order_by(feedback.c.created_at.desc(), feedback.c.id.desc()).limit(1))).first()
    done = {a for (a,) in await conn.execute(
        select(ticket_actions.c.action).where(ticket_actions.c.ticket_id == ticket_id).distinct())}
    return TicketCard(
        status=t.status, mentions=max(int(count), 1),
        urgency=label.urgency if label is not None and label.urgency else None,
        category=label.category if label is not None and label.category else None,
        relabelled_by=label.by if label is not None and "relabel" in done else None,
        claimed_by=h.claimed_by if h else None, acknowledged_by=h.acknowledged_by if h else None,
        escalation_level=h.escalation_level if h else 0,
        replied=t.first_response_at is not None, spam="spam" in done,
    )


async def view_of(conn: AsyncConnection, mention_id: int) -> MentionView:
    m = await mention_row(conn, mention_id)
    return MentionView(
        mention_id=m.id, source=m.source, external_id=m.external_id, text=m.text, urgency=m.urgency or "normal",
        category=m.category or "", author_username=m.author_username, author_name=m.author_name,
        author_followers=m.author_followers, url=m.url, created_at=m.created_at, score=m.score or 0,
        confidence=m.confidence or 0.0, sentiment=m.sentiment or 0.0, reasons=tuple(m.reasons or ()),
        ticket_id=m.ticket_id)


async def suppressed(conn: AsyncConnection, source: str, author_ids: Iterable[str]) -> set[str]:
    """Which of these authors the team marked as spam (ingest stores them, never alerts on them)."""
    ids = list(author_ids)
    if not ids:
        return set()
    rows = await conn.execute(select(suppressed_authors.c.author_id).where(
        suppressed_authors.c.source == source, suppressed_authors.c.author_id.in_(ids)))
    return {r[0] for r in rows}


# -- acting -------------------------------------------------------------------------------------


def update_key(channel: str, ts: str, action_row: int) -> str:
    """The outbox key of the update an action queues for one message it shows on."""
    return f"{UPDATE_KIND}:{channel}:{ts}:{action_row}"


class Cockpit:
    """Applies the team's clicks. `messages_about` (the message registry) finds every alert of a ticket."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], float] = time.time,
                 escalation_channel: str | None = None, oncall_group: str | None = None,
                 messages_about: Callable[[AsyncConnection, int], Any] | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.escalation_channel = escalation_channel
        self.oncall_group = oncall_group  # a user group id (S…), mentioned when a critical ticket waits
        self._messages_about = messages_about

    async def mention_view(self, mention_id: int) -> MentionView:
        async with self.engine.connect() as conn:
            return await view_of(conn, mention_id)

    async def ticket_for(self, mention_id: int) -> int:
        async with self.engine.begin() as conn:
            return await ticket_of(conn, mention_id, self.clock())

    async def act(self, action: Action, mention_id: int, user: str, *, clicked: Where | None = None) -> Outcome:
        for _ in range(MAX_RACE_RETRIES):
            now = self.clock()
            try:
                return await self._act_once(action, mention_id, user, clicked, now)
            except _Raced:
                continue  # a teammate changed it meanwhile: rolled back; re-read and decide again
        raise RuntimeError(f"ticket of mention {mention_id} kept changing under {action}")

    async def _act_once(self, action: Action, mention_id: int, user: str, clicked: Where | None,
                        now: float) -> Outcome:
        async with self.engine.begin() as conn:
            tid = await ticket_of(conn, mention_id, now)
            before = await handling(conn, tid, now=now)
            decision = decide(action, before, user)
            if not decision.effective:
                return Outcome(tid, decision, changed=False)
            await _apply(conn, before, decision, now=now)
            if decision.changes.get("suppress"):
                await _suppress(conn, mention_id, user, now)
            row_id = await _log(conn, tid, action, user, now, detail=_detail(decision))
            effects = await self._updates(conn, tid, row_id, clicked)
            if action == "escalate":
                effects += await self._escalation_messages(conn, tid, mention_id, 2, by=user)
            await enqueue(conn, effects, now=now)
            return Outcome(tid, decision, changed=True)

    async def relabel(self, mention_id: int, *, urgency: str | None, category: str | None, user: str,
                      dedupe: str, clicked: Where | None = None) -> Outcome:
        """Store the team's correction as triage feedback; `dedupe` (the modal's view id) makes it once."""
        now = self.clock()
        async with self.engine.begin() as conn:
            tid = await ticket_of(conn, mention_id, now)
            detail = f"urgency={urgency or '-'} category={category or '-'}"
            res = await conn.execute(insert_for(conn, ticket_actions).on_conflict_do_nothing(
                index_elements=["dedupe"]).values(ticket_id=tid, action="relabel", detail=detail, by=user, at=now,
                                                  dedupe=f"relabel:{dedupe}").returning(ticket_actions.c.id))
            row_id = res.scalar()
            if row_id is None:
                return Outcome(tid, Decision(note="That correction was already saved."), changed=False)
            text = (await mention_row(conn, mention_id)).text
            await conn.execute(feedback.insert().values(mention_id=mention_id, text=text, urgency=urgency,
                                                        category=category, by=user, created_at=now))
            if urgency:
                # a ticket relabelled critical is escalated from now, not from when it opened
                since = case((tickets.c.urgency == "critical", tickets.c.critical_since), else_=now) \
                    if urgency == "critical" else None
                await conn.execute(update(tickets).where(tickets.c.id == tid).values(
                    urgency=urgency, critical_since=since, updated_at=now))
            await enqueue(conn, await self._updates(conn, tid, row_id, clicked), now=now)
        return Outcome(tid, Decision({"relabel": detail}, f"Saved: {detail}. Thanks — triage learns from this."),
                       changed=True)

    async def record(self, mention_id: int, action: str, user: str, *, detail: str = "", dedupe: str | None = None,
                     clicked: Where | None = None) -> bool:
        """Log an action decided elsewhere (a reply approved) and refresh the alert. False if already logged."""
        now = self.clock()
        async with self.engine.begin() as conn:
            tid = await ticket_of(conn, mention_id, now)
            res = await conn.execute(insert_for(conn, ticket_actions).on_conflict_do_nothing(
                index_elements=["dedupe"]).values(ticket_id=tid, action=action, detail=detail[:500], by=user, at=now,
                                                  dedupe=dedupe).returning(ticket_actions.c.id))
            row_id = res.scalar()
            if row_id is None:
                return False
            await enqueue(conn, await self._updates(conn, tid, row_id, clicked), now=now)
            return True

    async def reply_clicked(self, reply_id: int, action: str, user: str, note: str, *,
                            clicked: Where | None) -> int | None:
        """Log a click on a public reply's button and refresh its message. The reply's ticket, if known."""
        now = self.clock()
        async with self.engine.begin() as conn:
            tid = (await conn.execute(select(replies.c.ticket_id).where(replies.c.id == reply_id))).scalar()
            if tid is None:
                return None
            row_id = await _log(conn, int(tid), action, user, now, detail=note)
            if clicked is not None:
                await enqueue(conn, [NewEffect(update_key(clicked.channel, clicked.ts, row_id), UPDATE_KIND,
                                            clicked.channel, {"channel": clicked.channel, "ts": clicked.ts,
                                                              "reply_id": reply_id}, priority=1)], now=now)
            return int(tid)

    async def escalate_by_time(self, ticket_id: int, level: int, *, expected_level: int) -> bool:
        """The escalation timer's step: raise the level if nobody acted meanwhile. True if it did."""
        now = self.clock()
        async with self.engine.begin() as conn:
            res = await conn.execute(update(ticket_handling).where(
                ticket_handling.c.ticket_id == ticket_id, ticket_handling.c.escalation_level == expected_level,
                ticket_handling.c.acknowledged_by.is_(None), ticket_handling.c.claimed_by.is_(None),
            ).values(escalation_level=level, escalated_at=now, updated_at=now))
            if res.rowcount != 1:
                return False
            row_id = await _log(conn, ticket_id, "escalate", "escalation-timer", now, detail=f"level {level}")
            first = (await conn.execute(select(func.min(mentions.c.id)).where(
                mentions.c.ticket_id == ticket_id))).scalar_one()
            effects = await self._escalation_messages(conn, ticket_id, int(first), level, by=None)
            effects += await self._updates(conn, ticket_id, row_id, None)
            await enqueue(conn, effects, now=now)
            return True

    # -- what the action sends ------------------------------------------------------------------

    async def _updates(self, conn: AsyncConnection, ticket_id: int, row_id: int,
                       clicked: Where | None) -> list[NewEffect]:
        """One `slack.update` row per message showing the ticket, rendered from the state at delivery."""
        # Pending alerts are read BEFORE the registry. On PostgreSQL each statement sees what was committed
        # when it began, and an alert's delivery commits "sent" and its registry row together: read in
        # the other order, a delivery landing between the two reads was seen by neither (no update at
        # all: an escalation never reached the card). In this order it is seen by one, or by both.
        about = f"ticket:{ticket_id}"
        pending = (await conn.execute(select(outbox.c.target, outbox.c.lane, outbox.c.priority).where(
            outbox.c.about == about, outbox.c.kind == "slack.mention", outbox.c.thread_of.is_(None),
            outbox.c.status == "pending").distinct())).all()
        targets: dict[tuple[str, str], Where] = {}
        if clicked is not None:
            targets[(clicked.channel, clicked.ts)] = clicked
        if self._messages_about is not None:
            for w in await self._messages_about(conn, ticket_id):
                targets.setdefault((w.channel, w.ts), w)
        out = [
            NewEffect(update_key(w.channel, w.ts, row_id), UPDATE_KIND, w.channel,
                   {"channel": w.channel, "ts": w.ts, "mention_id": w.mention_id, "ticket_id": ticket_id},
                   priority=1, about=f"ticket:{ticket_id}")
            for w in targets.values()
        ]
        # An alert of the ticket still in the outbox may already have been rendered (the state before this
        # action) and be on its way: an update in its thread waits for it, then shows the state now.
        # When that alert is also a target above (a click on it, or its delivery committed between the two
        # reads), that target's update (keyed by `action_row`) refreshes it: at delivery this row finds
        # that one and does nothing (one chat.update for one action).
        out += [NewEffect(f"{UPDATE_KIND}:{about}:{lane}:a{row_id}", UPDATE_KIND, target,
                          {"about": about, "ticket_id": ticket_id, "action_row": row_id},
                          priority=prio, lane=lane, thread_of=about)
                for target, lane, prio in pending]
        return out

    async def _escalation_messages(self, conn: AsyncConnection, ticket_id: int, mention_id: int, level: int,
                                   *, by: str | None) -> list[NewEffect]:
        from alerts.cockpit_messages import escalation_message  # pure builder

        view = await view_of(conn, mention_id)
        # the ticket's urgency now (a relabel, a more urgent follow-up), not its first mention's
        now_urgency = (await conn.execute(select(tickets.c.urgency).where(tickets.c.id == ticket_id))).scalar()
        view = replace(view, urgency=now_urgency or view.urgency)
        out = []
        lane_channel = await _alert_channel(conn, ticket_id)
        if lane_channel is not None:
            out.append(NewEffect(f"escalation:ticket:{ticket_id}:{level}:thread", "slack.message", lane_channel,
                              escalation_message(view, level=level, by=by, group=self.oncall_group,
                                                 in_thread=True),
                              priority=0, about=f"ticket:{ticket_id}", thread_of=f"ticket:{ticket_id}"))
        if level >= 2 and self.escalation_channel:
            out.append(NewEffect(f"escalation:ticket:{ticket_id}:{level}:channel", "slack.message",
                              self.escalation_channel,
                              escalation_message(view, level=level, by=by, group=self.oncall_group,
                                                 in_thread=False),
                              priority=0, about=f"ticket:{ticket_id}"))
        return out


async def _alert_channel(conn: AsyncConnection, ticket_id: int) -> str | None:
    """The channel the ticket's thread lives in (its newest top-level alert: a lift moves it)."""
    return await ticket_thread_channel(conn, ticket_id)


async def _apply(conn: AsyncConnection, before: Handling, d: Decision, *, now: float) -> None:
    """Apply the decision only if the ticket is still as it was read; _Raced when a teammate got there first."""
    h = ticket_handling.c
    cols = {k: v for k, v in d.changes.items() if k in ("claimed_by", "acknowledged_by", "escalation_level")}
    if "claimed_by" in cols:
        cols["claimed_at"] = now
    if "acknowledged_by" in cols:
        cols["acknowledged_at"] = now
    if "escalation_level" in cols:
        cols["escalated_at"] = now
    same = and_(
        h.ticket_id == before.ticket_id,
        h.claimed_by.is_(None) if before.claimed_by is None else h.claimed_by == before.claimed_by,
        h.acknowledged_by.is_(None) if before.acknowledged_by is None else h.acknowledged_by == before.acknowledged_by,
        h.escalation_level == before.escalation_level,
    )
    # every decision touches the handling row, so that row's lock orders two clicks on one ticket
    res = await conn.execute(update(ticket_handling).where(same).values(updated_at=now, **cols))
    if res.rowcount != 1:
        raise _Raced()
    if "status" in d.changes:
        values: dict[str, Any] = {"status": d.changes["status"], "updated_at": now}
        if d.changes["status"] == "solved":
            values["solved_at"] = now  # the tickets lifecycle closes it after its quiet period
        res = await conn.execute(update(tickets).where(tickets.c.id == before.ticket_id,
                                                       tickets.c.status == before.status).values(**values))
        if res.rowcount != 1:
            raise _Raced()


class _Raced(Exception):
    pass


async def _suppress(conn: AsyncConnection, mention_id: int, user: str, now: float) -> None:
    m = await mention_row(conn, mention_id)
    await conn.execute(insert_for(conn, suppressed_authors).on_conflict_do_nothing(
        index_elements=["source", "author_id"]).values(source=m.source, author_id=m.author_id,
                                                       username=m.author_username, by=user, at=now))
    # nothing more is said to them in public: their replies still waiting are skipped
    await reply_desk.skip_for_spam(conn, m.source, m.author_id, by=user, now=now)
    # the team's "spam" is also a label triage learns from
    await conn.execute(feedback.insert().values(mention_id=mention_id, text=m.text, urgency="ignore",
                                                category="spam", by=user, created_at=now))


async def _log(conn: AsyncConnection, ticket_id: int, action: str, user: str, now: float, *, detail: str = "") -> int:
    res = await conn.execute(ticket_actions.insert().values(ticket_id=ticket_id, action=action, detail=detail[:500],
                                                            by=user, at=now).returning(ticket_actions.c.id))
    return int(res.scalar_one())


def _detail(d: Decision) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(d.changes.items()))


async def history(engine: AsyncEngine, ticket_id: int) -> Sequence[Any]:
    """Every action on a ticket, oldest first (who and when)."""
    async with engine.connect() as conn:
        return (await conn.execute(select(ticket_actions).where(ticket_actions.c.ticket_id == ticket_id)
                                   .order_by(ticket_actions.c.at, ticket_actions.c.id))).all()
