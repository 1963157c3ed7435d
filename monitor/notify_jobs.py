"""The cadence job: for each public incident, tell subscribers when a notice is due (outreach/notices.py).

One transaction per incident: the reminder update (if one is due), every subscriber's outbox row
and the incident's "customers last heard update U at T" are written together, so a crash either
sends the whole notice later or has already queued all of it — and the keys make a replay a no-op.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.outbox import NewEffect, enqueue
from monitor.storage.schema import incident_updates, incidents
from outreach import notices
from outreach import subscribers as subscriber_table
from outreach.templates import Templates, UnsafePublicText

log = structlog.get_logger("notices")


@dataclass
class NoticeStats:
    email: int = 0
    webhook: int = 0
    apprise: int = 0
    held_unsafe: int = 0
    by_incident: dict[int, int] = field(default_factory=dict)


@dataclass
class Notifier:
    engine: AsyncEngine
    subscribers: list[notices.Subscriber]
    templates: Templates
    public_names: dict[str, str]
    brand: str
    status_url: str
    first_after: float
    every: float
    clock: Callable[[], float] = time.time
    on_change: Callable[[], None] | None = None
    slack_channel: str | None = None  # the incidents' channel: told when a notice is held
    stats: NoticeStats = field(default_factory=NoticeStats)

    async def run(self) -> int:
        """Queue every notice that is due now. Returns the number of outbox rows written."""
        async with self.engine.connect() as conn:
            ids = (await conn.execute(select(incidents.c.id).where(
                incidents.c.public.is_(True),
                # open ones, and resolved ones whose customers heard of them but not yet of the end
                or_(incidents.c.status != "resolved", and_(incidents.c.noticed_update_id.is_not(None),
                                                           incidents.c.noticed_at <= incidents.c.resolved_at)))
                .order_by(incidents.c.id))).scalars().all()
            subs = await subscriber_table.everyone(conn, self.subscribers)  # the table's too: no restart needed
        written = 0
        for iid in ids:
            written += await self._one(iid, subs)
        if written and self.on_change:
            self.on_change()
        return written

    async def _one(self, iid: int, subs: list[notices.Subscriber]) -> int:
        now = self.clock()
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(incidents).where(incidents.c.id == iid).with_for_update())).mappings().one()
            # the latest update customers may read (notes for the team have no message)
            latest = (await conn.execute(select(incident_updates).where(incident_updates.c.incident_id == iid,
                                                                        incident_updates.c.message != "")
                                         .order_by(incident_updates.c.id.desc()).limit(1))).mappings().first()
            if latest is None:
                return 0
            kind = notices.due(public=bool(row["public"]), resolved=row["status"] == "resolved",
                               opened_at=row["opened_at"], latest_update=latest["id"],
                               told_update=row["noticed_update_id"], told_at=row["noticed_at"], now=now,
                               first_after=self.first_after, every=self.every)
            if kind is None:
                return 0
            name = self.public_names.get(row["service"], row["service"])
            if kind == "reminder":
                when = datetime.fromtimestamp(now, UTC).strftime("%H:%M UTC")
                message = f"We are still working on the problem with {name} ({when}). We will update you again."
                uid = (await conn.execute(incident_updates.insert().values(
                    incident_id=iid, status=row["status"], message=message, note="cadence reminder", by="cadence",
                    created_at=now).returning(incident_updates.c.id))).scalar_one()
                latest = {"id": uid, "message": message, "created_at": now}
            facts = notices.IncidentFacts(iid, row["service"], name, row["title"], row["status"], row["impact"],
                                          latest["message"], latest["id"], row["opened_at"], latest["created_at"],
                                          row["resolved_at"])
            effects = []
            try:
                for sub in subs:
                    if not sub.wants(row["service"]):
                        continue
                    digest, payload = notices.build(facts, sub, self.templates, brand=self.brand,
                                                    status_url=self.status_url)
                    effects.append(NewEffect(notices.notice_key(facts, sub, digest), f"{sub.kind}.notice",
                                             sub.target, payload, priority=2, about=f"incident:{iid}"))
            except UnsafePublicText as e:
                # The update names something internal (a host, an IP, a check): nobody gets it, and the
                # team hears why in the incident's thread; a corrected update goes out as usual.
                self.stats.held_unsafe += 1
                log.warning("notice.unsafe_text", incident=iid, update=latest["id"], problem=str(e))
                effects = [] if not self.slack_channel else [NewEffect(
                    f"incident:{iid}:held:{latest['id']}", "slack.message", self.slack_channel,
                    held_note(iid, str(e)), priority=1, about=f"incident:{iid}", thread_of=f"incident:{iid}")]
            added = await enqueue(conn, effects, now=now)
            await conn.execute(update(incidents).where(incidents.c.id == iid)
                               .values(noticed_update_id=latest["id"], noticed_at=now))
        for e in effects:
            if e.kind == "email.notice":
                self.stats.email += 1
            elif e.kind == "webhook.notice":
                self.stats.webhook += 1
            elif e.kind == "apprise.notice":
                self.stats.apprise += 1
        log.info("notice.queued", incident=iid, kind=kind, rows=added)
        return added


def held_note(incident_id: int, problem: str) -> dict[str, Any]:
    text = (f":no_entry: The latest update of incident #{incident_id} was *not sent to customers*: it {problem}. "
            "Post a corrected update (`outreach-monitor incidents update`) and it goes out on the cadence.")
    return {"text": f"Incident #{incident_id}: update held, it {problem}",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def forbidden_words(cfg: Any) -> list[str]:
    """What public texts must never contain: check names, the hosts they probe, status-page names."""
    words: list[str] = []
    for c in cfg.checks:
        words.append(c.name)
        host = urlsplit(c.url).hostname
        if host:
            words.append(host)
    for p in cfg.statuspages:
        host = urlsplit(p.url).hostname
        if host:
            words.append(host)
    return words


def subscribers_from(cfg: Any) -> list[notices.Subscriber]:
    return [notices.Subscriber(s.address, s.kind, tuple(s.services), tuple(s.regions),
                               tuple(s.segments)) for s in cfg.subscribers]


def attach_notices(runner: Any, cfg: Any) -> Notifier | None:
    """Add the cadence job to the health runner (lease holder only), when there are subscribers or services
    (subscribers may be added to the table while the daemon runs)."""
    if not cfg.subscribers and not cfg.services:
        return None
    notifier = Notifier(runner.engine, subscribers_from(cfg), Templates(cfg.incidents.templates,
                                                                        forbidden=forbidden_words(cfg)),
                        {s.name: s.display for s in cfg.services}, cfg.brand.name, cfg.incidents.status_url,
                        cfg.incidents.cadence.first_after, cfg.incidents.cadence.every, clock=runner.clock,
                        on_change=runner.tracker.on_change, slack_channel=runner.tracker.slack_channel)
    runner.notifier = notifier
    runner.add_job("notices", notifier.run, min(30.0, max(1.0, cfg.incidents.cadence.every / 10)))
    return notifier
