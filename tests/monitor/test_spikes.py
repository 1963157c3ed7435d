"""Complaint spikes: the Poisson grade as a table; the detector over the mentions table on both backends."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from monitor import incidents as inc
from monitor.health import Tracker
from monitor.health_config import ServiceConfig
from monitor.sandbox.clock import ManualClock
from monitor.spikes import WEEK, SpikeDetector, SpikeRule, grade, poisson_sf
from monitor.storage.schema import mentions, outbox

RULE = SpikeRule(window=900, sustained=2, min_count=5, p_possible=1e-3, p_likely=1e-6, lag=0)

GRADES = [
    (0, 0.0, "none"),        # nothing said
    (4, 0.0, "none"),        # below the minimum count, however unusual
    (5, 0.0, "possible"),    # five where nobody ever complains (expected floored at 0.5): P ≈ 1.7e-4
    (8, 0.0, "likely"),      # P ≈ 6e-8
    (5, 3.0, "none"),        # five where three are usual
    (12, 3.0, "possible"),   # P ≈ 7.1e-5
    (20, 3.0, "likely"),     # P ≈ 8e-11
    (64, 40.0, "possible"),  # a busy service: relative, not absolute (P ≈ 2.9e-4)
    (75, 40.0, "likely"),
    (50, 40.0, "none"),
]


@pytest.mark.parametrize(("count", "expected", "want"), GRADES)
def test_grade_table(count: int, expected: float, want: str) -> None:
    got, p = grade(count, expected, RULE)
    assert got == want, p


def test_poisson_tail() -> None:
    assert poisson_sf(0, 3.0) == 1.0
    assert poisson_sf(1, 3.0) == pytest.approx(1 - 2.718281828 ** -3, rel=1e-9)
    assert poisson_sf(5, 0.5) == pytest.approx(1.7212e-4, rel=1e-3)
    assert grade(5, 0.0, SpikeRule(p_possible=1e-4))[0] == "none"


def _mention(i: int, t: float, text: str, complaint: bool = True) -> dict:
    return {"source": "x", "external_id": str(i), "author_id": f"a{i}", "text": text, "created_at": t,
            "fetched_at": t, "complaint": complaint, "category": "outage" if complaint else "praise",
            "is_own": False, "stream": "", "author_username": "", "author_name": "", "author_followers": 0,
            "url": "", "conversation_id": "", "in_reply_to": "", "lang": "en"}


async def test_sustained_spike_opens_one_internal_incident_and_quiet_resolves_it(engine) -> None:
    start = 1_764_000_000.0 - (1_764_000_000.0 % 900)
    clock = ManualClock(start)
    tracker = Tracker(engine, {"checkout": ServiceConfig(name="checkout", public_name="Checkout")}, "#incidents",
                      clock=clock)
    det = SpikeDetector(engine, tracker, {"checkout": ["checkout", "basket"]}, RULE, clock=clock)
    rows, n = [], 0
    # two weeks of history: one complaint an hour about checkout, some praise
    for h in range(14 * 24):
        t = start - 2 * WEEK + h * 3600
        rows.append(_mention(n := n + 1, t, "checkout is slow today"))
        rows.append(_mention(n := n + 1, t + 60, "love the new app", complaint=False))
    # now: three windows of 15 complaints each, then quiet
    for wdx in range(3):
        for j in range(15):
            rows.append(_mention(n := n + 1, start + wdx * 900 + j * 30, "my basket is empty and checkout is down"))
    async with engine.begin() as conn:
        await conn.execute(mentions.insert(), rows)

    actions = []
    for _ in range(6):
        clock.advance(900)
        actions += await det.run()
        actions += await det.run()  # a second run in the same window judges nothing new
    assert actions == ["none", "open", "none", "none", "resolve", "none"]
    async with engine.connect() as conn:
        (i,) = await inc.list_incidents(conn)
        slack = (await conn.execute(select(outbox.c.kind, outbox.c.target))).all()
    assert (i.public, i.status, i.title) == (False, "resolved", "Possible incident: complaints about Checkout")
    assert {k for k, _ in slack} == {"slack.message"}  # Slack only: customers heard nothing


async def test_a_check_confirms_the_possible_incident_and_makes_it_public(engine) -> None:
    clock = ManualClock()
    async with engine.begin() as conn:
        possible, _ = await inc.open_incident(conn, service="checkout", title="Possible incident", public=False,
                                              message="Customers report problems", by="check:spike:checkout",
                                              now=clock(), slack_channel="#incidents")
        confirmed, created = await inc.open_incident(conn, service="checkout", title="Checkout is not working",
                                                     message="We are investigating problems with Checkout.",
                                                     by="check:api", now=clock() + 60, slack_channel="#incidents")
    assert not created and confirmed.id == possible.id and confirmed.public
    assert confirmed.title == "Checkout is not working"
