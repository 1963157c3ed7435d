"""The message registry: which Slack message (channel id, ts, thread) is about which ticket, incident or mention.

Written by the outbox in the transaction that marks a row sent (monitor/outbox.mark_sent), so it is
exactly as true as the outbox. Threads, `chat.update`, buttons and escalation read it.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from monitor.delivery import OutboxItem, Posted
from monitor.storage.dialect import insert_for
from monitor.storage.schema import slack_messages


@dataclass(frozen=True)
class Message:
    outbox_key: str
    lane: str
    channel_id: str
    ts: str
    thread_ts: str | None
    about: str | None
    posted_at: float

    @property
    def posted(self) -> Posted:
        return Posted(self.channel_id, self.ts, self.thread_ts)


async def record(conn: AsyncConnection, item: OutboxItem, posted: Posted, *, now: float) -> None:
    await conn.execute(
        insert_for(conn, slack_messages)
        .values(outbox_key=item.key, lane=item.lane, channel_id=posted.channel_id, ts=posted.ts,
                thread_ts=posted.thread_ts, about=item.about, posted_at=now)
        .on_conflict_do_nothing(index_elements=["outbox_key"])
    )


def _message(r) -> Message:  # type: ignore[no-untyped-def]
    return Message(r.outbox_key, r.lane, r.channel_id, r.ts, r.thread_ts, r.about, r.posted_at)


_COLUMNS = (slack_messages.c.outbox_key, slack_messages.c.lane, slack_messages.c.channel_id, slack_messages.c.ts,
            slack_messages.c.thread_ts, slack_messages.c.about, slack_messages.c.posted_at)


async def thread_root(conn: AsyncConnection, about: str, lane: str) -> Posted | None:
    """The first top-level message about `about` in `lane` (the thread later messages go into), if posted."""
    r = (
        await conn.execute(
            select(*_COLUMNS)
            .where(slack_messages.c.about == about, slack_messages.c.lane == lane, slack_messages.c.thread_ts.is_(None))
            .order_by(slack_messages.c.id)
            .limit(1)
        )
    ).first()
    return None if r is None else Posted(r.channel_id, r.ts, None)


async def messages_about(conn: AsyncConnection, about: str) -> list[Message]:
    rows = await conn.execute(select(*_COLUMNS).where(slack_messages.c.about == about).order_by(slack_messages.c.id))
    return [_message(r) for r in rows]


async def find_by_ts(conn: AsyncConnection, channel_id: str, ts: str) -> Message | None:
    """The registered message a button click came from."""
    r = (
        await conn.execute(select(*_COLUMNS).where(slack_messages.c.channel_id == channel_id, slack_messages.c.ts == ts))
    ).first()
    return None if r is None else _message(r)
