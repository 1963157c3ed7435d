"""One poll's worth of mentions into the database: stored, triaged, ticketed, alerted, cursor saved.

Three steps: read what is already known (no write lock), triage the new items (CPU, outside any
transaction, so another source's write can go on meanwhile), then write mentions, tickets, outbox
rows and the cursor in ONE transaction — the cursor never runs ahead of what is stored, and an
alert is never decided without its mention (and vice versa). Killed at any point, nothing or all
of a poll is written; the next poll fetches the same items again and the unique
(source, external_id) makes that harmless.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerts.mention_alert import MentionView
from alerts.mention_delivery import KIND as MENTION_ALERT
from alerts.routing import channel_for
from alerts.storm import StormRule
from monitor import helpdesk_sync, incidents, ticket_resolver
from monitor.alert_flow import route_alerts
from monitor.cockpit import suppressed
from monitor.models import URGENCIES, Batch, Mention, Verdict, withheld_in
from monitor.outbox import PRIORITY, NewEffect, enqueue
from monitor.storage.dialect import insert_for
from monitor.storage.engine import READ_ONLY
from monitor.storage.schema import cursors, mentions
from monitor.triage import Triage
from monitor.triage.batch import triage_off_loop
from outreach import replies
from outreach.replies import Voice

DAY = 86_400.0


@dataclass(frozen=True)
class AlertPolicy:
    channels: dict[str, str | None]  # urgency -> Slack channel (None: no alert)
    min_urgency: str = "normal"
    storm: StormRule | None = None  # storm control (alerts.storm); None: every alert on its own
    # streams stored for share of voice only (competitors, monitor/digest/competitors.py): no ticket,
    # no incident, no alert, no reply
    listen_only: frozenset[str] = frozenset()
    # decided in the same transaction as the alerts: which ticket a post joins (the window for a
    # returning customer) and whether the brand answers in public (outreach/replies.py; None: never)
    ticket_window: float = ticket_resolver.DEFAULT_WINDOW_S
    voice: Voice | None = None
    helpdesk: str | None = None  # mirror tickets in this helpdesk (tickets.helpdesk.kind; monitor/helpdesk_sync.py)

    def channel(self, verdict: Verdict) -> str | None:
        if URGENCIES.index(verdict.urgency) > URGENCIES.index(self.min_urgency):  # type: ignore[arg-type]
            return None
        return channel_for(verdict.urgency, self.channels)


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    alerts: int = 0
    tickets_opened: int = 0
    tickets_joined: int = 0
    responses: int = 0  # the brand's own posts recorded as answers on a ticket
    replies: dict[str, int] = field(default_factory=dict)  # replies drafted / held / queued / refused
    by_urgency: Counter[str] = field(default_factory=Counter)


def alert_key(m: Mention) -> str:
    return f"slack.mention:{m.source}:{m.external_id}"


def _posting_order(m: Mention) -> tuple[object, int, str]:
    """Time, then id: two posts in one millisecond keep the platform's order (ids grow), so a reply
    never counts as before the message it answered."""
    return (m.created_at, len(m.external_id), m.external_id)


async def _known_ids(conn: AsyncConnection, source: str, ids: Sequence[str]) -> set[str]:
    rows = await conn.execute(
        select(mentions.c.external_id).where(mentions.c.source == source, mentions.c.external_id.in_(ids))
    )
    return {r[0] for r in rows}


async def _recent_contacts(conn: AsyncConnection, source: str, authors: set[str], since: float) -> Counter[str]:
    if not authors:
        return Counter()
    rows = await conn.execute(
        select(mentions.c.author_id, func.count())
        .where(mentions.c.source == source, mentions.c.author_id.in_(authors), mentions.c.created_at >= since)
        .group_by(mentions.c.author_id)
    )
    return Counter({a: n for a, n in rows})


async def ingest(
    engine: AsyncEngine,
    batch: Batch,
    *,
    source: str,
    triage: Triage,
    policy: AlertPolicy | None,
    clock: Callable[[], float] = time.time,
) -> IngestResult:
    now = clock()
    result = IngestResult()
    # A page can repeat an item (X pages overlap when new posts arrive mid-paging): keep the first.
    unique: dict[str, Mention] = {}
    for m in batch.mentions:
        unique.setdefault(m.external_id, m)

    # 1. read what is already known (no write lock: a concurrent poll's write goes on meanwhile)
    async with engine.connect() as conn:
        await conn.execution_options(**READ_ONLY)
        known = await _known_ids(conn, source, list(unique)) if unique else set()
        fresh = sorted((m for eid, m in unique.items() if eid not in known), key=_posting_order)
        customers = {m.author.id for m in fresh if not (m.is_own or m.removed)}
        contacts = await _recent_contacts(conn, source, customers, now - DAY)
        # authors the team marked as spam from Slack: stored as usual, never alerted on again
        muted = await suppressed(conn, source, customers)
        open_incidents = await incidents.open_incidents(conn) if fresh else []
    incident_names = [t for i in open_incidents for t in i.terms]  # triage scores a post naming one higher
    result.duplicates = len(batch.mentions) - len(fresh)

    # 2. triage, outside any transaction and off the event loop (a thread): CPU work that polls,
    #    delivery and /healthz must not wait for (monitor/triage/batch.py)
    verdicts = await triage_off_loop(triage, fresh, contacts, incident_names)

    # 3. write mentions, tickets, outbox rows and the cursor in ONE transaction. A daemon that stored
    #    some of these between 1 and 3 wins the unique keys; we count those as duplicates.
    async with engine.begin() as conn:
        rows = []
        for m, v in zip(fresh, verdicts):
            row = {
                "source": source,
                "external_id": m.external_id,
                "stream": m.stream,
                "author_id": m.author.id,
                "author_username": m.author.username,
                "author_name": m.author.name,
                "author_followers": m.author.followers,
                "text": m.text,
                "url": m.url,
                "conversation_id": m.conversation_id,
                "in_reply_to": m.in_reply_to,
                "quoted_id": m.quoted_id,
                "lang": m.lang,
                "metrics": m.metrics or None,
                "is_own": m.is_own,
                "removed": m.removed,
                "withheld": withheld_in(m),
                "created_at": m.created_at.timestamp(),
                "fetched_at": now,
                "ticket_id": None,  # set below, once we know which mentions are ours to store
                "incident_id": None if policy is not None and m.stream in policy.listen_only
                else _incident_of(m, v, open_incidents),
                "urgency": None,
                "category": None,
                "complaint": None,
                "actionable": None,
                "sentiment": None,
                "score": None,
                "confidence": None,
                "reasons": None,
            }
            if v is not None:
                row.update(
                    urgency=v.urgency,
                    category=v.category,
                    complaint=v.complaint,
                    actionable=v.actionable,
                    sentiment=v.sentiment,
                    score=v.score,
                    confidence=v.confidence,
                    reasons=list(v.reasons),
                )
                result.by_urgency[v.urgency] += 1
            rows.append(row)

        ids: dict[str, int] = {}
        if rows:
            stmt = (
                insert_for(conn, mentions)
                .on_conflict_do_nothing(index_elements=["source", "external_id"])
                .returning(mentions.c.id, mentions.c.external_id)
            )
            ids = {eid: mid for mid, eid in (await conn.execute(stmt, rows)).all()}
        result.stored = len(ids)
        result.duplicates += len(rows) - len(ids)  # another daemon stored them between our read and write

        # tickets follow the customer (monitor/ticket_resolver.py); only what this poll stored counts
        listen_only = policy.listen_only if policy is not None else frozenset()
        applied = await ticket_resolver.apply(
            conn, source, [ticket_resolver.item_of(m, v) for m, v in zip(fresh, verdicts)
                               if m.external_id in ids and not m.removed  # nobody left to follow
                               and m.stream not in listen_only],
            now=now, window=policy.ticket_window if policy is not None else ticket_resolver.DEFAULT_WINDOW_S)
        ticket_ids = applied.assign
        result.tickets_opened = applied.opened
        result.tickets_joined = applied.joined
        result.responses = applied.responses
        if policy is not None and policy.helpdesk is not None and applied.events:
            # the helpdesk hears of a ticket and its posts in the transaction that decided them
            urgency = {m.external_id: v.urgency if v is not None else None for m, v in zip(fresh, verdicts)}
            await enqueue(conn, helpdesk_sync.ingest_effects(policy.helpdesk, source, applied.events, urgency), now=now)

        effects = []
        if policy is not None:
            incident_of = {r["external_id"]: r["incident_id"] for r in rows if r["incident_id"] is not None}
            for m, v in zip(fresh, verdicts):
                if v is None or m.external_id not in ids or m.author.id in muted or m.stream in listen_only:
                    continue
                channel = policy.channel(v)
                if channel is None:
                    continue
                ticket_id = ticket_ids.get(m.external_id)
                view = MentionView.from_models(ids[m.external_id], m, v, ticket_id=ticket_id)
                about = f"ticket:{ticket_id}" if ticket_id is not None else f"mention:{ids[m.external_id]}"
                payload = view.to_payload()
                if m.external_id in incident_of:  # storm control collapses it into the incident's thread
                    payload["incident_id"] = incident_of[m.external_id]
                effects.append(NewEffect(alert_key(m), MENTION_ALERT, channel, payload,
                                         priority=PRIORITY[v.urgency], about=about))
        if effects and policy is not None:  # threads and storm control decide where each alert goes
            effects = await route_alerts(conn, effects, now=now, storm=policy.storm)
        result.alerts = await enqueue(conn, [e for e in effects if e.kind == MENTION_ALERT], now=now)
        await enqueue(conn, [e for e in effects if e.kind != MENTION_ALERT], now=now)  # parent updates, storms
        if policy is not None and policy.voice is not None and applied.customer_posts:
            # after the alerts: a reply's Slack draft goes into the thread its ticket's alert starts
            customers = set(applied.customer_posts)
            # a complaint about a public incident is answered by the incident's acknowledgement instead
            # (outreach/incident_replies.py: one per person per incident, and a follow-up when it is over)
            public = {i.id for i in open_incidents if i.public}
            about_public = {r["external_id"] for r in rows if r["incident_id"] in public}
            posts = [(ids[m.external_id], m, v, ticket_ids[m.external_id]) for m, v in zip(fresh, verdicts)
                     if v is not None and v.actionable and m.external_id in customers
                     and m.external_id not in about_public
                     and m.author.id not in muted]  # the team said spam: never answered either
            result.replies = await replies.plan(conn, policy.voice, posts, now=now)

        if batch.cursors:
            cur_rows = [
                {"source": source, "stream": c.stream, "value": c.value, "updated_at": now} for c in batch.cursors
            ]
            ins = insert_for(conn, cursors)
            await conn.execute(
                ins.on_conflict_do_update(
                    index_elements=["source", "stream"],
                    set_={"value": ins.excluded.value, "updated_at": ins.excluded.updated_at},
                ),
                cur_rows,
            )
    return result


def _incident_of(m: Mention, v: Verdict | None, open_: list[incidents.OpenIncident]) -> int | None:
    """The open incident a complaint or outage report is about (attached to it: acknowledgements, spikes)."""
    if v is None or not open_ or not (v.complaint or v.category == "outage"):
        return None
    found = incidents.match(m.text, v.category, open_)
    return found.id if found else None


async def load_cursors(engine: AsyncEngine, source: str) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(cursors.c.stream, cursors.c.value).where(cursors.c.source == source))
        return {s: v for s, v in rows}
