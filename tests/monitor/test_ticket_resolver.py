"""The ticket resolver: a table for the pure rules, then the same stories through ingest on both backends."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from monitor.ingest import ingest
from monitor.models import Author, Batch, Mention, Verdict
from monitor.storage.schema import mentions, ticket_events, tickets
from monitor.ticket_resolver import Item, Known, TicketState, resolve

H = 3600.0
ANNA, BOB, US = "anna", "bob", "us"


def it(eid: str, author: str, conv: str, at: float, *, act: bool = True, own: bool = False, to: str = "") -> Item:
    return Item(eid, author, conv, at, is_own=own, in_reply_to=to, actionable=act, urgency="normal", category="q")


def t(tid: int, author: str, conv: str, *, status: str = "open", heard: float = 0.0) -> TicketState:
    return TicketState(tid, author, status, opened_at=0.0, last_customer_at=heard, conversation=conv)


# (story, known tickets, known thread links, items, expected ticket per item (None: no ticket; -1.. new),
#  expected events kinds in order)
CASES = [
    ("a complaint opens a ticket",
     [], {}, [it("1", ANNA, "1", 0)], {"1": -1}, ["opened"]),
    ("a chat that needs no answer opens none",
     [], {}, [it("1", ANNA, "1", 0, act=False)], {"1": None}, []),
    ("the customer's follow-up in their thread joins, actionable or not",
     [t(7, ANNA, "1")], {("1", ANNA): 7}, [it("2", ANNA, "1", H, act=False)], {"2": 7}, ["joined"]),
    ("a returning customer in a new thread joins their open ticket",
     [t(7, ANNA, "1", heard=0)], {("1", ANNA): 7}, [it("5", ANNA, "5", 24 * H)], {"5": 7}, ["joined"]),
    ("... but not after the window: a new ticket",
     [t(7, ANNA, "1", heard=0)], {("1", ANNA): 7}, [it("5", ANNA, "5", 73 * H)], {"5": -1}, ["opened"]),
    ("a stranger's complaint in someone's thread gets their own ticket",
     [t(7, ANNA, "1")], {("1", ANNA): 7}, [it("3", BOB, "1", H)], {"3": -1}, ["opened"]),
    ("a stranger's remark in someone's thread is attached as context",
     [t(7, ANNA, "1")], {("1", ANNA): 7}, [it("3", BOB, "1", H, act=False)], {"3": 7}, ["context"]),
    ("the brand's answer is a response to the ticket of the post it answers",
     [t(7, ANNA, "1"), t(8, BOB, "1")], {("1", ANNA): 7, ("1", BOB): 8},
     [it("3", BOB, "1", H), it("4", US, "1", 2 * H, own=True, to="3")], {"3": 8, "4": 8},
     ["joined", "first_response", "responded"]),
    ("a customer on a solved ticket reopens it",
     [t(7, ANNA, "1", status="solved")], {("1", ANNA): 7}, [it("2", ANNA, "1", H, act=False)], {"2": 7},
     ["reopened", "joined"]),
    ("a closed ticket is history: a complaint opens a new one",
     [t(7, ANNA, "1", status="closed")], {("1", ANNA): 7}, [it("2", ANNA, "1", H)], {"2": -1}, ["opened"]),
    ("one poll: the complaint, the brand's answer, the follow-up — one ticket",
     [], {}, [it("1", ANNA, "1", 0), it("2", US, "1", H, own=True, to="1"), it("3", ANNA, "1", 2 * H, act=False)],
     {"1": -1, "2": -1, "3": -1}, ["opened", "first_response", "responded", "joined"]),
    ("an answer read after the customer's newer message leaves the ticket open",
     [t(7, ANNA, "1", heard=3 * H)], {("1", ANNA): 7}, [it("4", US, "1", 2 * H, own=True, to="1")], {"4": 7},
     ["first_response", "responded"]),
    ("our own post in a thread nobody complained in is no response",
     [], {}, [it("1", US, "1", 0, own=True)], {"1": None}, []),
]


@pytest.mark.parametrize(("story", "known", "links", "items", "want", "events"), CASES, ids=[c[0] for c in CASES])
def test_resolver_table(story, known, links, items, want, events) -> None:
    plan = resolve(items, Known(tickets={k.id: k for k in known}, threads=dict(links)), window=72 * H)
    assert {i.external_id: plan.assign.get(i.external_id) for i in items} == want
    assert [e.kind for e in plan.events] == events


def test_a_late_read_answer_does_not_make_the_ticket_pending() -> None:
    known = Known(tickets={7: t(7, ANNA, "1", heard=3 * H)}, threads={("1", ANNA): 7})
    plan = resolve([it("4", US, "1", 2 * H, own=True, to="1")], known)
    assert plan.tickets[7].status == "open" and plan.tickets[7].first_response_at == 2 * H


def test_status_follows_the_conversation() -> None:
    known = Known(tickets={7: t(7, ANNA, "1")}, threads={("1", ANNA): 7})
    answered = resolve([it("2", US, "1", H, own=True, to="1")], known)
    assert answered.tickets[7].status == "pending" and answered.tickets[7].first_response_at == H
    known.tickets[7] = answered.tickets[7]
    again = resolve([it("3", ANNA, "1", 2 * H, act=False), it("4", US, "1", 3 * H, own=True, to="3")], known)
    final = again.tickets[7]
    assert final.status == "pending" and final.first_response_at == H  # only the first response sets it
    assert final.last_customer_at == 2 * H and final.last_response_at == 3 * H


# ── the same stories through ingest, on SQLite and PostgreSQL ──────────────────────────────────
class TableTriage:
    """Triage from the text: "!" makes a complaint (actionable), anything else is chatter."""

    def classify(self, m: Mention, **_: object) -> Verdict:
        act = "!" in m.text
        return Verdict(("critical" if "fire" in m.text else "high") if act else "low", "billing" if act else "other", act, act, -0.5 if act else 0.2,
                       80 if act else 10, 0.9)


def post(eid: str, who: str, text: str, *, conv: str = "", at: float = 0, to: str = "") -> Mention:
    author = Author({"anna": "1", "bob": "2", "us": "9"}[who], who)
    return Mention(source="x", external_id=eid, text=text, author=author, conversation_id=conv or eid,
                   in_reply_to=to, is_own=who == "us",
                   created_at=datetime.fromtimestamp(1_764_000_000 + at, UTC))


async def poll(engine, *posts: Mention) -> None:
    await ingest(engine, Batch(list(posts), []), source="x", triage=TableTriage(), policy=None,
                 clock=lambda: 1_764_000_000 + max(p.created_at.timestamp() - 1_764_000_000 for p in posts) + 60)


async def ticket_of(engine) -> dict[str, int | None]:
    async with engine.connect() as conn:
        return {r.external_id: r.ticket_id for r in await conn.execute(select(mentions))}


async def test_follow_up_in_a_later_poll_and_a_returning_customer(engine) -> None:
    await poll(engine, post("100", "anna", "charged twice!"))
    await poll(engine, post("101", "anna", "any news", conv="100", to="100", at=3600))  # not actionable
    await poll(engine, post("200", "anna", "still nothing!", at=20 * 3600))  # a new thread, next day
    got = await ticket_of(engine)
    assert got["100"] == got["101"] == got["200"] is not None
    async with engine.connect() as conn:
        (row,) = (await conn.execute(select(tickets))).all()
        kinds = [r.kind for r in await conn.execute(select(ticket_events).order_by(ticket_events.c.id))]
    assert row.root_key == "x:100" and row.status == "open" and row.last_customer_at == 1_764_000_000 + 20 * 3600
    assert kinds == ["opened", "joined", "joined"]


async def test_stranger_in_a_thread_and_the_brand_answering(engine) -> None:
    await poll(engine, post("100", "anna", "charged twice!"))
    await poll(engine, post("101", "bob", "me too!", conv="100", to="100", at=60),
               post("102", "bob", "lol", conv="100", to="100", at=90))
    await poll(engine, post("103", "us", "@anna sorry, we're on it", conv="100", to="100", at=600))
    got = await ticket_of(engine)
    assert got["101"] != got["100"] and got["102"] == got["101"]  # bob's own ticket, and his remark joins it
    assert got["103"] == got["100"]
    async with engine.connect() as conn:
        rows = {r.id: r for r in await conn.execute(select(tickets))}
    anna = rows[got["100"]]
    assert anna.status == "pending" and anna.first_response_at == 1_764_000_000 + 600
    assert anna.first_response_ref == "103" and rows[got["101"]].first_response_at is None


async def test_a_solved_ticket_reopens_when_the_customer_writes(engine) -> None:
    await poll(engine, post("100", "anna", "charged twice!"))
    async with engine.begin() as conn:
        await conn.execute(tickets.update().values(status="solved", solved_at=1_764_000_100))
    await poll(engine, post("101", "anna", "it happened again", conv="100", to="100", at=7200))
    async with engine.connect() as conn:
        (row,) = (await conn.execute(select(tickets))).all()
        kinds = [r.kind for r in await conn.execute(select(ticket_events).order_by(ticket_events.c.id))]
    assert row.status == "open" and row.solved_at is None
    assert kinds == ["opened", "reopened", "joined"]


async def test_a_ticket_is_critical_since_it_opened_critical_or_a_follow_up_made_it_so(engine) -> None:
    await poll(engine, post("100", "anna", "charged twice!"), post("300", "bob", "the charger is on fire!", at=5))
    await poll(engine, post("101", "anna", "and now it is on fire!", conv="100", to="100", at=7200))
    async with engine.connect() as conn:
        rows = {r.root_key: r for r in await conn.execute(select(tickets))}
    assert rows["x:300"].critical_since == rows["x:300"].opened_at  # critical from the start
    anna = rows["x:100"]
    # lifted by the follow-up: critical since it was read (the poll's time), not since the ticket opened
    assert anna.urgency == "critical" and anna.critical_since == 1_764_000_000 + 7200 + 60
