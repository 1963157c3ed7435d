"""Where a ticket's alerts go (monitor.alert_flow) on a real database: one thread per ticket, lifts."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from alerts.mention_delivery import KIND as MENTION_ALERT
from monitor.alert_flow import route_alerts
from monitor.outbox import PRIORITY, NewEffect, enqueue
from monitor.storage.schema import outbox

NOW = 1_764_000_000.0
CHANNELS = {"critical": "#care-critical", "high": "#care-urgent", "normal": "#care"}


def _alert(n: int, urgency: str, ticket: int = 1) -> NewEffect:
    return NewEffect(f"slack.mention:x:{n}", MENTION_ALERT, CHANNELS[urgency], {"mention_id": n, "urgency": urgency},
                     priority=PRIORITY[urgency], about=f"ticket:{ticket}")


async def _ingest(engine, alerts: list[NewEffect]) -> None:
    async with engine.begin() as conn:
        await enqueue(conn, await route_alerts(conn, alerts, now=NOW, storm=None), now=NOW)


async def _rows(engine) -> list[tuple[str, str, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(outbox.c.kind, outbox.c.lane, outbox.c.thread_of, outbox.c.key)
                                  .order_by(outbox.c.id))
        return [(kind.split(".")[1], lane.split(":")[1], thread_of) for kind, lane, thread_of, _ in rows]


# each step is one poll: the urgencies of a ticket's mentions, in order
@pytest.mark.parametrize("polls, expected", [
    # a quieter follow-up joins the thread where the ticket's parent is (the bug: it opened one in #care)
    ([["high"], ["normal"], ["high"]],
     [("mention", "#care-urgent", None), ("mention", "#care-urgent", "ticket:1"),
      ("update", "#care-urgent", "ticket:1"), ("mention", "#care-urgent", "ticket:1"),
      ("update", "#care-urgent", "ticket:1")]),
    # the same in one poll: the first is the parent of the others, one parent refresh
    ([["high", "normal", "high"]],
     [("mention", "#care-urgent", None), ("mention", "#care-urgent", "ticket:1"),
      ("update", "#care-urgent", "ticket:1"), ("mention", "#care-urgent", "ticket:1")]),
    # a lift: more urgent than the parent, posted on its own where that urgency goes; the old parent is
    # refreshed, and later mentions follow the ticket to its new thread
    ([["normal"], ["critical"], ["normal"]],
     [("mention", "#care", None), ("mention", "#care-critical", None), ("update", "#care", "ticket:1"),
      ("mention", "#care-critical", "ticket:1"), ("update", "#care-critical", "ticket:1")]),
])
async def test_a_ticket_has_one_thread_and_a_lift_moves_it(engine, polls, expected) -> None:
    n = 0
    for poll in polls:
        alerts = []
        for urgency in poll:
            n += 1
            alerts.append(_alert(n, urgency))
        await _ingest(engine, alerts)
    assert await _rows(engine) == expected


async def test_two_tickets_keep_their_own_threads(engine) -> None:
    await _ingest(engine, [_alert(1, "high", ticket=1), _alert(2, "normal", ticket=2)])
    await _ingest(engine, [_alert(3, "normal", ticket=1), _alert(4, "normal", ticket=2)])
    rows = await _rows(engine)
    assert ("mention", "#care-urgent", "ticket:1") in rows and ("mention", "#care", "ticket:2") in rows
    assert [r for r in rows if r[0] == "mention" and r[2] is None] == [("mention", "#care-urgent", None),
                                                                       ("mention", "#care", None)]
