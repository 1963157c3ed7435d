"""Incidents: one per root cause, with a timeline, one Slack thread, opened and resolved by signals or people.

    investigating ──► identified ──► monitoring ──► resolved        (any earlier status may jump ahead;
          ▲───────────────────────────────┘                            a resolved incident stays resolved)

Every function takes the caller's connection, so an incident, its timeline row, its Slack messages
(outbox rows) and the signal state that caused it are written in ONE transaction: killed at any
point, either all of a decision exists or none does, and the outbox keys make a replay harmless.

One open incident per service: a second signal about a service that already has one adds an update
to it instead of opening another (and a confirmed signal turns an internal "possible" incident
public). The Slack messages carry `about="incident:N"`; updates are posted in the thread of the
first one (`thread_of="incident:N"`).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.incident_alert import build_opened, build_update
from monitor.outbox import NewEffect, enqueue
from monitor.storage.schema import incident_updates, incidents

STATUSES = ("investigating", "identified", "monitoring", "resolved")
IMPACTS = ("minor", "major", "critical")


class IncidentError(Exception):
    """A request that makes no sense for this incident (unknown id, already resolved, bad status)."""


@dataclass(frozen=True)
class Incident:
    id: int
    service: str
    title: str
    status: str
    impact: str
    public: bool
    opened_by: str
    opened_at: float
    updated_at: float
    resolved_at: float | None

    @classmethod
    def from_row(cls, r: Any) -> Incident:
        return cls(r["id"], r["service"], r["title"], r["status"], r["impact"], bool(r["public"]), r["opened_by"],
                   r["opened_at"], r["updated_at"], r["resolved_at"])

    @property
    def about(self) -> str:
        return f"incident:{self.id}"


@dataclass(frozen=True)
class Update:
    id: int
    incident_id: int
    status: str
    message: str
    note: str
    by: str
    created_at: float


def _slack(key: str, channel: str, payload: dict[str, Any], incident_id: int, *, root: bool) -> NewEffect:
    about = f"incident:{incident_id}"
    return NewEffect(key, "slack.message", channel, payload, priority=1, about=about,
                     thread_of=None if root else about)


async def get(conn: AsyncConnection, incident_id: int, *, lock: bool = False) -> Incident | None:
    """`lock`: hold the incident's row until the transaction ends (PostgreSQL; SQLite serialises
    writers anyway), so a decision read here is still true when it is written."""
    query = select(incidents).where(incidents.c.id == incident_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).mappings().first()
    return Incident.from_row(row) if row else None


async def open_for(conn: AsyncConnection, service: str) -> Incident | None:
    row = (await conn.execute(select(incidents).where(incidents.c.service == service,
                                                      incidents.c.status != "resolved")
                              .order_by(incidents.c.id).limit(1))).mappings().first()
    return Incident.from_row(row) if row else None


async def list_incidents(conn: AsyncConnection, *, open_only: bool = False, limit: int = 50) -> list[Incident]:
    q = select(incidents).order_by(incidents.c.id.desc()).limit(limit)
    if open_only:
        q = q.where(incidents.c.status != "resolved")
    return [Incident.from_row(r) for r in (await conn.execute(q)).mappings()]


async def timeline(conn: AsyncConnection, incident_id: int) -> list[Update]:
    rows = (await conn.execute(select(incident_updates).where(incident_updates.c.incident_id == incident_id)
                               .order_by(incident_updates.c.id))).mappings()
    return [Update(r["id"], r["incident_id"], r["status"], r["message"], r["note"], r["by"], r["created_at"])
            for r in rows]


async def _add_update(conn: AsyncConnection, inc: Incident, *, status: str, message: str, note: str, by: str,
                      now: float, slack_channel: str | None) -> int:
    uid = (await conn.execute(incident_updates.insert().values(
        incident_id=inc.id, status=status, message=message, note=note, by=by, created_at=now)
        .returning(incident_updates.c.id))).scalar_one()
    if slack_channel:
        payload = build_update(inc.id, status=status, message=message, by=by, note=note, at=now)
        await enqueue(conn, [_slack(f"incident:{inc.id}:update:{uid}", slack_channel, payload, inc.id, root=False)],
                      now=now)
    return uid


async def add_note(conn: AsyncConnection, inc: Incident, *, note: str, by: str, now: float,
                   slack_channel: str | None) -> int:
    """A line on the timeline and in the team's thread only (customers are not told)."""
    return await _add_update(conn, inc, status=inc.status, message="", note=note, by=by, now=now,
                             slack_channel=slack_channel)


