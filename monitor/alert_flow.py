"""Where each new mention alert goes: its own message, its ticket's thread, or the channel's storm.

Called by ingest inside its transaction, on the alert effects it is about to enqueue:

- the first alert of a ticket is the ticket's parent message (`about="ticket:N"`); later ones go into
  its thread — in the parent's channel, whatever channel their own urgency routes to — (`thread_of=
  "ticket:N"`: the outbox posts them once the parent is posted) and queue a `slack.update` that
  re-renders the parent with the ticket's state now. A later mention more urgent than the parent, whose
  urgency routes to another channel, is posted there on its own and becomes the ticket's parent from
  then on (alerts.routing.joins_ticket_thread); the old parent is refreshed too;
- once a channel had `storm.burst` alerts within `storm.window_s`, further non-critical alerts join
  the channel's open storm instead (one parent with a live counter; summaries in its thread, see
  `storm_job`). Critical alerts always get their own message;
- a non-critical mention about an open incident that has a Slack thread (and not in a ticket's thread)
  joins the incident's storm: one counter message in the incident's thread, summaries there too.

The per-channel window is one row per channel in `alert_rate`, locked for the transaction, so two
daemons ingesting at once count the same burst.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.mention_delivery import KIND as MENTION_ALERT
from alerts.routing import joins_ticket_thread
from alerts.storm import NEWEST_SHOWN, StormMember, StormRule, route, storm_summary, window
from monitor.delivery import default_lane
from monitor.outbox import NewEffect
from monitor.storage.dialect import insert_for
from monitor.storage.schema import alert_rate, alert_storm_members, alert_storms, mentions, outbox

UPDATE_KIND = "slack.update"
STORM_KIND = "slack.storm"


@dataclass(frozen=True)
class _Thread:
    """Where a ticket's thread is: its newest top-level alert (a lift moves it to a more urgent channel)."""
    target: str
    lane: str
    urgency: str


async def _ticket_threads(conn: AsyncConnection, tickets: set[str]) -> dict[str, _Thread]:
    if not tickets:
        return {}
    rows = await conn.execute(select(outbox.c.about, outbox.c.target, outbox.c.lane, outbox.c.payload).where(
        outbox.c.about.in_(tickets), outbox.c.kind == MENTION_ALERT, outbox.c.thread_of.is_(None))
        .order_by(outbox.c.id))
    return {about: _Thread(target, lane, str((payload or {}).get("urgency") or "")) for about, target, lane, payload in rows}


async def ticket_thread_channel(conn: AsyncConnection, ticket_id: int) -> str | None:
    """The channel a ticket's thread is in now (where its replies, drafts and notes belong), or None: the
    ticket was never alerted on."""
    about = f"ticket:{ticket_id}"
    thread = (await _ticket_threads(conn, {about})).get(about)
    return thread.target if thread is not None else None


