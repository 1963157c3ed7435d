"""The quiet-source watchdog: its truth table, row by row, and its baseline from the mentions table."""
from __future__ import annotations

import pytest
from sqlalchemy import insert

from monitor.storage.schema import mentions
from monitor.watchdog import Activity, QuietRule, QuietState, read_activity, step

RULE = QuietRule(after=3600, min_expected=5)
NOW = 1_764_000_000.0
RECENT, LONG_AGO = NOW - 600, NOW - 5000
QUIET = QuietState(True, LONG_AGO)


@pytest.mark.parametrize(
    "state, last_seen, expected, polling, new_state, action",
    [
        # quiet  polling  silent  expected>=min  → quiet'  action   (the docstring's table, in order)
        (QuietState(), LONG_AGO, 50.0, False, QuietState(), "none"),  # failing/paused: its own alert
        (QuietState(), RECENT, 50.0, True, QuietState(), "none"),
        (QuietState(), LONG_AGO, 2.0, True, QuietState(), "none"),  # too little traffic to judge
        (QuietState(), None, 0.0, True, QuietState(), "none"),  # never saw anything: no baseline
        (QuietState(), LONG_AGO, 50.0, True, QuietState(True, LONG_AGO), "went_quiet"),
        (QuietState(), None, 50.0, True, QuietState(True, None), "went_quiet"),
        (QUIET, LONG_AGO, 50.0, True, QUIET, "none"),  # told once
        (QUIET, LONG_AGO, 50.0, False, QUIET, "none"),
        (QUIET, LONG_AGO, 0.0, True, QUIET, "none"),
        (QUIET, RECENT, 50.0, True, QuietState(), "recovered"),
        (QUIET, RECENT, 0.0, False, QuietState(), "recovered"),  # recovery is announced whatever else holds
        (QuietState(), NOW - 3600, 50.0, True, QuietState(True, NOW - 3600), "went_quiet"),  # exactly `after`
    ],
)
def test_truth_table(state: QuietState, last_seen: float | None, expected: float, polling: bool,
                     new_state: QuietState, action: str) -> None:
    assert step(state, Activity(last_seen, expected, polling), RULE, NOW) == (new_state, action)


def test_alert_once_and_recover_once_over_a_timeline() -> None:
    state, actions = QuietState(), []
    for minute in range(0, 300, 10):
        now = NOW + minute * 60
        last = now if minute >= 100 else NOW - 60  # nothing from NOW until minute 100, then a steady flow
        state, action = step(state, Activity(last, 20.0, True), RULE, now)
        actions.append((minute, action))
    assert [a for a in actions if a[1] != "none"] == [(60, "went_quiet"), (100, "recovered")]


def row(eid: str, fetched_at: float, *, own: bool = False) -> dict[str, object]:
    return {"source": "x", "external_id": eid, "stream": "mentions:acme", "author_id": "1", "text": "hi",
            "is_own": own, "created_at": fetched_at - 5, "fetched_at": fetched_at}


async def test_baseline_comes_from_the_mentions_table(engine) -> None:
    rule = QuietRule(after=3600, min_expected=5, baseline=86400)
    assert await read_activity(engine, "x", rule, NOW, polling=True) == Activity(None, 0.0, True)
    # 48 mentions over the 24 hours before the judged hour: 2 an hour; one of ours (never counted)
    rows = [row(str(i), NOW - 3600 - 1800 * (i + 1)) for i in range(48)] + [row("own", NOW - 10, own=True)]
    async with engine.begin() as conn:
        await conn.execute(insert(mentions), rows)
    a = await read_activity(engine, "x", rule, NOW, polling=True)
    assert a.last_seen_at == NOW - 3600 - 1800
    assert a.expected == pytest.approx(2.0, rel=0.05)
    # a young database (another source): 12 mentions over the 2 hours it has existed → 6 an hour
    young = QuietRule(after=600, min_expected=3, baseline=86400)
    async with engine.begin() as conn:
        await conn.execute(insert(mentions), [{**row(f"y{i}", NOW - 600 - 600 * i), "source": "r"} for i in range(13)])
    a = await read_activity(engine, "r", young, NOW, polling=False)
    assert a.polling is False and a.last_seen_at == NOW - 600
    assert a.expected == pytest.approx(12 / 7200 * 600)  # the row at the window's edge is inside the window


async def test_the_baseline_knows_the_time_of_day(engine) -> None:
    """A brand talked about only in office hours is not "quiet" at 3 a.m., but is at 2 p.m."""
    midnight = 1_764_028_800.0  # 2025-11-25 00:00 UTC
    rows = [row(f"d{day}h{hour}m{m}", midnight - day * 86400 + hour * 3600 + m * 360)
            for day in (1, 2, 3) for hour in range(9, 17) for m in range(10)]
    async with engine.begin() as conn:
        await conn.execute(insert(mentions), rows)
    rule = QuietRule(after=7200, min_expected=5)
    night = await read_activity(engine, "x", rule, midnight + 3 * 3600, polling=True)
    afternoon = await read_activity(engine, "x", rule, midnight + 14 * 3600, polling=True)
    assert night.expected == 0 and afternoon.expected == 20
    assert step(QuietState(), night, rule, midnight + 3 * 3600)[1] == "none"
    assert step(QuietState(), afternoon, rule, midnight + 14 * 3600)[1] == "went_quiet"
