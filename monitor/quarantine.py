"""Poison isolation: one item that cannot be stored must not blind its whole source.

`ingest` writes a poll in ONE transaction, so one bad item fails the whole batch; retried as it
is, the same batch (and its cursor) would fail forever. When a batch fails with an error that
belongs to its data (a constraint, a value the database refuses) rather than to the database (a
refused connection, a lock), `store` splits it in halves, and halves of those, until every item is
stored or found bad on its own. A bad item goes to the `quarantine` table (its raw payload as
ASCII-only JSON, so the row is storable whatever it holds, and the error); then the cursors are
written, last: the cursor never runs ahead of an item that is neither stored nor quarantined.

Before an item is called bad, the database must answer a plain query: an outage that begins
mid-split raises (the poll is retried later) instead of quarantining good items. Killed at any
point, the next poll fetches the items again: stored ones are duplicates, quarantined ones are
kept once ((source, external_id) is unique), and the cursor moves only after both.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import delete, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.ingest import AlertPolicy, IngestResult, ingest
from monitor.models import Batch, Mention, bounded, storable
from monitor.storage.dialect import insert_for
from monitor.storage.schema import CURSOR_VALUE_MAX, quarantine
from monitor.triage import Triage

log = structlog.get_logger("quarantine")

ERROR_MAX = 1000  # characters of the error kept with a quarantined item


@dataclass
class Stored:
    result: IngestResult
    quarantined: list[tuple[Mention, str]] = field(default_factory=list)  # (item, why) found bad in this poll
    newly_quarantined: int = 0  # rows written now (an item fetched again is quarantined once)
    refused_cursors: dict[str, str] = field(default_factory=dict)  # stream -> why its cursor was not stored


def is_poison(e: BaseException) -> bool:
    """True when the error belongs to the data written, not to the database or the connection."""
    seen: BaseException | None = e
    chain: list[BaseException] = []
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if any(isinstance(x, (OSError, TimeoutError, sa_exc.OperationalError)) for x in chain):
        return False  # the database is away, locked or out of space: no item is to blame
    for x in chain:
        sqlstate = str(getattr(x, "sqlstate", "") or "")
        if sqlstate[:2] in ("22", "23"):  # PostgreSQL: data exception, integrity constraint violation
            return True
        if isinstance(x, (sa_exc.IntegrityError, sa_exc.DataError)):
            return True
        if isinstance(x, sa_exc.StatementError) and not isinstance(x, sa_exc.DBAPIError):
            return True  # a parameter could not even be converted (JSON, encoding) before it was sent
    return isinstance(e, (UnicodeError, TypeError, ValueError, OverflowError))  # raised by the driver itself


def describe(e: BaseException) -> str:
    """The error without SQLAlchemy's statement and parameters (a whole batch, and the bad text)."""
    inner = e.orig if isinstance(e, sa_exc.StatementError) and e.orig is not None else e
    return storable(f"{type(inner).__name__}: {inner}")[:ERROR_MAX]


async def store(
    engine: AsyncEngine,
    batch: Batch,
    *,
    source: str,
    triage: Triage,
    policy: AlertPolicy | None,
    clock: Callable[[], float] = time.time,
) -> Stored:
    """Store a poll with `ingest`; when it fails because of some items, store all the others, keep the
    bad ones in the quarantine, then the cursors. Raises when the database, not an item, is at fault.

    A cursor longer than its column is refused up front (`refused_cursors`): on PostgreSQL it would
    fail every poll of the source; its stream keeps its last stored cursor and says why."""
    refused = refuse_long_cursors(batch, source)
    if refused:
        batch = replace(batch, cursors=[c for c in batch.cursors if c.stream not in refused])
    try:
        stored = Stored(await ingest(engine, batch, source=source, triage=triage, policy=policy, clock=clock))
        stored.refused_cursors = refused
        return stored
    except Exception as e:
        if not is_poison(e) or not batch.mentions:
            raise
        log.warning("batch.poisoned", source=source, items=len(batch.mentions), error=describe(e))
    out = Stored(IngestResult(), refused_cursors=refused)
    unique: dict[str, Mention] = {}
    loose: list[Mention] = []  # no usable id: each is its own item
    for m in batch.mentions:
        if isinstance(m.external_id, str):
            unique.setdefault(m.external_id, m)
        else:
            loose.append(m)
    items = [*unique.values(), *loose]
    out.result.duplicates = len(batch.mentions) - len(items)

    async def split(part: list[Mention]) -> None:
        try:
            _add(out.result, await ingest(engine, Batch(part, []), source=source, triage=triage, policy=policy,
                                          clock=clock))
            return
        except Exception as e:
            if not is_poison(e):
                raise
            if len(part) == 1:
                await _database_answers(engine, e)
                out.quarantined.append((part[0], describe(e)))
                return
        half = len(part) // 2
        await split(part[:half])
        await split(part[half:])

    await split(items)
    out.newly_quarantined = await _keep(engine, source, out.quarantined, clock())
    for m, why in out.quarantined:
        log.warning("mention.quarantined", source=source, stream=_text(m.stream), external_id=_text(m.external_id),
                    error=why)
    if batch.cursors:  # last: only now is every item of the batch stored or quarantined
        _add(out.result, await ingest(engine, Batch([], batch.cursors), source=source, triage=triage,
                                      policy=policy, clock=clock))
    return out


