"""Tickets list: one row per conversation, counted from its mentions, most urgent first."""
from __future__ import annotations

from datetime import UTC, datetime

from monitor.ingest import AlertPolicy, ingest
from monitor.models import Author, Batch, Mention, Verdict
from monitor.tickets import list_tickets


class Fixed:
    """Triage that answers from a table (the list is about tickets, not about triage)."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    def classify(self, m: Mention, **_kw) -> Verdict:
        return Verdict(self.table[m.external_id], "billing", True, True, -0.5, 50, 0.8, ("test",))


def m(eid: str, conv: str, who: str, t: float) -> Mention:
    return Mention("x", eid, f"text {eid}", Author(who, who), datetime.fromtimestamp(1_764_000_000 + t, UTC),
                   conversation_id=conv)


async def test_tickets_are_counted_and_ordered(engine) -> None:
    triage = Fixed({"1": "normal", "2": "high", "3": "normal", "4": "low"})
    batch = Batch([m("1", "1", "ann", 1), m("2", "1", "ann", 5), m("3", "3", "bob", 9), m("4", "4", "cy", 2)], [])
    await ingest(engine, batch, source="x", triage=triage, policy=AlertPolicy({}), clock=lambda: 1_764_000_100)
    got = await list_tickets(engine)
    assert [(t.urgency, t.messages, t.author, t.latest_text) for t in got] == [
        ("high", 2, "ann", "text 2"),  # the thread: its most urgent message decides
        ("normal", 1, "bob", "text 3"),
        ("low", 1, "cy", "text 4"),
    ]
