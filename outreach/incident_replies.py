"""Answer the people already complaining about an incident: one acknowledgement each, one follow-up at the end.

While an incident is public and open, every customer whose complaint triage attached to it
(`mentions.incident_id`) gets ONE public reply from the `outage` template, with the status link —
through the same reply policy as any other reply (outreach/policy.py: off, dry-run, held for a
person in the incident's Slack thread or `outreach-monitor replies approve ID`, auto; cool-down,
max age, never our own accounts, bots, spam or authors the team muted; the hourly cap, quiet hours
and the kill switch hold it at sending). When the incident resolves, each person we did answer gets
ONE follow-up from the `all_clear` template, in reply to our acknowledgement.

What happens to a person's acknowledgement, by the incident's state (`after_resolve` is the pure half):

    incident   acknowledgement                 │ action
    ───────────────────────────────────────────┼──────────────────────────────────────────────────
    open       none yet                        │ acknowledge (the policy decides: draft / held / auto / none)
    open       any                             │ nothing (one per person per incident)
    resolved   sent                            │ follow up, once
    resolved   held, approved (not yet sent)   │ withdraw: saying "we are on it" after the fix helps nobody
                                               │ (one already being posted is sent, then followed up)
    resolved   dry_run, skipped                │ nothing

Both are rows of the `replies` table — the approval path, Slack buttons, CLI and delivery of every
public reply — keyed by (incident, source, author) and (incident, source, author, "resolved"): the
unique thread key and the outbox key `reply:<thread key>` make a second daemon, a replayed run or a
crash between decision and post harmless.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from monitor.outbox import NewEffect, enqueue
from monitor.storage.dialect import insert_for
from monitor.storage.schema import incidents, mentions, replies, suppressed_authors, ticket_events
from outreach import replies as desk
from outreach.policy import HOUR, Candidate, Decision, History, decide
from outreach.reply_subject import subject
from outreach.reply_templates import Context
from outreach.templates import UnsafePublicText, check_public

log = structlog.get_logger("incident_replies")

ACK_CATEGORY = "outage"  # its policy mode and template answer the complainers (config/templates/replies/)
FOLLOW_UP_CATEGORY = "all_clear"  # the template of the follow-up; its mode is the acknowledgement's
FOLLOW_UP = ":resolved"
FOLLOW_UP_WINDOW = 7 * 24 * HOUR  # follow-ups still owed for incidents resolved this recently


def ack_key(incident_id: int, source: str, author_id: str) -> str:
    return f"incident:{incident_id}:{source}:{author_id}"


def follow_up_key(ack: str) -> str:
    return ack + FOLLOW_UP


def acknowledged_by(thread_key: str) -> str | None:
    """The acknowledgement a follow-up answers (its thread key), or None for any other reply."""
    if thread_key.startswith("incident:") and thread_key.endswith(FOLLOW_UP):
        return thread_key[: -len(FOLLOW_UP)]
    return None


def after_resolve(ack_status: str) -> Literal["follow_up", "withdraw", "none"]:
    if ack_status == "sent":
        return "follow_up"
    if ack_status in ("held", "approved"):
        return "withdraw"
    return "none"


def follow_up_decision(mode: str) -> Decision:
    """The follow-up is owed to someone we answered: cool-down and age do not apply, the mode does."""
    return {"off": Decision("none", "replies are off"),
            "dry-run": Decision("dry_run", "dry run: written to the ticket, not posted"),
            "approve": Decision("hold", "waits for a person's approval"),
            "auto": Decision("auto", "the incident is resolved: the follow-up is automatic")}[mode]


@dataclass
class AckStats:
    acknowledged: dict[str, int] = field(default_factory=dict)  # status → count (dry_run / held / approved)
    follow_ups: dict[str, int] = field(default_factory=dict)
    withdrawn: int = 0
    unsafe: int = 0


@dataclass
class IncidentAcks:
    """The job (lease holder only, beside the notices): acknowledge, withdraw, follow up."""

    engine: AsyncEngine
    voice: desk.Voice
    status_url: str  # incidents.status_url, else the replies' status_link
    slack_channel: str | None  # the incidents' channel: the drafts go in the incident's thread
    forbidden: list[str] = field(default_factory=list)  # internal words (outreach/templates.check_public)
    clock: Callable[[], float] = time.time
    on_change: Callable[[], None] | None = None
    stats: AckStats = field(default_factory=AckStats)

    @property
    def mode(self) -> str:
        return self.voice.cfg.mode_for(ACK_CATEGORY)

    async def run(self) -> int:
        """Write every acknowledgement, withdrawal and follow-up due now. Returns how many replies were written."""
        if self.mode == "off":
            return 0
        now = self.clock()
        async with self.engine.connect() as conn:
            open_ids = (await conn.execute(select(incidents.c.id).where(
                incidents.c.public.is_(True), incidents.c.status != "resolved").order_by(incidents.c.id))).scalars().all()
            resolved_ids = (await conn.execute(select(incidents.c.id).where(
                incidents.c.public.is_(True), incidents.c.status == "resolved",
                incidents.c.resolved_at >= now - FOLLOW_UP_WINDOW).order_by(incidents.c.id))).scalars().all()
            # acknowledgements of resolved incidents not settled yet: waiting, or sent without a follow-up
            later = replies.alias("later")
            pending = [(iid, r) for iid in resolved_ids for r in (await conn.execute(
                select(replies.c.id, replies.c.status)
                .outerjoin(later, later.c.thread_key == replies.c.thread_key + FOLLOW_UP)
                .where(replies.c.thread_key.like(f"incident:{iid}:%"), ~replies.c.thread_key.like(f"%{FOLLOW_UP}"),
                       later.c.id.is_(None), replies.c.status.in_(("sent", "held", "approved")))
                .order_by(replies.c.id))).all()]
        written = 0
        for iid in open_ids:
            written += await self._acknowledge(iid, now)
        for iid, r in pending:
            action = after_resolve(r.status)
            if action == "withdraw":
                out = await desk.skip(self.engine, r.id, f"incident #{iid} resolved", now=now)
                if out.ok:
                    self.stats.withdrawn += 1
            elif action == "follow_up":
                written += await self._follow_up(r.id, iid, now)
        if written and self.on_change:
            self.on_change()
        return written

    # ── while open ──────────────────────────────────────────────────────────────────────────
    async def _acknowledge(self, iid: int, now: float) -> int:
        cfg = self.voice.cfg
        written = 0
        async with self.engine.begin() as conn:
            # each author's first complaint about it, within the policy's age, not yet acknowledged
            first = (select(mentions.c.source, mentions.c.author_id, func.min(mentions.c.id).label("mid"))
                     .where(mentions.c.incident_id == iid, mentions.c.is_own.is_(False),
                            mentions.c.removed.is_(False),
                            or_(mentions.c.complaint.is_(True), mentions.c.category == ACK_CATEGORY),
                            mentions.c.created_at >= now - cfg.max_age_hours * HOUR)
                     .group_by(mentions.c.source, mentions.c.author_id).subquery())
            muted = select(suppressed_authors.c.author_id).where(suppressed_authors.c.source == first.c.source,
                                                                 suppressed_authors.c.author_id == first.c.author_id)
            done = select(replies.c.id).where(
                replies.c.thread_key == literal(f"incident:{iid}:") + first.c.source + ":" + first.c.author_id)
            rows = (await conn.execute(select(mentions).join(first, mentions.c.id == first.c.mid)
                                       .where(~muted.exists(), ~done.exists()).order_by(mentions.c.id))).all()
            for m in rows:
                written += await self._acknowledge_one(conn, iid, m, now)
        return written

    async def _acknowledge_one(self, conn: AsyncConnection, iid: int, m: Any, now: float) -> int:
        key = f"{m.source}:{m.conversation_id or m.external_id}"  # the thread's own reply (outreach/replies.py)
        answered = (await conn.execute(select(func.count()).select_from(replies).where(
            replies.c.thread_key == key))).scalar_one() > 0 or (await conn.execute(
                select(func.count()).select_from(mentions).where(
                    mentions.c.source == m.source, mentions.c.is_own.is_(True),
                    mentions.c.conversation_id == (m.conversation_id or m.external_id)))).scalar_one() > 0
        last = (await conn.execute(select(func.max(replies.c.created_at)).where(
            replies.c.source == m.source, replies.c.author_id == m.author_id,
            replies.c.status.in_(desk.ANSWERED)))).scalar()
        c = Candidate(m.author_username, m.author_id, ACK_CATEGORY, m.created_at, is_own=m.is_own)
        d = decide(c, History(answered, last), self.voice.cfg, now=now, own_handles=self.voice.own_handles)
        if d.action == "none":
            return 0
        key = ack_key(iid, m.source, m.author_id)
        return await self._write(conn, iid, m, key, ACK_CATEGORY, d, now,
                                 head=subject(key, 0, username=m.author_username))

    # ── once resolved ───────────────────────────────────────────────────────────────────────
    async def _follow_up(self, ack_id: int, iid: int, now: float) -> int:
        d = follow_up_decision(self.mode)
        if d.action == "none":
            return 0
        async with self.engine.begin() as conn:
            ack = (await conn.execute(select(replies).where(replies.c.id == ack_id))).first()
            m = (await conn.execute(select(mentions).where(mentions.c.id == ack.mention_id))).first() if ack else None
            if ack is None or m is None:
                return 0
            key = follow_up_key(ack.thread_key)
            return await self._write(conn, iid, m, key, FOLLOW_UP_CATEGORY, d, now,
                                     head=subject(key, ack.ticket_id, username=m.author_username),
                                     ticket_id=ack.ticket_id)

    async def _write(self, conn: AsyncConnection, iid: int, m: Any, key: str, category: str, d: Decision,
                     now: float, *, head: str, ticket_id: int | None = None) -> int:
        from monitor.cockpit import ticket_of  # a complainer without a ticket gets one: the reply is its response

        tid = ticket_id if ticket_id is not None else await ticket_of(conn, m.id, now)
        ctx = Context.of(username=m.author_username, display_name=m.author_name, ticket_id=tid,
                         status_link=self.status_url, brand=self.voice.brand)
        text = self.voice.templates.render(category, m.lang, ctx, source=m.source)
        try:
            check_public(text, self.forbidden)
        except UnsafePublicText as e:
            self.stats.unsafe += 1
            log.warning("incident_reply.unsafe_text", incident=iid, problem=str(e))
            return 0
        status = {"dry_run": "dry_run", "hold": "held", "auto": "approved"}[d.action]
        rid = (await conn.execute(insert_for(conn, replies).values(
            thread_key=key, ticket_id=tid, mention_id=m.id, source=m.source, author_id=m.author_id,
            category=category, lang=(m.lang or "en")[:16], policy=self.mode, status=status, private=False,
            text=text, reason=d.reason[:200], created_at=now,
            outbox_key=desk.outbox_key(key) if status == "approved" else None,
            decided_at=now if status == "approved" else None, decided_by="policy" if status == "approved" else None,
        ).on_conflict_do_nothing(index_elements=["thread_key"]).returning(replies.c.id))).scalar()
        if rid is None:
            return 0  # another daemon decided it a moment ago
        effects = desk.reply_effects(m.source, key, rid, 2, tid, dm=False) if status == "approved" else []
        if self.slack_channel:
            effects.append(NewEffect(f"slack.reply:{rid}", desk.SLACK_KIND, self.slack_channel,
                                     desk.draft_message(rid, tid, text, status, d.reason, subject=head),
                                     priority=2, about=f"reply:{rid}", thread_of=f"incident:{iid}"))
        await enqueue(conn, effects, now=now)
        await conn.execute(insert_for(conn, ticket_events).values(
            ticket_id=tid, kind=f"reply_{status}", at=now, ref=str(rid), detail=f"incident #{iid}: {d.reason}"[:200]))
        counts = self.stats.follow_ups if category == FOLLOW_UP_CATEGORY else self.stats.acknowledged
        counts[status] = counts.get(status, 0) + 1
        log.info("incident_reply.planned", incident=iid, reply=rid, kind=category, status=status)
        return 1


async def answered_post(conn: AsyncConnection, thread_key: str) -> str | None:
    """For a follow-up: the id of our acknowledgement on the platform (the post it answers)."""
    ack = acknowledged_by(thread_key)
    if ack is None:
        return None
    return (await conn.execute(select(replies.c.ref).where(and_(replies.c.thread_key == ack,
                                                                replies.c.status == "sent")))).scalar()


def attach_acks(runner: Any, cfg: Any, voice: desk.Voice, forbidden: list[str]) -> IncidentAcks:
    """Add the job to the health runner (lease holder only)."""
    acks = IncidentAcks(runner.engine, voice, cfg.incidents.status_url or cfg.tickets.replies.status_link,
                        runner.tracker.slack_channel, forbidden, clock=runner.clock,
                        on_change=runner.tracker.on_change)
    runner.acks = acks
    runner.add_job("incident_replies", acks.run, 2.0)
    return acks