async def open_incident(
    conn: AsyncConnection,
    *,
    service: str,
    title: str,
    message: str,
    by: str,
    now: float,
    slack_channel: str | None,
    note: str = "",
    public: bool = True,
    impact: str = "major",
    terms: Sequence[str] = (),
) -> tuple[Incident, bool]:
    """Open an incident for `service`, or add to the one already open. Returns (incident, opened_now).

    `message` is what customers may read; `note` is for the team only (check names, hosts, details).
    """
    if impact not in IMPACTS:
        raise IncidentError(f"impact must be one of {IMPACTS}")
    existing = await open_for(conn, service)
    if existing is not None:
        if public and not existing.public:  # corroborated: now customers may be told
            await conn.execute(update(incidents).where(incidents.c.id == existing.id)
                               .values(public=True, updated_at=now, title=title))
            existing = await get(conn, existing.id)
            assert existing is not None
            await _add_update(conn, existing, status=existing.status, message=message,
                              note=f"confirmed by {by}" + (f": {note}" if note else ""), by=by, now=now,
                              slack_channel=slack_channel)
        elif note:  # another signal about the same root cause: on the timeline and in the team's thread only
            # (an empty message: customers are not told again about what they already know)
            await _add_update(conn, existing, status=existing.status, message="", note=note, by=by, now=now,
                              slack_channel=slack_channel)
        return existing, False
    iid = (await conn.execute(incidents.insert().values(
        service=service, title=title, status="investigating", impact=impact, public=public, opened_by=by,
        terms=list(dict.fromkeys([service, *terms])), opened_at=now, updated_at=now).returning(incidents.c.id))).scalar_one()
    await conn.execute(incident_updates.insert().values(
        incident_id=iid, status="investigating", message=message, note=note, by=by, created_at=now))
    if slack_channel:
        payload = build_opened(iid, service=service, title=title, public=public, opened_by=by, note=note, at=now)
        await enqueue(conn, [_slack(f"incident:{iid}:opened", slack_channel, payload, iid, root=True)], now=now)
    inc = await get(conn, iid)
    assert inc is not None
    return inc, True


async def update_incident(
    conn: AsyncConnection,
    incident_id: int,
    *,
    status: str,
    message: str,
    by: str,
    now: float,
    slack_channel: str | None,
    note: str = "",
) -> Incident:
    if status not in STATUSES:
        raise IncidentError(f"status must be one of {STATUSES}")
    inc = await get(conn, incident_id)
    if inc is None:
        raise IncidentError(f"no incident #{incident_id}")
    if inc.status == "resolved":
        raise IncidentError(f"incident #{incident_id} is already resolved")
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status == "resolved":
        values["resolved_at"] = now
    # guarded by the status it had, so two daemons (or a person and a check) cannot both resolve it
    res = await conn.execute(update(incidents).where(and_(incidents.c.id == incident_id,
                                                          incidents.c.status == inc.status)).values(**values))
    if res.rowcount != 1:
        raise IncidentError(f"incident #{incident_id} changed meanwhile; try again")
    inc = await get(conn, incident_id)
    assert inc is not None
    await _add_update(conn, inc, status=status, message=message, note=note, by=by, now=now,
                      slack_channel=slack_channel)
    return inc


async def resolve(conn: AsyncConnection, incident_id: int, *, message: str, by: str, now: float,
                  slack_channel: str | None, note: str = "") -> Incident:
    return await update_incident(conn, incident_id, status="resolved", message=message, by=by, now=now,
                                 slack_channel=slack_channel, note=note)


# ── for triage: which open incidents a mention may be about ──────────────────────────────────
@dataclass(frozen=True)
class OpenIncident:
    id: int
    service: str
    terms: tuple[str, ...]  # words that name it in a post (the service, its public name, aliases)
    public: bool


async def open_incidents(conn: AsyncConnection) -> list[OpenIncident]:
    """The open incidents, oldest first, each with the words that name its service (stored when opened)."""
    rows = (await conn.execute(select(incidents.c.id, incidents.c.service, incidents.c.public, incidents.c.terms)
                               .where(incidents.c.status != "resolved").order_by(incidents.c.id))).all()
    return [OpenIncident(i, s, tuple(t or [s]), bool(p)) for i, s, p, t in rows]


def match(text: str, category: str, open_: Sequence[OpenIncident]) -> OpenIncident | None:
    """The open incident a post is about: the first whose name it says, else, for an outage report
    while exactly one incident is open, that one. Pure, so it is tested as a table."""
    low = text.lower()
    for inc in open_:
        if any(t and re.search(rf"(?<!\w){re.escape(t.lower())}(?!\w)", low) for t in inc.terms):
            return inc
    if category == "outage" and len(open_) == 1:
        return open_[0]
    return None
