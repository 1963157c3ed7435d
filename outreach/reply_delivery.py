"""The outbox handler that posts an approved public reply (kind "outreach.reply") through the source's connector.

Before the call, the checks that hold a reply without ever dropping it (outreach/policy.gate):
the kill switch, quiet hours, the hourly cap. They answer `RetryLater(counts=False, scope="lane")`:
the row waits, it is not an attempt, and the source's whole reply lane waits with it. Replies of a
source share one lane (one at a time across every daemon), so the cap is counted without a race.

Each request is charged to the source's budget when it is made — a row in the `spend` ledger —
before the call, so a crash after X accepted the post still leaves it charged.

Exactly once: X and Reddit have no idempotency key. The outbox marks the row in doubt before the
call; after a crash, `reconcile` asks the platform whether our reply to that post exists
(XSource.find_reply; RedditSource.reply itself looks first) and records it instead of posting again.
Connector errors become RetryLater / PermanentFailure in `_translate`, and nowhere else.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.base import AuthError, SourceError, TransientError
from monitor.delivery import OutboxItem, PermanentFailure, RetryLater
from monitor.models import Author, Mention
from monitor.storage.dialect import insert_for
from monitor.storage.schema import mentions, replies, spend
from outreach import replies as reply_store
from outreach.incident_replies import answered_post
from outreach.status_posts import is_status_post
from outreach.policy import HOUR, ReplyConfig, gate
from outreach.reply_templates import Context, Templates

KIND = reply_store.KIND
DM_KIND = reply_store.DM_KIND
POOL = {"x": "tweets", "reddit": "comment"}  # what a reply spends, by connector type


class Replier(Protocol):
    async def reply(self, to: Mention, text: str, *, key: str) -> str: ...


async def _never_paused(engine: AsyncEngine) -> bool:
    return False


class ReplyDelivery:
    kind = KIND

    def __init__(self, engine: AsyncEngine, cfg: ReplyConfig, repliers: Mapping[str, Replier], *,
                 paused: Callable[[AsyncEngine], Awaitable[bool]] = _never_paused,
                 clock: Callable[[], float] = time.time, min_interval: float = 2.0) -> None:
        self.engine = engine
        self.cfg = cfg
        self.repliers = dict(repliers)
        self.paused = paused
        self.clock = clock
        self._min_interval = min_interval
        self.on_sent: reply_store.OnSent | None = None  # what else a posted reply causes (the helpdesk comment)

    @property
    def min_interval(self) -> float:
        return self._min_interval

    async def deliver(self, item: OutboxItem) -> str:
        r, to = await self._load(item)
        if r.status == "sent" and r.ref:
            return str(r.ref)
        if r.status != "approved":
            raise PermanentFailure(f"reply {r.id} is {r.status}, not approved: not posted")
        now = self.clock()
        wait = gate(now=now, paused=await self.paused(self.engine),
                    sent_last_hour=await reply_store.sent_since(self.engine, now - HOUR), cfg=self.cfg)
        if wait is not None:
            raise RetryLater(f"reply {r.id} held: {wait[1]}", retry_after=wait[0], counts=False, scope="lane")
        replier = self._replier(r.source)
        await self._charge(r.source, item.key, now, pool=POOL.get(getattr(replier, "name", ""), "reply"))
        try:
            # an incident's status post (outreach/status_posts.py) answers nobody: on the timeline
            ref = await (replier.reply(to, r.text, key=item.key) if to is not None
                         else self._poster(replier).post_status(r.text, key=item.key))
        except SourceError as e:
            raise _translate(e) from e
        await reply_store.record_sent(self.engine, r.id, ref, now=self.clock(), asked_at=now, on_sent=self.on_sent)
        return ref

    async def reconcile(self, item: OutboxItem) -> str | None:
        r, to = await self._load(item)
        if r.status == "sent" and r.ref:
            return str(r.ref)
        replier = self._replier(r.source)
        find = getattr(replier, "find_reply", None) if to is not None else self._poster(replier).find_status
        if find is None:
            return None  # the connector's reply() looks for an earlier one itself (Reddit)
        await self._charge(r.source, item.key + ":lookup", self.clock(), pool="search")
        try:
            ref = await (find(to) if to is not None else find(r.text))
        except SourceError as e:
            raise _translate(e) from e
        if ref is not None:
            await reply_store.record_sent(self.engine, r.id, ref, now=self.clock(), on_sent=self.on_sent)
        return ref

    def _replier(self, source: str) -> Replier:
        replier = self.repliers.get(source)
        if replier is None:
            raise PermanentFailure(f"source {source!r} cannot reply (not configured, or its connector has no reply)")
        return replier

    @staticmethod
    def _poster(replier: Replier) -> Any:
        if not callable(getattr(replier, "post_status", None)):
            raise PermanentFailure("this source cannot post a status (only X can)")
        return replier

    async def _load(self, item: OutboxItem) -> tuple[Any, Mention | None]:
        """The reply row, and the post it answers (None for a status post, which answers nobody)."""
        async with self.engine.connect() as conn:
            r = (await conn.execute(select(replies).where(replies.c.id == item.payload.get("reply_id")))).first()
            if r is None:
                raise PermanentFailure(f"reply {item.payload.get('reply_id')} does not exist")
            if is_status_post(r.thread_key):
                return r, None
            m = (await conn.execute(select(mentions).where(mentions.c.id == r.mention_id))).first()
            # an incident's follow-up answers our acknowledgement, not the complaint again (and a lookup
            # after a crash must not take the acknowledgement for the follow-up)
            ours = await answered_post(conn, r.thread_key)
        if m is None:
            raise PermanentFailure(f"the post reply {r.id} answers is no longer stored")
        to = Mention(source=m.source, external_id=ours or m.external_id, text="", conversation_id=m.conversation_id,
                     author=Author(m.author_id, m.author_username, m.author_name), created_at=datetime.fromtimestamp(m.created_at, UTC))
        return r, to

    async def _charge(self, source: str, what: str, now: float, *, pool: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert_for(conn, spend).values(
                source=source, pool=pool, requests=1, at=now, what=what[:200]))


class DmDelivery:
    """The private hand-off's direct message (kind "outreach.dm"), written from the `dm` template.

    Held by the same kill switch and quiet hours as public replies (it is the brand speaking). X has
    no idempotency key and no cheap way to find a DM again, so `reconcile` cannot prove a DM in
    doubt landed: it is sent again (a repeated hand-off note, never a lost one).
    """

    kind = DM_KIND

    def __init__(self, replies: ReplyDelivery, templates: Templates, *, brand: str = "") -> None:
        self.replies = replies
        self.templates = templates
        self.brand = brand

    @property
    def min_interval(self) -> float:
        return self.replies.min_interval

    async def deliver(self, item: OutboxItem) -> str:
        rd = self.replies
        r, to = await rd._load(item)
        if to is None:
            raise PermanentFailure(f"reply {r.id} is a status post: it has no direct message")
        if r.status not in ("approved", "sent"):
            raise PermanentFailure(f"reply {r.id} is {r.status}: its direct message is not sent")
        now = rd.clock()
        wait = gate(now=now, paused=await rd.paused(rd.engine), sent_last_hour=[], cfg=rd.cfg)
        if wait is not None:
            raise RetryLater(f"direct message held: {wait[1]}", retry_after=wait[0], counts=False, scope="lane")
        replier = rd._replier(r.source)
        send = getattr(replier, "send_dm", None)
        if send is None:
            raise PermanentFailure(f"source {r.source!r} cannot send direct messages")
        ctx = Context.of(username=to.author.username, display_name=to.author.name, ticket_id=r.ticket_id,
                         brand=self.brand)
        text = self.templates.render("dm", r.lang, ctx, source=r.source)
        await rd._charge(r.source, item.key, now, pool="dm")
        try:
            return str(await send(to.author.id, text, key=item.key))
        except SourceError as e:
            raise _translate(e) from e

    async def reconcile(self, item: OutboxItem) -> str | None:
        return None


def _translate(e: SourceError) -> Exception:
    if isinstance(e, TransientError):
        return RetryLater(f"reply not posted yet: {e}", retry_after=e.retry_after,
                          counts=not getattr(e, "rate_limited", False))
    if isinstance(e, AuthError):
        # a person must fix the credentials; the reply waits, however long, without using attempts
        return RetryLater(f"the account cannot post: {e}", retry_after=60.0, counts=False, scope="lane")
    return PermanentFailure(f"reply refused: {e}")
