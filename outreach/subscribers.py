"""Subscribers kept in the database (`outreach-monitor subscribers add|list|remove`), beside the config's.

Only e-mail addresses and unsigned webhook URLs are stored: an apprise URL or a webhook's signing
secret is a credential and belongs in the config, from the environment. The notices' jobs read the
table on every run, so an added subscriber hears the next notice without a restart; one that is both
in the config and in the table is told once (the same (kind, address) is the same subscriber, and
its notices' keys are derived from it).
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from monitor.storage.dialect import insert_for
from monitor.storage.schema import subscribers
from outreach.notices import Subscriber


class SubscriberError(ValueError):
    """An address that cannot be a subscriber; the message says why."""


@dataclass(frozen=True)
class Stored:
    id: int
    subscriber: Subscriber
    added_by: str
    created_at: float


def parse_address(address: str) -> tuple[str, str]:
    """(kind, address) of an e-mail address or a webhook URL."""
    a = address.strip()
    if a.startswith(("http://", "https://")):
        return "webhook", a
    if "@" in a and " " not in a and "/" not in a and not a.startswith("@"):
        return "email", a.lower()
    raise SubscriberError(f"{address!r} is neither an e-mail address nor an http(s) webhook URL "
                          "(apprise URLs and signed webhooks go in the config's subscribers:, from the environment)")


async def add(conn: AsyncConnection, address: str, *, services: Sequence[str] = (), regions: Sequence[str] = (),
              segments: Sequence[str] = (), by: str = "", now: float | None = None) -> tuple[int, bool]:
    """(id, added now). Adding one that exists changes nothing and says so."""
    kind, addr = parse_address(address)
    rid = (await conn.execute(insert_for(conn, subscribers).values(
        kind=kind, address=addr, services=list(services) or None, regions=list(regions) or None,
        segments=list(segments) or None, added_by=by[:128], created_at=time.time() if now is None else now)
        .on_conflict_do_nothing(index_elements=["kind", "address"]).returning(subscribers.c.id))).scalar()
    if rid is not None:
        return int(rid), True
    existing = (await conn.execute(select(subscribers.c.id).where(subscribers.c.kind == kind,
                                                                  subscribers.c.address == addr))).scalar_one()
    return int(existing), False


async def remove(conn: AsyncConnection, ref: str) -> int:
    """Remove by id or by address; returns how many were removed (0 or 1)."""
    if ref.isdigit():
        res = await conn.execute(delete(subscribers).where(subscribers.c.id == int(ref)))
    else:
        kind, addr = parse_address(ref)
        res = await conn.execute(delete(subscribers).where(subscribers.c.kind == kind, subscribers.c.address == addr))
    return int(res.rowcount or 0)


async def stored(conn: AsyncConnection) -> list[Stored]:
    rows = await conn.execute(select(subscribers).order_by(subscribers.c.id))
    return [Stored(r.id, Subscriber(r.address, r.kind, tuple(r.services or ()), tuple(r.regions or ()),
                                    tuple(r.segments or ())), r.added_by, r.created_at) for r in rows]


async def everyone(conn: AsyncConnection, configured: Sequence[Subscriber]) -> list[Subscriber]:
    """The config's subscribers, then the table's that are not already among them."""
    seen = {(s.kind, s.address) for s in configured}
    return [*configured, *(s.subscriber for s in await stored(conn) if (s.subscriber.kind, s.subscriber.address)
                           not in seen)]
