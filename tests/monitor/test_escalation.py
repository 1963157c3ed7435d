"""The escalation timer: a critical ticket nobody acknowledged is re-announced, then escalated — once each."""
from __future__ import annotations

import asyncio

from sqlalchemy import select

from monitor.cockpit import Cockpit
from monitor.config import parse_config
from monitor.outbox import NewEffect, enqueue
from monitor.sandbox.clock import ManualClock
from monitor.slack_cockpit import SlackCockpit
from monitor.storage.schema import mentions, outbox
from tests.monitor.test_cockpit import NOW, _mention


def _cockpit(engine, clock, instance="d1") -> SlackCockpit:
    cfg = parse_config({"slack": {"token": "xoxb-t", "api_base": "http://127.0.0.1:9/api/",
                                  "oncall_group": "S0ONCALL",
                                  "escalation": {"reannounce_after_minutes": 10, "channel_after_minutes": 30,
                                                 "channel": "#care-escalations"}}}, env={})
    return SlackCockpit(cfg.slack, engine, instance=instance, clock=clock)


async def _critical(engine, eid: str = "900", urgency: str = "critical") -> int:
    """A ticket's mention of `urgency`, alerted in #care-urgent."""
    mid = await _mention(engine, eid, urgency=urgency)
    async with engine.begin() as conn:
        tid = (await conn.execute(select(mentions.c.ticket_id).where(mentions.c.id == mid))).scalar_one()
        await enqueue(conn, [NewEffect(f"slack.mention:x:{eid}", "slack.mention", "#care-urgent", {"mention_id": mid},
                                       about=f"ticket:{tid}")], now=NOW)
    return mid


async def _escalations(engine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(outbox.c.key, outbox.c.target, outbox.c.payload, outbox.c.thread_of)
                                  .where(outbox.c.key.like("escalation:%")).order_by(outbox.c.id))
        return [(k, t, p["text"], th) for k, t, p, th in rows]


async def test_reannounced_then_escalated_once_each(engine) -> None:
    await _critical(engine)
    clock = ManualClock(NOW + 599)
    cockpit = _cockpit(engine, clock)
    assert await cockpit.escalation_job() == 0
    clock.now = NOW + 600
    assert await cockpit.escalation_job() == 1
    assert await cockpit.escalation_job() == 0  # the same minute again: nothing new
    (first,) = await _escalations(engine)
    assert first[1] == "#care-urgent" and "<!subteam^S0ONCALL>" in first[2] and "Still unacknowledged" in first[2]
    assert first[3] == "ticket:1"  # re-announced in the ticket's thread
    clock.now = NOW + 1800
    assert await cockpit.escalation_job() == 1
    rows = await _escalations(engine)
    assert [(t, th) for _, t, _, th in rows] == [("#care-urgent", "ticket:1"), ("#care-urgent", "ticket:1"),
                                                 ("#care-escalations", None)]
    clock.now = NOW + 99_999
    assert await cockpit.escalation_job() == 0


async def test_an_acknowledged_ticket_does_not_escalate(engine) -> None:
    mid = await _critical(engine)
    await Cockpit(engine, clock=ManualClock(NOW + 60)).act("acknowledge", mid, "U0ANN")
    clock = ManualClock(NOW + 3600)
    assert await _cockpit(engine, clock).escalation_job() == 0
    assert await _escalations(engine) == []


async def test_two_daemons_escalate_once(engine) -> None:
    await _critical(engine)
    clock = ManualClock(NOW + 700)
    a, b = _cockpit(engine, clock, "host:1:a"), _cockpit(engine, clock, "host:2:b")
    assert sum(await asyncio.gather(a.escalation_job(), b.escalation_job())) == 1
    assert len(await _escalations(engine)) == 1


async def test_a_ticket_relabelled_critical_escalates_from_the_relabel_with_its_urgency_now(engine) -> None:
    mid = await _critical(engine, "901", urgency="high")
    clock = ManualClock(NOW + 3600)
    cockpit = _cockpit(engine, clock)
    assert await cockpit.escalation_job() == 0  # high: never escalated by time
    await Cockpit(engine, clock=clock).relabel(mid, urgency="critical", category=None, user="U0ANN", dedupe="v1")
    assert await cockpit.escalation_job() == 0  # an hour after it opened, but critical only since now
    clock.now = NOW + 3600 + 600
    assert await cockpit.escalation_job() == 1
    (first,) = await _escalations(engine)  # level 1 first, not straight to the escalation channel
    assert "Still unacknowledged critical ticket" in first[2]  # the ticket's urgency now, not its first mention's
    clock.now = NOW + 3600 + 1800
    assert await cockpit.escalation_job() == 1
    assert "Escalated critical ticket" in (await _escalations(engine))[-1][2]


async def test_a_ticket_relabelled_down_stops_escalating(engine) -> None:
    mid = await _critical(engine)
    clock = ManualClock(NOW + 100)
    await Cockpit(engine, clock=clock).relabel(mid, urgency="normal", category=None, user="U0ANN", dedupe="v1")
    clock.now = NOW + 99_999
    assert await _cockpit(engine, clock).escalation_job() == 0
