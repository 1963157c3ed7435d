"""A click on an alert whose outbox row is not marked sent yet refreshes that alert once, not twice.

The click's own update names the clicked message; the action also queues an update for the ticket's
pending alert (it may have been rendered before the action). When both are the same message, the
second to be delivered finds the first and does nothing. Seen as two `chat.update`s for one claim
when two daemons shared the clicks on a busy machine.
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from sqlalchemy import select, update

from monitor.cockpit import Where
from monitor.delivery import OutboxItem, Posted
from monitor.sandbox.clock import ManualClock
from monitor.storage.schema import outbox, slack_messages
from tests.monitor.test_cockpit import NOW
from tests.monitor.test_escalation import _cockpit, _critical


async def _update_rows(engine) -> dict[str, OutboxItem]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(outbox).where(outbox.c.kind == "slack.update").order_by(outbox.c.id))
        return {r.key: OutboxItem(id=r.id, key=r.key, kind=r.kind, target=r.target, payload=r.payload,
                                  attempts=r.attempts, in_doubt=bool(r.in_doubt), created_at=r.created_at,
                                  priority=r.priority, lane=r.lane, about=r.about, thread_of=r.thread_of)
                for r in rows}


async def _posted(engine, key: str, channel: str, ts: str) -> None:
    """The alert's row as the dispatcher leaves it once Slack answered: sent, and in the registry."""
    async with engine.begin() as conn:
        row = (await conn.execute(select(outbox).where(outbox.c.key == key))).one()
        await conn.execute(update(outbox).where(outbox.c.key == key).values(status="sent"))
        await conn.execute(slack_messages.insert().values(outbox_key=key, lane=row.lane, channel_id=channel, ts=ts,
                                                          thread_ts=None, about=row.about, posted_at=NOW))


async def test_a_click_on_an_alert_not_yet_marked_sent_updates_it_once(engine) -> None:
    mid = await _critical(engine, "901")
    slack = _cockpit(engine, ManualClock(NOW + 5))

    # Slack has the alert (the teammate sees and clicks it); our row is still "pending"
    outcome = await slack.cockpit.act("claim", mid, "U0ANN", clicked=Where("C0URGENT", "1.000001", mid))
    assert outcome.changed
    rows = await _update_rows(engine)
    clicked_key = "slack.update:C0URGENT:1.000001:1"
    (thread_key,) = [k for k in rows if k != clicked_key]
    assert rows[thread_key].thread_of == f"ticket:{outcome.ticket_id}"
    await _posted(engine, "slack.mention:x:901", "C0URGENT", "1.000001")
    parent = Posted("C0URGENT", "1.000001", None)

    # the thread-parent update goes first: the click's own update is pending and will show this state
    assert await slack.render_update(replace(rows[thread_key], parent=parent)) is None
    clicked = await slack.render_update(rows[clicked_key])
    assert clicked is not None and clicked[:2] == ("C0URGENT", "1.000001")
    assert "Claimed by <@U0ANN>" in str(clicked[2]["blocks"])


async def test_without_a_click_on_it_the_pending_alert_is_still_refreshed(engine) -> None:
    mid = await _critical(engine, "902")
    slack = _cockpit(engine, ManualClock(NOW + 5))

    # the click came from another message (say, the escalation channel's copy)
    await slack.cockpit.act("claim", mid, "U0ANN", clicked=Where("C0ESCAL", "9.000001", mid))
    rows = await _update_rows(engine)
    (thread_key,) = [k for k in rows if ":a" in k]
    await _posted(engine, "slack.mention:x:902", "C0URGENT", "1.000001")
    rendered = await slack.render_update(replace(rows[thread_key], parent=Posted("C0URGENT", "1.000001", None)))
    assert rendered is not None and rendered[:2] == ("C0URGENT", "1.000001")
    assert "Claimed by <@U0ANN>" in str(rendered[2]["blocks"])


async def test_a_delivery_committed_between_the_two_reads_still_gets_its_update(engine) -> None:
    """PostgreSQL reads each statement at its own moment: the alert's delivery (sent + registry row, one
    commit) lands after the registry was read. The action must still refresh that alert (it once
    refreshed nothing: an escalation never reached the card)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): no statement can land between the reads")
    from monitor.cockpit import Cockpit
    from monitor.slack_cockpit import ticket_messages

    mid = await _critical(engine, "903")

    async def registry_then_delivery(conn, ticket_id: int):
        found = await ticket_messages(conn, ticket_id)
        await _posted(engine, "slack.mention:x:903", "C0URGENT", "1.000003")  # another connection commits
        return found

    cockpit = Cockpit(engine, clock=ManualClock(NOW + 5), messages_about=registry_then_delivery)
    assert (await cockpit.act("claim", mid, "U0ANN")).changed
    rows = await _update_rows(engine)
    assert rows, "no update at all: the claim never reaches the alert"
    slack = _cockpit(engine, ManualClock(NOW + 6))
    rendered = [await slack.render_update(replace(r, parent=Posted("C0URGENT", "1.000003", None))) for r in rows.values()]
    assert any(x is not None and x[:2] == ("C0URGENT", "1.000003") and "Claimed by <@U0ANN>" in str(x[2]["blocks"])
               for x in rendered)
