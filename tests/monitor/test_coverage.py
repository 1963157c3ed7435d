"""Coverage events: the transition table of `changes`, and the recorder's rows on both backends."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from monitor.coverage import CloseStale, Closed, CoverageRecorder, Opened, Snapshot, changes, events_between
from monitor.sandbox.clock import ManualClock
from monitor.source_health import SourceHealth, StreamHealth
from monitor.storage.schema import coverage_events

T = 1_000.0
S = Snapshot


@pytest.mark.parametrize(
    ("before", "after", "throttled", "expected"),
    [
        # source-level states
        (S("ok"), S("paused", since=900, error="AuthError: 401"), False, [Opened("", "paused", 900, "AuthError: 401")]),
        (S("paused", since=900), S("starting"), False, [Closed("", "paused", T)]),
        (S("ok"), S("failing", since=990, error="TransientError: 503"), False,
         [Opened("", "failing", 990, "TransientError: 503")]),
        (S("failing", since=990), S("ok"), False, [Closed("", "failing", T)]),
        (S("failing", since=990), S("failing", since=990), False, []),  # still failing: nothing new
        (S("starting"), S("ok"), False, [CloseStale(("paused", "failing", "throttled"), T)]),
        (S("ok"), S("ok"), False, []),
        # throttling: opened by a new refusal, closed by a fetch without one
        (S("ok", rate_limited=0), S("ok", rate_limited=1), False,
         [Opened("", "throttled", T, "the platform refused requests (rate limit)")]),
        (S("ok", rate_limited=1), S("ok", rate_limited=2), True, []),
        (S("ok", rate_limited=1, attempts=5), S("ok", rate_limited=1, attempts=9), True, [Closed("", "throttled", T)]),
        (S("ok", rate_limited=1, attempts=5), S("ok", rate_limited=1, attempts=5), True, []),  # no fetch: unknown
        # one stream
        (S("ok", streams=(("search:a", "ok", None, ""),)), S("ok", streams=(("search:a", "failing", 950, "E"),)),
         False, [Opened("search:a", "failing", 950, "E")]),
        (S("ok", streams=(("search:a", "failing", 950, "E"),)), S("ok", streams=(("search:a", "ok", None, ""),)),
         False, [Closed("search:a", "failing", T)]),
        # quiet watchdog
        (S("ok"), S("ok", quiet=True, quiet_since=400), False,
         [Opened("", "quiet", 400, "no mentions where some are usual")]),
        (S("ok", quiet=True, quiet_since=400), S("ok"), False, [Closed("", "quiet", T)]),
        # a gap names a past range: opened already ended
        (S("ok"), S("ok", gaps=(("search:a", 100.0, 200.0),)), False,
         [Opened("search:a", "gap", 100.0, "the platform can no longer return these posts", end=200.0)]),
    ],
)
def test_changes_table(before, after, throttled, expected) -> None:
    assert changes(before, after, T, throttled=throttled) == expected


async def _rows(engine):
    async with engine.connect() as conn:
        rows = await conn.execute(select(coverage_events.c.stream, coverage_events.c.kind, coverage_events.c.start_at,
                                         coverage_events.c.end_at).order_by(coverage_events.c.id))
        return [tuple(r) for r in rows]


async def test_recorder_writes_episodes_once_and_closes_them(engine) -> None:
    clock = ManualClock(T)
    h = SourceHealth(state="ok")
    rec = CoverageRecorder(engine, "x", clock)

    # a failure, observed on three ticks: one row
    h.state, h.last_attempt_at, h.last_error = "failing", T, "TransientError: 503"
    for _ in range(3):
        rec.observe(h)
        await rec.flush()
        clock.now += 5
    # a stream fails while the source recovers; a gap is found
    h.state, h.last_attempt_at, h.last_error = "ok", clock.now, ""
    h.streams["search:a"] = StreamHealth(state="failing", failing_since=clock.now, last_error="ConfigError: bad")

    class Gap:
        stream, start, end = "search:a", 10.0, 20.0

    rec.observe(h, [Gap()])
    await rec.flush()
    rec.observe(h, [Gap()])  # the same fetch's gaps again on a tick without a fetch: not repeated
    await rec.flush()
    assert await _rows(engine) == [
        ("", "failing", T, T + 15), ("search:a", "failing", T + 15, None), ("search:a", "gap", 10.0, 20.0)]

    # a restarted daemon sees the source well: rows an earlier daemon left open are closed (a stream
    # that still fails is opened again by the new daemon when it fails for it)
    async with engine.begin() as conn:
        await conn.execute(coverage_events.insert().values(source="x", stream="", kind="paused", start_at=T - 100,
                                                           end_at=None, detail="AuthError"))
    clock.now += 60
    rec2 = CoverageRecorder(engine, "x", clock)
    rec2.observe(SourceHealth(state="ok", last_attempt_at=clock.now))
    await rec2.flush()
    rows = await _rows(engine)
    assert ("", "paused", T - 100, T + 75) in rows and ("search:a", "failing", T + 15, T + 75) in rows

    async with engine.connect() as conn:
        found = await events_between(conn, T + 10, T + 20)
    assert [(e.stream, e.kind) for e in found] == [("", "paused"), ("", "failing"), ("search:a", "failing")]


# Over the real poller: the X connector (tweepy) against the sandbox X with injected faults, the
# recorder observing after each tick as the daemon does (Daemon._record_coverage).
from test_poller import SEARCH, Rig, rig, triage  # noqa: E402,F401  (the poller tests' rig and its fixtures)

from connectors.x import snowflake_at  # noqa: E402
from monitor.sandbox.core import Fault  # noqa: E402
from monitor.storage.schema import cursors  # noqa: E402


async def _tick_for(r: Rig, rec: CoverageRecorder, seconds: float) -> None:
    end = r.clock.now + seconds
    while r.clock.now < end:
        await r.poller.poll()
        rec.observe(r.poller.health, r.source.gaps)
        await rec.flush()
        r.clock.now += 1.0


async def test_a_failing_stream_and_a_gap_over_the_real_poller(rig) -> None:  # noqa: F811
    old = rig.clock.now - 9 * 86400  # older than the seven days X's recent search reaches back
    async with rig.engine.begin() as conn:
        await conn.execute(cursors.insert().values(source="x", stream=SEARCH, value=snowflake_at(old), updated_at=old))
    rec = CoverageRecorder(rig.engine, "x", rig.clock)
    await _tick_for(rig, rec, 30)
    rig.world.faults.add("/2/tweets/search/recent", Fault("503", times=1000))
    failed_from = rig.clock.now
    await _tick_for(rig, rec, 300)
    rig.world.faults.clear()
    await _tick_for(rig, rec, 1000)
    rows = await _rows(rig.engine)
    # the gap once (not on every tick), then the failing stream (the source itself never failed)
    assert [(s, k) for s, k, *_ in rows] == [(SEARCH, "gap"), (SEARCH, "failing")]
    assert rows[0][2] == pytest.approx(old, abs=1) and rows[0][3] is not None
    _, _, start, end = rows[1]
    assert failed_from <= start < failed_from + 60 and end is not None and end > start