async def route_alerts(conn: AsyncConnection, effects: list[NewEffect], *, now: float,
                       storm: StormRule | None) -> list[NewEffect]:
    alerts = [e for e in effects if e.kind == MENTION_ALERT]
    if not alerts:
        return effects
    out = [e for e in effects if e.kind != MENTION_ALERT]
    threads = await _ticket_threads(conn, {e.about for e in alerts if e.about and e.about.startswith("ticket:")})
    incident_threads = await _incident_threads(conn, {int(e.payload["incident_id"]) for e in alerts
                                                      if e.payload.get("incident_id") is not None})
    windows: dict[str, tuple[float, int]] = {}
    if storm is not None:  # lock every channel's window up front, in one order: two daemons never deadlock
        for channel in sorted({e.target for e in alerts} | {t.target for t in threads.values()}):
            windows[channel] = await _window(conn, channel, now, storm)
    storms: dict[str, int] = {}  # channel, or "incident:N" → the open storm they collapse into
    updated: set[tuple[str, str]] = set()
    for e in alerts:  # in posting order: a ticket's first alert in this batch is the parent of the next
        urgency = str(e.payload.get("urgency") or "")
        lane = e.lane or default_lane(e.kind, e.target)
        ticket = e.about if e.about and e.about.startswith("ticket:") else None
        thread = threads.get(ticket) if ticket else None
        follows = thread is not None and joins_ticket_thread(urgency, lane, thread_channel=thread.lane,
                                                             thread_urgency=thread.urgency)
        channel = thread.target if follows and thread is not None else e.target
        start, count = windows.get(channel, (now, 0))
        incident = f"incident:{e.payload['incident_id']}" if e.payload.get("incident_id") is not None else None
        where = route(urgency, alerts_in_window=count, in_ticket_thread=follows, rule=storm,
                      in_open_incident=incident in incident_threads)
        if storm is not None and where == "thread" and count >= storm.burst:
            where = "storm"  # in a burst even a ticket's follow-ups collapse: the counter says how many
        if where in ("storm", "incident"):
            key = incident if where == "incident" and incident is not None else channel
            if key not in storms:
                storms[key] = await _open_storm(conn, incident_threads.get(key, channel), now, out,
                                                about=incident if where == "incident" else None)
            await _join(conn, storms[key], int(e.payload["mention_id"]), urgency, now)
            continue
        windows[channel] = (start, count + 1)
        if where == "thread" and thread is not None and ticket is not None:
            out.append(replace(e, target=thread.target, lane=thread.lane, thread_of=ticket,
                               payload={**e.payload, "in_thread": True}))
            _refresh_parent(out, updated, ticket, thread, e)
            continue
        out.append(e)
        if ticket is not None:
            if thread is not None and thread.lane != lane:  # lifted: the old parent says what is true now too
                _refresh_parent(out, updated, ticket, thread, e)
            threads[ticket] = _Thread(e.target, lane, urgency)
    for channel, (start, count) in windows.items() if storm is not None else ():
        await conn.execute(update(alert_rate).where(alert_rate.c.channel == channel)
                           .values(window_start=start, alerts=count))
    return out


def _refresh_parent(out: list[NewEffect], updated: set[tuple[str, str]], ticket: str, thread: _Thread,
                    e: NewEffect) -> None:
    """A `slack.update` that re-renders the ticket's parent in `thread` — once per ticket and channel per
    batch: it renders the state at delivery anyway."""
    if (ticket, thread.lane) in updated:
        return
    updated.add((ticket, thread.lane))
    out.append(NewEffect(f"{UPDATE_KIND}:{ticket}:{thread.lane}:m{e.payload['mention_id']}", UPDATE_KIND,
                         thread.target, {"about": ticket, "ticket_id": int(ticket.split(":")[1])},
                         priority=e.priority, lane=thread.lane, thread_of=ticket))


async def _window(conn: AsyncConnection, channel: str, now: float, storm: StormRule | None) -> tuple[float, int]:
    if storm is None:
        return now, 0
    await conn.execute(insert_for(conn, alert_rate).on_conflict_do_nothing(index_elements=["channel"]).values(
        channel=channel, window_start=now, alerts=0))
    row = (await conn.execute(select(alert_rate.c.window_start, alert_rate.c.alerts)
                              .where(alert_rate.c.channel == channel).with_for_update())).one()
    return window(row.window_start, row.alerts, now, storm)


async def _incident_threads(conn: AsyncConnection, incident_ids: set[int]) -> dict[str, str]:
    """"incident:N" → the channel of the incident's opening message (its thread), for those that have one."""
    if not incident_ids:
        return {}
    rows = await conn.execute(select(outbox.c.about, outbox.c.target).where(
        outbox.c.about.in_([f"incident:{i}" for i in incident_ids]), outbox.c.kind == "slack.message",
        outbox.c.thread_of.is_(None)).order_by(outbox.c.id))
    found: dict[str, str] = {}
    for about, target in rows:
        found.setdefault(about, target)
    return found


