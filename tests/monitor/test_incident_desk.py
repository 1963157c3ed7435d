"""The incident's Slack buttons: the decision as a table, then clicks on both backends (double clicks and
stale buttons do nothing; every change is on the timeline with who and when, and in the Slack thread)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from alerts.incident_alert import ACTION_ACK, ACTION_IDENTIFIED, ACTION_MONITORING, ACTION_RESOLVE, build_opened
from monitor import incidents as inc
from monitor.incident_desk import IncidentDesk, decide
from monitor.storage.schema import outbox


@pytest.mark.parametrize(("action", "status", "acked", "change", "note"), [
    ("acknowledge", "investigating", None, "acknowledge", "You acknowledged Incident #4."),
    ("acknowledge", "identified", "U0BOB", None, "Incident #4 was already acknowledged by <@U0BOB>."),
    ("acknowledge", "resolved", None, None, "Incident #4 is already resolved."),
    ("identified", "investigating", None, "identified", "Incident #4 is identified now"),
    ("identified", "identified", None, None, "Incident #4 is already identified."),
    ("identified", "monitoring", None, None, "Incident #4 is already monitoring (past identified)"),
    ("monitoring", "investigating", "U0ANN", "monitoring", "Incident #4 is monitoring now"),
    ("resolved", "monitoring", None, "resolved", "Incident #4 is resolved now"),
    ("resolved", "resolved", None, None, "Incident #4 is already resolved."),
    ("monitoring", "resolved", None, None, "Incident #4 is already resolved."),
])
def test_what_a_click_does(action, status, acked, change, note) -> None:
    d = decide(action, status, acked, 4, "U0ANN")
    assert d.change == change and d.note.startswith(note)


def test_the_first_message_has_the_buttons() -> None:
    p = build_opened(7, service="checkout", title="t", public=True, opened_by="check:x", note="", at=0)
    (actions,) = [b for b in p["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        (ACTION_ACK, "7"), (ACTION_IDENTIFIED, "7"), (ACTION_MONITORING, "7"), (ACTION_RESOLVE, "7")]


async def test_clicks_change_the_incident_once_and_say_who(engine) -> None:
    async with engine.begin() as conn:
        i, _ = await inc.open_incident(conn, service="checkout", title="Checkout fails", message="Checkout fails.",
                                       by="check:c", now=100.0, slack_channel="#incidents")
    desk = IncidentDesk(engine, channel="#incidents", public_names={"checkout": "Checkout"}, clock=lambda: 200.0)
    assert await desk.click(ACTION_ACK, i.id, "U0ANN") == (True, f"You acknowledged Incident #{i.id}.")
    changed, note = await desk.click(ACTION_ACK, i.id, "U0BOB")
    assert not changed and "<@U0ANN>" in note
    assert (await desk.click(ACTION_MONITORING, i.id, "U0BOB"))[0]
    changed, note = await desk.click(ACTION_IDENTIFIED, i.id, "U0ANN")  # a stale button
    assert not changed and "past identified" in note
    assert (await desk.click(ACTION_RESOLVE, i.id, "U0CAT"))[0]
    assert not (await desk.click(ACTION_RESOLVE, i.id, "U0ANN"))[0]  # a double click
    assert (await desk.click(ACTION_RESOLVE, 999, "U0ANN")) == (False, "There is no incident #999.")
    async with engine.connect() as conn:
        done = await inc.get(conn, i.id)
        steps = [(u.status, u.message, u.by) for u in await inc.timeline(conn, i.id)]
        thread = (await conn.execute(select(outbox.c.thread_of).where(outbox.c.key.like(f"incident:{i.id}:update:%"))))\
            .scalars().all()
    assert done is not None and done.status == "resolved" and done.resolved_at == 200.0
    assert steps == [("investigating", "Checkout fails.", "check:c"),
                     ("investigating", "", "slack:U0ANN"),
                     ("monitoring", "A fix for Checkout is in place and we are watching it closely.", "slack:U0BOB"),
                     ("resolved", "Checkout is working normally again. Thank you for your patience.", "slack:U0CAT")]
    assert thread == [f"incident:{i.id}"] * 3  # each in the incident's thread


@pytest.mark.parametrize("action", [ACTION_ACK, ACTION_RESOLVE])
async def test_a_double_click_sent_at_once_changes_the_incident_once(engine, action) -> None:
    """Two presses from the same view arrive together: each click's transaction reads the incident, and
    on PostgreSQL both read it before either wrote, so both acknowledged (two notes, two Slack posts)
    until the click locked the incident's row."""
    import asyncio

    async with engine.begin() as conn:
        i, _ = await inc.open_incident(conn, service="checkout", title="Checkout fails", message="Checkout fails.",
                                       by="check:c", now=100.0, slack_channel="#incidents")
    desk = IncidentDesk(engine, channel="#incidents", public_names={"checkout": "Checkout"}, clock=lambda: 200.0)
    results = await asyncio.gather(*(desk.click(action, i.id, "U0ANN") for _ in range(2)))
    assert sorted(changed for changed, _ in results) == [False, True]
    async with engine.connect() as conn:
        steps = await inc.timeline(conn, i.id)
    assert len(steps) == 2  # the opening, and one change
