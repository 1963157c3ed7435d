"""When digests are built: cron expressions in the brand's time zone, the last slot run persisted.

`latest_slot` is pure. `run_due` builds and sends what is due, once: one daemon holds the
schedule's lease while it builds; the slot is then claimed with a compare-and-set on `digest_runs`
(slot_at only moves forward) in the same transaction that stores the digest and writes its Slack
and e-mail rows to the outbox. A daemon that was down for three daily slots sends one digest, for
the newest slot, not three; two daemons send it once; a kill before the commit leaves the slot to
the next tick.
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from monitor import leases
from monitor.digest.config import ScheduleConfig
from monitor.digest.period import Period, parse_span
from monitor.storage.dialect import insert_for
from monitor.storage.schema import digest_runs

log = structlog.get_logger("digest.schedule")

LOOKBACK = 40 * 86400.0  # how far back a missed slot is still looked for (covers a monthly cron)
_MAX_STEPS = 100_000


_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_trigger(expr: str, tz: ZoneInfo | None = None) -> CronTrigger:
    """A standard five-field crontab (day of week 0 or 7 = Sunday, 1 = Monday) as an APScheduler 3
    trigger. APScheduler 3's own `from_crontab` counts weekdays from Monday = 0, so "0 9 * * 1"
    would fire on Tuesdays: weekday numbers are turned into names first."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected five fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, dow = fields
    parts = []
    for part in dow.split(","):
        step = ""
        if "/" in part:
            part, step = part.split("/", 1)
            step = "/" + step
        if re.fullmatch(r"0-\d", part):  # a range from Sunday: Sunday, then Monday onwards
            parts.append("sun")
            part = "1-" + part[2:]
        parts.append(re.sub(r"\d+", lambda m: _day(m.group()), part) + step)
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=",".join(parts), timezone=tz)


def _day(n: str) -> str:
    if int(n) > 7:
        raise ValueError(f"weekday {n} is not 0-7")
    return _DAYS[int(n)]


def latest_slot(cron: str, tz: ZoneInfo, *, after: float | None, now: float) -> float | None:
    """The newest fire time of `cron` that is after `after` (exclusive) and at or before `now`."""
    trigger = cron_trigger(cron, tz)
    start = max(after if after is not None else now - LOOKBACK, now - LOOKBACK)
    t = datetime.fromtimestamp(start, tz) + timedelta(microseconds=1)
    found = None
    for _ in range(_MAX_STEPS):
        nxt = trigger.get_next_fire_time(None, t)
        if nxt is None or nxt.timestamp() > now:
            break
        found = nxt.timestamp()
        t = nxt + timedelta(microseconds=1)
    if found is not None and after is not None and found <= after:
        return None
    return found


def slot_key(schedule: str, slot: float, tz: ZoneInfo) -> str:
    return f"{schedule}:{datetime.fromtimestamp(slot, tz).isoformat(timespec='minutes')}"


@dataclass(frozen=True, slots=True)
class Due:
    schedule: ScheduleConfig
    slot: float
    period: Period
    key: str


async def _last(conn: AsyncConnection, name: str) -> float | None:
    row = (await conn.execute(select(digest_runs.c.slot_at).where(digest_runs.c.schedule == name))).first()
    return None if row is None else float(row[0])


async def due(engine: AsyncEngine, s: ScheduleConfig, tz: ZoneInfo, *, holder: str, now: float) -> Due | None:
    """The slot of `s` to run now, if any. A schedule seen for the first time starts from now: a
    fresh install does not send digests for slots before it existed."""
    async with engine.begin() as conn:
        last = await _last(conn, s.name)
        if last is None:
            await conn.execute(insert_for(conn, digest_runs).on_conflict_do_nothing(index_elements=["schedule"]),
                               [{"schedule": s.name, "slot_at": now, "digest_key": "", "ran_at": now, "holder": holder}])
            return None
    slot = latest_slot(s.cron, tz, after=last, now=now)
    if slot is None:
        return None
    span = parse_span(s.period) or 86400.0
    return Due(s, slot, Period(slot - span, slot, tz), slot_key(s.name, slot, tz))


async def claim(conn: AsyncConnection, d: Due, *, holder: str, now: float) -> bool:
    """Move the schedule's slot forward to `d.slot`, in the caller's transaction; False if another
    daemon already ran this slot (or a newer one)."""
    res = await conn.execute(
        update(digest_runs)
        .where(digest_runs.c.schedule == d.schedule.name, digest_runs.c.slot_at < d.slot)
        .values(slot_at=d.slot, digest_key=d.key, ran_at=now, holder=holder))
    return res.rowcount == 1


Build = Callable[[Due], Awaitable[tuple[dict[str, Any], dict[str, bytes]]]]
Commit = Callable[[AsyncConnection, Due, dict[str, Any], dict[str, bytes]], Awaitable[None]]


async def run_due(engine: AsyncEngine, schedules: list[ScheduleConfig], tz: ZoneInfo, *, holder: str, now: float,
                  build: Build, commit: Commit, lease_ttl: float = 600.0) -> list[str]:
    """Build and commit every due schedule's digest; returns the keys this daemon sent."""
    sent = []
    for s in schedules:
        lease = f"digest:{s.name}"
        if not await leases.acquire(engine, lease, holder, ttl=lease_ttl, now=now):
            continue  # another daemon is on it
        try:
            d = await due(engine, s, tz, holder=holder, now=now)
            if d is None:
                continue
            data, pngs = await build(d)  # outside any transaction: it reads a week of mentions
            async with engine.begin() as conn:
                if not await claim(conn, d, holder=holder, now=now):
                    continue
                await commit(conn, d, data, pngs)
            log.info("digest.sent", schedule=s.name, key=d.key, period=data["period"]["label"])
            sent.append(d.key)
        finally:
            await leases.release(engine, lease, holder)
    return sent