async def _open_storm(conn: AsyncConnection, channel: str, now: float, out: list[NewEffect], *,
                      about: str | None = None) -> int:
    """The open storm of a channel's burst (about None), or of an incident ("incident:N": its counter and
    summaries go in the incident's thread); opened, with its counter message queued, if there is none."""
    found = (await conn.execute(select(alert_storms.c.id).where(
        alert_storms.c.channel == channel, alert_storms.c.closed_at.is_(None),
        alert_storms.c.about.is_(None) if about is None else alert_storms.c.about == about)
        .order_by(alert_storms.c.id).limit(1))).scalar()
    if found is not None:
        return int(found)
    sid = int((await conn.execute(alert_storms.insert().values(
        channel=channel, started_at=now, last_member_at=now, members=0, summarised=0, summarised_at=now,
        about=about).returning(alert_storms.c.id))).scalar_one())
    out.append(NewEffect(f"{STORM_KIND}:{sid}", STORM_KIND, channel, {"storm_id": sid}, priority=1,
                         about=f"storm:{sid}", thread_of=about))
    return sid


async def _join(conn: AsyncConnection, storm_id: int, mention_id: int, urgency: str, now: float) -> None:
    res = await conn.execute(insert_for(conn, alert_storm_members).on_conflict_do_nothing(
        index_elements=["storm_id", "mention_id"]).values(storm_id=storm_id, mention_id=mention_id,
                                                          urgency=urgency, at=now))
    if res.rowcount:
        await conn.execute(update(alert_storms).where(alert_storms.c.id == storm_id).values(
            members=alert_storms.c.members + 1, last_member_at=now))


async def storm_step(conn: AsyncConnection, *, now: float, rule: StormRule) -> list[NewEffect]:
    """The periodic part: summaries in each storm's thread, the counter refreshed, quiet storms closed."""
    effects: list[NewEffect] = []
    rows = (await conn.execute(select(alert_storms).where(alert_storms.c.closed_at.is_(None)))).all()
    for s in rows:
        about = f"storm:{s.id}"
        closing = now - s.last_member_at >= rule.quiet_after_s
        due = s.members > s.summarised and (closing or now - s.summarised_at >= rule.summary_every_s)
        if due:
            newest = await newest_members(conn, s.id)
            effects.append(NewEffect(f"storm:{s.id}:summary:{s.members}", "slack.message", s.channel,
                                     storm_summary(new_members=s.members - s.summarised, total=s.members,
                                                   newest=newest),
                                     # an incident's storm is a message in the incident's thread: its
                                     # summaries go there too (Slack threads are one level deep)
                                     priority=2, about=about, thread_of=s.about or about))
        if due or closing:
            effects.append(NewEffect(f"{UPDATE_KIND}:{about}:{s.members}:{int(closing)}", UPDATE_KIND, s.channel,
                                     {"storm_id": s.id}, priority=2, thread_of=about))
        values: dict[str, Any] = {}
        if due:
            values.update(summarised=s.members, summarised_at=now)
        if closing:
            values.update(closed_at=now)
        if values:
            await conn.execute(update(alert_storms).where(alert_storms.c.id == s.id,
                                                          alert_storms.c.members == s.members).values(**values))
    return effects


async def newest_members(conn: AsyncConnection, storm_id: int, limit: int = NEWEST_SHOWN) -> list[StormMember]:
    rows = await conn.execute(
        select(mentions.c.urgency, mentions.c.category, mentions.c.author_username, mentions.c.text, mentions.c.url)
        .select_from(alert_storm_members.join(mentions, mentions.c.id == alert_storm_members.c.mention_id))
        .where(alert_storm_members.c.storm_id == storm_id)
        .order_by(alert_storm_members.c.mention_id.desc()).limit(limit))
    return [StormMember(u or "", c or "", a or "", t or "", url or "") for u, c, a, t, url in rows]