def refuse_long_cursors(batch: Batch, source: str) -> dict[str, str]:
    """stream -> why, for each cursor the database could not keep whole (a cut cursor would be wrong)."""
    refused = {}
    for c in batch.cursors:
        if len(c.value) > CURSOR_VALUE_MAX:
            refused[c.stream] = (f"the platform's cursor for stream {c.stream!r} is {len(c.value)} characters, longer "
                                 f"than the {CURSOR_VALUE_MAX} the database keeps: it was not stored, and the stream "
                                 f"is read again from its last stored cursor")
            log.error("cursor.refused", source=source, stream=_text(c.stream), length=len(c.value),
                      max=CURSOR_VALUE_MAX)
    return refused


async def prune(engine: AsyncEngine, *, keep_seconds: float, now: float) -> int:
    """Delete quarantined items older than `keep_seconds`; returns how many. They hold strangers' raw
    posts, kept for an operator to look at, not for ever."""
    async with engine.begin() as conn:
        return (await conn.execute(delete(quarantine).where(quarantine.c.created_at < now - keep_seconds))).rowcount


async def _database_answers(engine: AsyncEngine, e: Exception) -> None:
    """Raise `e` unless the database still answers: an item is only to blame when the database works."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        raise e from None


async def _keep(engine: AsyncEngine, source: str, bad: list[tuple[Mention, str]], now: float) -> int:
    if not bad:
        return 0
    rows: dict[str, dict[str, Any]] = {}
    for m, why in bad:
        payload = raw_payload(m)
        eid = m.external_id if isinstance(m.external_id, str) and m.external_id else \
            "sha1:" + hashlib.sha1(payload.encode()).hexdigest()
        key = bounded(storable(eid), 64)
        rows.setdefault(key, {"source": source, "stream": bounded(_text(m.stream), 128), "external_id": key,
                              "payload": payload, "error": why, "created_at": now})
    async with engine.begin() as conn:
        stmt = (insert_for(conn, quarantine).on_conflict_do_nothing(index_elements=["source", "external_id"])
                .returning(quarantine.c.id))
        return len((await conn.execute(stmt, list(rows.values()))).all())


def raw_payload(m: Mention) -> str:
    """The item as it came, as JSON with every non-ASCII character escaped: a lone surrogate or a NUL
    becomes the six characters `\\udc80` or `\\u0000`, storable on any backend and still exact."""
    data = {"mention": {f.name: getattr(m, f.name) for f in fields(m) if f.name != "raw"}, "raw": m.raw}
    try:
        return json.dumps(data, ensure_ascii=True, default=_plain, sort_keys=True)
    except (TypeError, ValueError) as e:  # keys that are not strings, a circular payload
        return json.dumps({"unencodable": f"{type(e).__name__}: {e}", "repr": repr(m)}, ensure_ascii=True)


def _plain(o: object) -> object:
    if is_dataclass(o) and not isinstance(o, type):
        return {f.name: getattr(o, f.name) for f in fields(o)}
    if isinstance(o, datetime):
        return o.isoformat()
    return repr(o)


def _text(value: object) -> str:
    return storable(value) if isinstance(value, str) else storable(repr(value))


def _add(total: IngestResult, r: IngestResult) -> None:
    total.stored += r.stored
    total.duplicates += r.duplicates
    total.alerts += r.alerts
    total.tickets_opened += r.tickets_opened
    total.by_urgency.update(r.by_urgency)


@dataclass(frozen=True)
class Kept:
    id: int
    source: str
    stream: str
    external_id: str
    error: str
    created_at: float
    payload: str = ""


async def list_kept(engine: AsyncEngine, *, source: str | None = None, limit: int = 50) -> list[Kept]:
    """The quarantined items, newest first (without their payloads)."""
    from sqlalchemy import select

    q = quarantine.c
    stmt = select(q.id, q.source, q.stream, q.external_id, q.error, q.created_at).order_by(q.id.desc()).limit(limit)
    if source is not None:
        stmt = stmt.where(q.source == source)
    async with engine.connect() as conn:
        return [Kept(*row) for row in await conn.execute(stmt)]


async def get_kept(engine: AsyncEngine, item_id: int) -> Kept | None:
    from sqlalchemy import select

    q = quarantine.c
    async with engine.connect() as conn:
        row = (await conn.execute(select(q.id, q.source, q.stream, q.external_id, q.error, q.created_at, q.payload)
                                  .where(q.id == item_id))).first()
    return Kept(*row) if row is not None else None
