"""Ticket lifecycle: the pure tick as a table; the sweep on both backends (SLA breach once, into the ticket's thread)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from monitor.storage.schema import outbox, ticket_events, tickets
from monitor.ticket_lifecycle import Live, TicketsConfig, sweep, tick
from monitor.tickets import close, list_tickets, show

H = 3600.0
CFG = TicketsConfig.model_validate({"sla_by_source": {"reddit": {"first_response_minutes": {"default": 240}}}})


def live(status: str = "open", *, urgency: str = "normal", source: str = "x", heard: float = 0.0,
         answered: float | None = None, solved: float | None = None, breached: tuple[str, ...] = ()) -> Live:
    return Live(1, source, status, urgency, 0.0, heard, answered, answered, solved, frozenset(breached))


TICKS = [
    ("fresh and open: nothing", live(), 30 * 60, None, ()),
    ("no answer after 60 min: first-response breach", live(), 61 * 60, None, ("first_response",)),
    ("critical: 15 min", live(urgency="critical"), 16 * 60, None, ("first_response",)),
    ("a breach is reported once", live(breached=("first_response",)), 2 * H, None, ()),
    ("answered in time: no breach", live("pending", answered=30 * 60), 2 * H, None, ()),
    ("reddit has its own target", live(source="reddit"), 2 * H, None, ()),
    ("pending, customer silent a day: solved", live("pending", answered=H), 25 * H, "solved", ()),
    ("pending, customer wrote since: not solved (and past the 24 h resolution target)",
     live("pending", heard=10 * H, answered=H), 25 * H, None, ("resolution",)),
    ("solved and quiet 72 h: closed", live("solved", answered=H, solved=2 * H), 75 * H, "closed", ()),
    ("open a day without resolution: resolution breach", live(breached=("first_response",)), 25 * H, None,
     ("resolution",)),
]


@pytest.mark.parametrize(("story", "t", "now", "status", "breaches"), TICKS, ids=[x[0] for x in TICKS])
def test_tick(story, t, now, status, breaches) -> None:
    step = tick(t, now, CFG)
    assert (step.status, step.breaches) == (status, breaches)


async def _ticket(engine, **values) -> int:
    row = {"root_key": f"x:{values.get('opened_at', 0)}", "source": "x", "author_id": "1", "status": "open",
           "urgency": "normal", "opened_at": 0.0, "updated_at": 0.0, "last_customer_at": 0.0, **values}
    async with engine.begin() as conn:
        return (await conn.execute(tickets.insert().values(**row).returning(tickets.c.id))).scalar_one()


async def test_sweep_reports_a_breach_once_into_the_ticket_thread(engine) -> None:
    tid = await _ticket(engine)
    channels = {"critical": "#urgent", "normal": "#care"}
    first = await sweep(engine, CFG, now=2 * H, channels=channels)
    again = await sweep(engine, CFG, now=3 * H, channels=channels)
    assert (first.breaches, again.breaches) == (1, 0)
    async with engine.connect() as conn:
        (row,) = (await conn.execute(select(outbox))).all()
        events = [(e.kind, e.ref) for e in await conn.execute(select(ticket_events))]
    assert (row.key, row.target, row.thread_of, row.about) == (f"ticket:{tid}:sla:first_response", "#care",
                                                                f"ticket:{tid}", f"ticket:{tid}")
    assert "first response" in row.payload["text"]
    assert events == [("sla_breach", "first_response")]


async def test_quiet_tickets_are_solved_then_closed_and_a_person_can_close(engine) -> None:
    quiet = await _ticket(engine, status="pending", last_response_at=H, first_response_at=H)
    other = await _ticket(engine, opened_at=1.0, first_response_at=H)
    assert (await sweep(engine, CFG, now=26 * H)).solved == 1
    assert (await sweep(engine, CFG, now=100 * H)).closed == 1
    assert await close(engine, other, by="cli:ann", now=101 * H) == "open"
    assert await close(engine, other, by="cli:ann", now=102 * H) is None  # already closed
    assert await list_tickets(engine) == []  # nothing live
    d = await show(engine, quiet)
    assert d is not None and d.row["status"] == "closed" and d.first_response_s == H
    assert [e[0] for e in d.events] == ["solved", "closed"] and d.resolution_s == 26 * H
