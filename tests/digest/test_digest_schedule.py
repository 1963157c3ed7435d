"""Schedules: the newest due slot (a table), a missed digest sent once, two daemons sending it once,
a crash before the commit leaving the slot to the next tick — on both backends, with a manual clock."""
from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from monitor.config import parse_config
from monitor.digest.schedule import latest_slot
from monitor.digest.service import Digests
from monitor.sandbox.clock import ManualClock
from monitor.storage.schema import digest_runs, digests, outbox

PARIS = ZoneInfo("Europe/Paris")


def at(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=PARIS).timestamp()


@pytest.mark.parametrize(("cron", "after", "now", "expected"), [
    ("0 9 * * *", at(29, 9), at(30, 8, 59), None),  # next slot not reached yet
    ("0 9 * * *", at(29, 9), at(30, 9), at(30, 9)),  # exactly on time
    ("0 9 * * *", at(26, 9), at(30, 12), at(30, 9)),  # down for four slots: only the newest
    ("0 9 * * 1", at(23, 9), at(30, 10), at(30, 9)),  # weekly, Monday 30 November
    ("0 9 * * 1", at(23, 9), at(29, 23), None),
    ("0 9 * * *", None, at(30, 10), at(30, 9)),  # nothing before: the newest within the look-back
    ("30 8 1 * *", at(1, 8, 30), at(30, 23), None),  # monthly: December's slot is not due in November
    ("0 9 * * 0", at(22, 9), at(30, 10), at(29, 9)),  # 0 is Sunday (crontab), not Monday
    ("0 9 * * 7", at(22, 9), at(30, 10), at(29, 9)),  # so is 7
    ("0 9 * * 0-1", at(29, 9), at(30, 10), at(30, 9)),  # a range from Sunday
    ("0 9 * * 1-5", at(27, 9), at(30, 10), at(30, 9)),  # weekdays: Friday 27, then Monday 30
    ("0 9 * * 6", at(27, 9), at(30, 10), at(28, 9)),  # Saturday
])
def test_latest_slot(cron, after, now, expected) -> None:
    assert latest_slot(cron, PARIS, after=after, now=now) == expected


def _cfg(db_url: str):
    return parse_config({
        "brand": {"name": "Acme"},
        "storage": {"url": db_url},
        "slack": {"token": "xoxb-x", "api_base": "http://127.0.0.1:9/api/"},
        "digests": {"timezone": "Europe/Paris", "slack_channel": "#marketing",
                    "schedules": [{"name": "daily", "cron": "0 9 * * *", "period": "1d"}]},
    }, env={})


async def _counts(engine):
    async with engine.connect() as conn:
        n_digests = (await conn.execute(select(func.count()).select_from(digests))).scalar_one()
        keys = [k for (k,) in await conn.execute(select(outbox.c.key).order_by(outbox.c.id))]
        run = (await conn.execute(select(digest_runs.c.slot_at, digest_runs.c.digest_key))).all()
    return n_digests, keys, run


async def test_missed_slots_send_one_digest_and_two_daemons_send_it_once(engine, db_url) -> None:
    clock = ManualClock(at(26, 10))
    cfg = _cfg(db_url)
    a = Digests(cfg, engine, holder="host:1:a", clock=clock)
    b = Digests(cfg, engine, holder="host:2:b", clock=clock)

    assert await a.tick() == []  # a fresh install starts from now: no digest for earlier slots
    assert (await _counts(engine))[0] == 0

    clock.now = at(30, 12)  # both were down for four daily slots
    sent = await asyncio.gather(a.tick(), b.tick())
    assert sorted(k for s in sent for k in s) == ["daily:2026-11-30T09:00+01:00"]
    n, keys, run = await _counts(engine)
    assert n == 1
    assert keys == ["digest.slack:daily:2026-11-30T09:00+01:00"]  # no mentions: no chart, only the summary
    assert run == [(at(30, 9), "daily:2026-11-30T09:00+01:00")]

    clock.now = at(30, 18)
    assert await a.tick() == [] and await b.tick() == []  # nothing new until tomorrow 09:00
    clock.now = datetime(2026, 12, 1, 9, 0, tzinfo=PARIS).timestamp()
    assert await b.tick() == ["daily:2026-12-01T09:00+01:00"]


async def test_a_crash_while_building_leaves_the_slot_to_the_next_tick(engine, db_url) -> None:
    clock = ManualClock(at(29, 10))
    cfg = _cfg(db_url)
    a = Digests(cfg, engine, holder="host:1:a", clock=clock)
    await a.tick()
    clock.now = at(30, 9, 1)

    async def broken(period, schedule=""):  # noqa: ARG001
        raise RuntimeError("killed while building")

    a.compute = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        await a.tick()
    assert (await _counts(engine))[0] == 0
    survivor = Digests(cfg, engine, holder="host:2:b", clock=clock)
    assert await survivor.tick() == ["daily:2026-11-30T09:00+01:00"]
