"""The cockpit's actions against a real database (SQLite and PostgreSQL): one effect per decision."""
from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from alerts.mention_alert import build_mention_alert
from monitor import switches
from monitor.cockpit import Cockpit, Where, card, history
from monitor.sandbox.clock import ManualClock
from monitor.storage.schema import feedback, mentions, outbox, suppressed_authors, tickets

NOW = 1_764_000_000.0


async def _mention(engine, eid: str = "1", *, author: str = "a1", ticket: bool = True, urgency: str = "high") -> int:
    async with engine.begin() as conn:
        tid = None
        if ticket:
            tid = (await conn.execute(tickets.insert().values(
                root_key=f"x:{eid}", source="x", author_id=author, status="open", urgency=urgency,
                opened_at=NOW, updated_at=NOW).returning(tickets.c.id))).scalar_one()
        return (await conn.execute(mentions.insert().values(
            source="x", external_id=eid, stream="s", author_id=author, author_username="jane", author_name="Jane",
            author_followers=10, text="my card was charged twice", url="", conversation_id=eid, in_reply_to="",
            quoted_id="", lang="en", is_own=False, created_at=NOW, fetched_at=NOW, urgency=urgency,
            category="billing", score=70, confidence=0.7, sentiment=-0.5, reasons=["r"], ticket_id=tid,
        ).returning(mentions.c.id))).scalar_one()


async def _updates(engine) -> list[dict]:
    async with engine.connect() as conn:
        return [r.payload for r in await conn.execute(select(outbox).where(outbox.c.kind == "slack.update"))]


async def test_two_teammates_claiming_at_once_make_one_claim(engine) -> None:
    mid = await _mention(engine)
    cockpit = Cockpit(engine, clock=ManualClock(NOW))
    where = Where("C1", "1.000001", mid)
    results = await asyncio.gather(*(cockpit.act("claim", mid, user, clicked=where)
                                     for user in ("U0ANN", "U0BOB", "U0ANN", "U0BOB")))
    winners = [r for r in results if r.changed]
    assert len(winners) == 1 and winners[0].note == f"You claimed ticket #{winners[0].ticket_id}."
    async with engine.connect() as conn:
        c = await card(conn, winners[0].ticket_id)
    owner = c.claimed_by
    assert owner in ("U0ANN", "U0BOB") and c.acknowledged_by == owner
    losers = [r.note for r in results if not r.changed]
    assert len(losers) == 3
    assert all(f"already claimed by <@{owner}>" in n or "You already have" in n for n in losers), losers
    actions = await history(engine, winners[0].ticket_id)
    assert [(a.action, a.by) for a in actions] == [("claim", owner)]
    assert len(await _updates(engine)) == 1  # one effect, one message update


async def test_resolve_escalate_and_an_untracked_mention_gets_a_ticket(engine) -> None:
    mid = await _mention(engine, ticket=False)
    clock = ManualClock(NOW)
    cockpit = Cockpit(engine, clock=clock, escalation_channel="#care-escalations", oncall_group="S0ONCALL")
    first = await cockpit.act("escalate", mid, "U0BOB")
    assert first.changed
    again = await cockpit.act("escalate", mid, "U0ANN")
    assert not again.changed and again.note == f"ticket #{first.ticket_id} is already escalated."
    async with engine.connect() as conn:
        assert (await conn.execute(select(mentions.c.ticket_id).where(mentions.c.id == mid))).scalar_one() == \
            first.ticket_id
        escalations = [r for r in await conn.execute(select(outbox).where(outbox.c.target == "#care-escalations"))]
    assert len(escalations) == 1
    assert escalations[0].payload["blocks"][0]["text"]["text"].startswith(":warning: <@U0BOB> escalated ticket #")
    resolved = await cockpit.act("resolve", mid, "U0ANN")
    assert resolved.changed
    async with engine.connect() as conn:
        status = (await conn.execute(select(tickets.c.status).where(tickets.c.id == first.ticket_id))).scalar_one()
        c = await card(conn, first.ticket_id)
    assert status == "solved" and c.resolved
    assert not (await cockpit.act("claim", mid, "U0ANN")).changed


async def test_spam_suppresses_the_author_and_teaches_triage(engine) -> None:
    mid = await _mention(engine, author="spammer")
    cockpit = Cockpit(engine, clock=ManualClock(NOW))
    out = await cockpit.act("spam", mid, "U0ANN")
    assert out.changed
    assert not (await cockpit.act("spam", mid, "U0BOB")).changed
    async with engine.connect() as conn:
        rows = (await conn.execute(select(suppressed_authors))).all()
        labels = (await conn.execute(select(feedback.c.category, feedback.c.by))).all()
    assert [(r.source, r.author_id, r.by) for r in rows] == [("x", "spammer", "U0ANN")]
    assert [tuple(r) for r in labels] == [("spam", "U0ANN")]


async def test_relabel_is_stored_once_per_modal_and_shown(engine) -> None:
    mid = await _mention(engine)
    cockpit = Cockpit(engine, clock=ManualClock(NOW))
    where = Where("C1", "1.000001", mid)
    first = await cockpit.relabel(mid, urgency="critical", category="outage", user="U0CAT", dedupe="V1",
                                  clicked=where)
    second = await cockpit.relabel(mid, urgency="critical", category="outage", user="U0CAT", dedupe="V1",
                                   clicked=where)
    assert first.changed and not second.changed
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(feedback))).scalar_one() == 1
        c = await card(conn, first.ticket_id)
    assert (c.urgency, c.category, c.relabelled_by) == ("critical", "outage", "U0CAT")
    view = await cockpit.mention_view(mid)
    msg = build_mention_alert(view, c)
    assert msg["blocks"][0]["text"]["text"].startswith(":rotating_light: Critical · Outage")
    assert "Relabelled by <@U0CAT>" in msg["blocks"][1]["elements"][0]["text"]


async def test_replies_kill_switch(engine) -> None:
    assert await switches.replies_paused(engine) is False
    await switches.set_replies_paused(engine, True, "U0ANN", now=NOW)
    assert await switches.replies_paused(engine) is True
    s = await switches.get(engine, switches.REPLIES_PAUSED)
    assert (s.value, s.by) == ("on", "U0ANN")
    await switches.set_replies_paused(engine, False, "U0CAT", now=NOW + 1)
    assert await switches.replies_paused(engine) is False
