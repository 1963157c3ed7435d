"""One poll into the database, on SQLite and PostgreSQL: stored, triaged, ticketed, alerted, cursor saved."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from monitor.ingest import AlertPolicy, ingest, load_cursors
from monitor.models import Author, Batch, Cursor, Mention
from monitor.storage.schema import mentions, outbox, tickets
from monitor.triage import load_triage

ALL = AlertPolicy({"critical": "#urgent", "high": "#urgent", "normal": "#care", "low": "#care"}, min_urgency="low")
ANNA = Author("1", "anna", "Anna", followers=120)
BOB = Author("2", "bob", "Bob", followers=48_000)
US = Author("9", "acme", "Acme", followers=1_000_000)


def m(eid: str, text: str, author: Author = ANNA, *, conv: str = "", own: bool = False, t: float = 0) -> Mention:
    return Mention(
        source="x", external_id=eid, text=text, author=author, conversation_id=conv or eid, is_own=own,
        created_at=datetime.fromtimestamp(1_764_000_000 + t, UTC), stream="mentions:acme",
    )


@pytest.fixture(scope="module")
def triage():
    return load_triage()


async def count(engine, table, *where) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one()


async def test_one_poll_is_stored_triaged_alerted_and_cursored_together(engine, triage) -> None:
    batch = Batch(
        [
            m("100", "@acme you charged my card twice and nobody answers. I want a refund", t=1),
            m("101", "@acme the app has been down for an hour, I can't log in", BOB, t=2),
            replace(m("102", "@acme thanks for the quick help yesterday!", t=3), quoted_id="99"),
            m("103", "We're sorry Anna, we're looking into it", US, conv="100", own=True, t=4),
        ],
        [Cursor("mentions:acme", "103")],
        requests=1,
    )
    r = await ingest(engine, batch, source="x", triage=triage, policy=ALL, clock=lambda: 2e9)
    assert (r.stored, r.duplicates) == (4, 0)
    assert await load_cursors(engine, "x") == {"mentions:acme": "103"}

    async with engine.connect() as conn:
        rows = {row.external_id: row for row in (await conn.execute(select(mentions))).all()}
    assert rows["103"].is_own and rows["103"].urgency is None  # our own voice is never triaged
    assert rows["102"].quoted_id == "99" and rows["101"].quoted_id == ""  # a quote links to what it quotes
    for eid in ("100", "101", "102"):
        assert rows[eid].urgency in ("critical", "high", "normal", "low", "ignore") and rows[eid].reasons
    expected_alerts = sum(1 for eid in ("100", "101", "102") if rows[eid].urgency != "ignore")
    # (a later mention of a ticket also queues a refresh of its parent alert: not an alert)
    assert r.alerts == expected_alerts == await count(engine, outbox, outbox.c.kind == "slack.mention")
    assert await count(engine, outbox, outbox.c.key == "slack.mention:x:103") == 0


async def test_the_same_page_again_adds_nothing(engine, triage) -> None:
    page = [m("200", "@acme my order never arrived and support hung up on me"), m("201", "@acme where is my refund")]
    first = await ingest(engine, Batch(page, [Cursor("s", "201")]), source="x", triage=triage, policy=ALL)
    again = await ingest(engine, Batch(page + page, [Cursor("s", "201")]), source="x", triage=triage, policy=ALL)
    assert first.stored == 2 and again.stored == 0 and again.duplicates == 4
    assert await count(engine, mentions) == 2
    assert await count(engine, outbox, outbox.c.kind == "slack.mention") == first.alerts


async def test_a_thread_lands_on_one_ticket(engine, triage) -> None:
    thread = [
        m("300", "@acme I was charged twice for order 123, please refund", t=1),
        m("301", "@acme still nothing?? this is the second day I ask about the double charge", conv="300", t=50),
    ]
    await ingest(engine, Batch(thread[:1], []), source="x", triage=triage, policy=ALL)
    await ingest(engine, Batch(thread[1:], []), source="x", triage=triage, policy=ALL)
    async with engine.connect() as conn:
        ids = {r.external_id: r.ticket_id for r in (await conn.execute(select(mentions))).all()}
        (ticket,) = (await conn.execute(select(tickets))).all()
    assert ids["300"] == ids["301"] == ticket.id
    assert ticket.root_key == "x:300"


async def test_repeat_contact_is_counted_for_triage(engine, triage) -> None:
    first = [m(str(400 + i), f"@acme refund please, attempt {i}", t=i) for i in range(3)]
    await ingest(engine, Batch(first, []), source="x", triage=triage, policy=ALL, clock=lambda: 1_764_000_100)
    async with engine.connect() as conn:
        reasons = {r.external_id: " ".join(r.reasons) for r in (await conn.execute(select(mentions))).all()}
    assert "in 24 h" not in reasons["400"]
    assert "3rd" in reasons["402"], reasons["402"]


async def test_nothing_is_written_when_the_transaction_fails(engine, triage) -> None:
    class Broken:
        def classify(self, *_a, **_k):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await ingest(engine, Batch([m("500", "hi @acme")], [Cursor("s", "500")]), source="x", triage=Broken(),
                     policy=ALL)
    assert await count(engine, mentions) == 0
    assert await load_cursors(engine, "x") == {}
