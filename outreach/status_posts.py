"""The public status post on X about an incident: one per state, always held for a person's approval.

With `incidents.cadence.public_post: true`, each state a public incident reaches (investigating,
identified, monitoring, resolved) gets ONE post on the brand's timeline, written from the
`public_post` template (outreach/templates.py: public facts only, refused when it names a host, an
IP address or a check). It is never automatic: it waits in the incident's Slack thread with
Approve / Edit / Skip for the reply approvers, or `outreach-monitor replies approve ID` — the same
rows, buttons, caps, quiet hours and kill switch as the public replies (`replies` table, thread key
`status:incident:<id>:<state>`, outbox key `reply:<thread key>`).

What to do with a state's post, given what exists (`plan`, pure, tested as a table):

    the incident's state      earlier posts                   │ action
    ──────────────────────────────────────────────────────────┼───────────────────────────────────
    open, this state          none for this state             │ hold a post for it
    resolved                  one was sent (customers heard)  │ hold the all-clear post
    resolved                  none was sent                   │ nothing (nobody heard of it publicly)
    any                       held for an older state         │ withdraw it (an outdated post helps nobody)
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.outbox import NewEffect, enqueue
from monitor.storage.dialect import insert_for
from monitor.storage.schema import incident_updates, incidents, replies
from outreach import replies as desk
from outreach.reply_subject import subject
from outreach.templates import PublicFacts, Templates, UnsafePublicText

log = structlog.get_logger("status_posts")

PREFIX = "status:incident:"
CATEGORY = "status_post"
WINDOW = 24 * 3600.0  # resolved incidents still looked at (for their all-clear post)
NO_TICKET = 0  # a status post answers nobody: no ticket, no mention


def status_key(incident_id: int, state: str) -> str:
    return f"{PREFIX}{incident_id}:{state}"


def is_status_post(thread_key: str) -> bool:
    return thread_key.startswith(PREFIX)


def status_of(thread_key: str) -> tuple[int, str]:
    """The incident and state a status post's key names (the inverse of `status_key`)."""
    iid, state = thread_key[len(PREFIX):].split(":", 1)
    return int(iid), state


@dataclass(frozen=True)
class Plan:
    post: bool  # hold a post for the incident's current state
    withdraw: tuple[str, ...]  # states whose held posts are out of date


def plan(state: str, existing: Mapping[str, str]) -> Plan:
    """`existing`: state → status of its post (held, approved, sent, skipped)."""
    stale = tuple(s for s, st in existing.items() if s != state and st == "held")
    if state in existing:
        return Plan(False, stale)
    if state == "resolved" and "sent" not in existing.values() and "approved" not in existing.values():
        return Plan(False, stale)
    return Plan(True, stale)


@dataclass
class StatusPosts:
    engine: AsyncEngine
    templates: Templates  # the notices' templates, with the internal words to refuse
    source: str  # the X source that posts
    public_names: dict[str, str]
    brand: str
    status_url: str
    slack_channel: str | None
    max_len: int = 280
    clock: Callable[[], float] = time.time
    on_change: Callable[[], None] | None = None
    held: int = 0
    unsafe: int = 0
    _refused: set[int] = field(default_factory=set)  # updates already logged as unsafe

    async def run(self) -> int:
        now = self.clock()
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(incidents).where(
                incidents.c.public.is_(True),
                (incidents.c.status != "resolved") | (incidents.c.resolved_at >= now - WINDOW))
                .order_by(incidents.c.id))).mappings().all()
        written = 0
        for row in rows:
            written += await self._one(row, now)
        if written and self.on_change:
            self.on_change()
        return written

    async def _one(self, inc: Any, now: float) -> int:
        iid = inc["id"]
        async with self.engine.begin() as conn:
            existing = {r.thread_key.rsplit(":", 1)[1]: r.status for r in await conn.execute(
                select(replies.c.thread_key, replies.c.status).where(replies.c.thread_key.like(f"{PREFIX}{iid}:%")))}
            p = plan(inc["status"], existing)
            posted = 0
            if p.post:
                latest = (await conn.execute(select(incident_updates).where(
                    incident_updates.c.incident_id == iid, incident_updates.c.message != "",
                    incident_updates.c.status == inc["status"]).order_by(incident_updates.c.id.desc()).limit(1))
                ).mappings().first()
                if latest is not None:
                    posted = await self._hold(conn, inc, latest, now)
        for state in p.withdraw:
            rid = await self._id(status_key(iid, state))
            if rid is not None:
                await desk.skip(self.engine, rid, f"incident #{iid} is {inc['status']} now", now=now)
        return posted

    async def _id(self, key: str) -> int | None:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(replies.c.id).where(replies.c.thread_key == key))).scalar()

    async def _hold(self, conn: Any, inc: Any, latest: Any, now: float) -> int:
        iid = inc["id"]
        facts = PublicFacts(service=self.public_names.get(inc["service"], inc["service"]), status=inc["status"],
                            message=latest["message"],
                            started=datetime.fromtimestamp(inc["opened_at"], UTC).strftime("%H:%M UTC"),
                            status_url=self.status_url, brand=self.brand)
        try:
            text = " ".join(self.templates.render("public_post", facts).split())
        except UnsafePublicText as e:
            if latest["id"] not in self._refused:  # the notices' job tells the team in the thread
                self._refused.add(latest["id"])
                self.unsafe += 1
                log.warning("status_post.unsafe_text", incident=iid, update=latest["id"], problem=str(e))
            return 0
        if len(text) > self.max_len:
            text = text[: self.max_len - 1].rstrip() + "…"
        key = status_key(iid, inc["status"])
        reason = "a public status post always waits for a person's approval"
        rid = (await conn.execute(insert_for(conn, replies).values(
            thread_key=key, ticket_id=NO_TICKET, mention_id=NO_TICKET, source=self.source, author_id="",
            category=CATEGORY, lang="en", policy="approve", status="held", private=False, text=text,
            reason=reason, created_at=now).on_conflict_do_nothing(index_elements=["thread_key"])
            .returning(replies.c.id))).scalar()
        if rid is None:
            return 0
        if self.slack_channel:
            head = subject(key, NO_TICKET, source=self.source)
            await enqueue(conn, [NewEffect(f"slack.reply:{rid}", desk.SLACK_KIND, self.slack_channel,
                                           desk.draft_message(rid, NO_TICKET, text, "held", reason, subject=head),
                                           priority=1, about=f"reply:{rid}", thread_of=f"incident:{iid}")], now=now)
        self.held += 1
        log.info("status_post.held", incident=iid, reply=rid, state=inc["status"])
        return 1


def attach_status_posts(runner: Any, cfg: Any, repliers: Mapping[str, Any], templates: Templates) -> StatusPosts | None:
    """The job, when `incidents.cadence.public_post` is on and an X source can post."""
    if not cfg.incidents.cadence.public_post:
        return None
    source = next((name for name, s in repliers.items() if callable(getattr(s, "post_status", None))), None)
    if source is None:
        log.warning("status_post.no_source", note="incidents.cadence.public_post needs an X source with user_token")
        return None
    posts = StatusPosts(runner.engine, templates, source, {s.name: s.display for s in cfg.services}, cfg.brand.name,
                        cfg.incidents.status_url, runner.tracker.slack_channel, clock=runner.clock,
                        on_change=runner.tracker.on_change)
    runner.status_posts = posts
    runner.add_job("status_posts", posts.run, 2.0)
    return posts
