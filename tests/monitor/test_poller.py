"""The Poller over the real X connector (tweepy → sandbox X) and a real database, with an injected
clock: per-stream health, gaps, pauses that resume only on a passing check, the quiet watchdog,
and the budget planner deciding which streams are asked."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import insert, select

from connectors.x import XConfig, XSource, snowflake_at
from monitor import outbox
from monitor.budget import planner_for
from monitor.metrics import Metrics
from monitor.outbox import NewEffect
from monitor.poller import Poller
from monitor.sandbox.clock import ManualClock as Clock
from monitor.sandbox.core import Fault, Server
from monitor.sandbox.x_api import XWorld, make_x_app
from monitor.storage.schema import cursors, mentions
from monitor.storage.schema import outbox as outbox_table
from monitor.triage import load_triage
from monitor.watchdog import QuietRule

T0 = 1_764_000_000.0
BEARER = "sandbox-bearer"
QUERY = "acme -is:retweet"
SEARCH = f"search:{QUERY}"


@pytest.fixture(scope="module")
def triage():
    return load_triage()


@dataclass
class Rig:
    world: XWorld
    clock: Clock
    poller: Poller
    source: XSource
    engine: Any
    states: set[str] = field(default_factory=set)  # every state the source was in after a tick

    async def poll_for(self, seconds: float, step: float = 1.0) -> None:
        """Tick like the daemon does, for `seconds` of simulated time."""
        end = self.clock.now + seconds
        while self.clock.now < end:
            await self.poller.poll()
            self.states.add(self.poller.health.state)
            self.clock.now += step

    async def ops(self, prefix: str = "ops.") -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(outbox_table).where(outbox_table.c.key.startswith(prefix))
                                       .order_by(outbox_table.c.id))).mappings().all()
        return [dict(r) for r in rows]

    def requests(self, prefix: str) -> int:
        return len(self.world.recorder.matching(prefix))


@pytest.fixture
async def rig(engine, triage) -> AsyncIterator[Rig]:
    clock = Clock(T0)
    world = XWorld(clock, bearer_token=BEARER)
    world.add_user("acme", "Acme", 250_000, True)
    world.add_user("carla", "Carla", 1200)
    server = Server(make_x_app(world))
    url = await server.start()
    cfg = XConfig(type="x", bearer_token=BEARER, api_base=url, handles=["acme"], queries=[QUERY], interval=10,
                  max_results=10, max_pages=2, quiet_after=600, quiet_min_expected=3)
    source = XSource(cfg, clock=clock)

    async def ops(key: str, payload: dict[str, Any]) -> None:
        async with engine.begin() as conn:
            await outbox.enqueue(conn, [NewEffect(key, "slack.message", "#ops", payload)], now=clock())

    poller = Poller(source, name="x", engine=engine, triage=triage, policy=None, metrics=Metrics(), holder="t",
                    lease_ttl=30, planner=planner_for(cfg, source.streams()), quiet_rule=QuietRule(600, 3),
                    clock=clock, ops=ops, stream_alert_after=3, recheck_interval=60)
    try:
        yield Rig(world, clock, poller, source, engine)
    finally:
        await source.close()
        await server.stop()


def metric(poller: Poller, name: str, **labels: str) -> float | None:
    return poller.metrics.registry.get_sample_value(name, labels)


async def test_a_stream_failing_while_the_other_works_is_visible_and_told_once(rig: Rig) -> None:
    rig.world.faults.add("/2/tweets/search/recent", Fault("503", times=1000))
    await rig.poll_for(120)
    rig.world.post("carla", "@acme my parcel is late again")
    await rig.poll_for(300)
    h = rig.poller.health
    assert h.state == "ok" and h.stored == 1  # the mentions stream goes on
    assert rig.states == {"ok"}  # one bad stream never makes the source flap to "failing"
    s = h.streams[SEARCH]
    assert s.state == "failing" and s.failures_in_row >= 3 and "server error (503)" in s.last_error
    assert h.streams["mentions:acme"].state == "ok"
    assert metric(rig.poller, "om_stream_up", source="x", stream=SEARCH) == 0
    assert metric(rig.poller, "om_stream_errors_total", source="x", stream=SEARCH, kind="transient") >= 3
    # backs off exponentially (5, 10, 20, 40, 80, 160 s …): a handful of tries in 7 minutes, never a burst
    assert 4 <= rig.requests("/2/tweets/search") <= 8
    assert rig.poller.planner.streams[SEARCH].next_due - rig.clock.now > 30  # the next try waits longer still
    failing = await rig.ops("ops.stream_failing:")
    assert len(failing) == 1 and SEARCH in failing[0]["payload"]["text"]
    rig.world.faults.clear()
    await rig.poll_for(1000)
    assert h.streams[SEARCH].state == "ok"
    assert len(await rig.ops("ops.stream_recovered:")) == 1
    assert len(await rig.ops("ops.stream_failing:")) == 1


async def test_a_gap_is_told_once_with_the_missing_range(rig: Rig) -> None:
    old = rig.clock.now - 9 * 86400  # older than the seven days recent search reaches back
    async with rig.engine.begin() as conn:
        await conn.execute(insert(cursors), [{"source": "x", "stream": SEARCH, "value": snowflake_at(old),
                                              "updated_at": old}])
    rig.world.post("carla", "acme lost my bag", at=rig.clock.now - 3600)
    await rig.poll_for(200)
    (gap,) = await rig.ops("ops.gap:")
    assert gap["key"].startswith(f"ops.gap:x:{SEARCH}:{int(old)}")
    assert "may be missing" in gap["payload"]["text"]
    assert rig.poller.health.gaps == 1 and rig.poller.health.stored == 1
    assert metric(rig.poller, "om_source_gaps_total", source="x", stream=SEARCH) == 1
    assert metric(rig.poller, "om_source_gap_seconds_total", source="x", stream=SEARCH) == pytest.approx(
        2 * 86400, abs=120)


async def test_auth_failure_pauses_alerts_once_and_resumes_only_when_check_passes(rig: Rig) -> None:
    await rig.poll_for(5)
    rig.world.bearer_tokens.clear()  # the token was revoked
    await rig.poll_for(20)
    assert rig.poller.health.state == "paused"
    assert len(await rig.ops("ops.source_paused:")) == 1
    asked = len(rig.world.recorder.requests)
    await rig.poll_for(30)  # paused: nothing is asked until the recheck is due
    assert len(rig.world.recorder.requests) == asked
    assert await rig.poller.try_resume() is False  # SIGHUP, but the token still fails: stays paused
    assert rig.poller.health.state == "paused" and await rig.ops("ops.source_resumed:") == []
    assert metric(rig.poller, "om_source_paused", source="x") == 1
    rig.world.bearer_tokens.add(BEARER)
    await rig.poll_for(120)  # the periodic recheck passes
    assert rig.poller.health.state == "ok"
    assert len(await rig.ops("ops.source_resumed:")) == 1 and len(await rig.ops("ops.source_paused:")) == 1
    assert metric(rig.poller, "om_source_paused", source="x") == 0


async def test_a_source_that_goes_quiet_is_told_once_and_its_return_once(rig: Rig) -> None:
    # the usual: a mention every minute for the last two hours
    async with rig.engine.begin() as conn:
        await conn.execute(insert(mentions), [
            {"source": "x", "external_id": f"h{i}", "stream": "mentions:acme", "author_id": "1", "text": "hi",
             "is_own": False, "created_at": T0 - 60 * i, "fetched_at": T0 - 60 * i} for i in range(1, 120)])
    await rig.poll_for(300)
    assert await rig.poller.watch() == "none"  # five quiet minutes: not yet
    await rig.poll_for(400)
    assert await rig.poller.watch() == "went_quiet"
    assert await rig.poller.watch() == "none"
    assert metric(rig.poller, "om_source_quiet", source="x") == 1
    rig.world.post("carla", "@acme hello?")
    await rig.poll_for(60)
    assert await rig.poller.watch() == "recovered"
    assert await rig.poller.watch() == "none"
    assert [r["key"].split(":")[0] for r in await rig.ops()] == ["ops.source_quiet", "ops.source_quiet_over"]


async def test_rate_limits_and_budget_are_in_health(rig: Rig) -> None:
    await rig.poll_for(30)
    d = rig.poller.health.as_dict(rig.clock.now)
    assert d["rate_limits"]["mentions"]["limit"] == 450 and d["rate_limits"]["search"]["remaining"] < 450
    b = rig.poller.budget()
    assert b["pools"]["mentions"]["spent_total"] == rig.requests("/2/users/1000001/mentions")
    assert set(b["streams"]) == {"mentions:acme", SEARCH}
    rig.poller.update_gauges()
    assert metric(rig.poller, "om_budget_window_limit", source="x", pool="search") == 450
    assert metric(rig.poller, "om_budget_requests_total", source="x", pool="search") == rig.requests("/2/tweets/search")


async def test_a_429_leaves_the_pool_alone_until_it_may_ask_again(rig: Rig) -> None:
    await rig.poll_for(20)
    rig.world.faults.add("/2/tweets/search/recent", Fault("429-no-reset"))
    before = rig.requests("/2/tweets/search")
    await rig.poll_for(200)
    assert rig.requests("/2/tweets/search") == before + 1  # one 429, then the pool waits (225 s here)
    assert rig.poller.health.rate_limited == 1
    assert metric(rig.poller, "om_source_rate_limited_total", source="x") == 1
    await rig.poll_for(300)
    assert rig.requests("/2/tweets/search") > before + 1
    assert rig.poller.health.streams[SEARCH].state == "ok"


async def test_the_months_post_reads_survive_a_restart(rig: Rig) -> None:
    for i in range(4):
        rig.world.post("carla", f"@acme hello {i}")
    await rig.poll_for(30)
    reads = rig.poller.planner.reads
    assert reads >= 4 and reads == rig.source.reads_total
    async with rig.engine.connect() as conn:
        stored = dict((await conn.execute(select(cursors.c.stream, cursors.c.value))).all())
    assert stored[f"budget:reads:{rig.poller.planner.reads_month}"] == str(reads)
    # a new daemon (a fresh planner) carries on from the stored count
    fresh = Poller(rig.source, name="x", engine=rig.engine, triage=rig.poller.triage, policy=None,
                   metrics=Metrics(), holder="t", lease_ttl=30,
                   planner=planner_for(rig.source.cfg, rig.source.streams()), clock=rig.clock)
    rig.world.post("carla", "@acme one more")
    rig.clock.now += 60
    await fresh.poll()
    assert fresh.planner.reads >= reads + 1


async def test_a_query_only_the_api_rejects_stops_that_stream_not_the_source(engine, triage) -> None:
    """`is:bogus` passes the local check but X answers 400: the search stream stops and the operators
    hear of it once; the handle's mentions keep flowing (pausing the source would blind them too)."""
    clock = Clock(T0)
    world = XWorld(clock, bearer_token=BEARER)
    world.add_user("acme", "Acme")
    world.add_user("carla", "Carla")
    server = Server(make_x_app(world))
    url = await server.start()
    cfg = XConfig(type="x", bearer_token=BEARER, api_base=url, handles=["acme"], queries=["acme is:bogus"],
                  interval=10, max_results=10)
    source = XSource(cfg, clock=clock, config_path="sources[0]")
    told: list[str] = []

    async def ops(key: str, payload: dict[str, Any]) -> None:
        told.append(key)

    poller = Poller(source, name="x", engine=engine, triage=triage, policy=None, metrics=Metrics(), holder="t",
                    lease_ttl=30, planner=planner_for(cfg, source.streams()), clock=clock, ops=ops)
    rig = Rig(world, clock, poller, source, engine)
    try:
        await rig.poll_for(60)
        world.post("carla", "@acme still waiting for my refund")
        await rig.poll_for(1200)
    finally:
        await source.close()
        await server.stop()
    h = poller.health
    assert rig.states == {"ok"} and h.stored == 1
    bad = h.streams["search:acme is:bogus"]
    assert bad.state == "failing" and "sources[0].queries[0]" in bad.last_error
    assert told == [f"ops.stream_failing:x:search:acme is:bogus:{int(T0)}"]
    assert rig.requests("/2/tweets/search") <= 5  # retried at the recheck pace, not every tick


async def test_partial_errors_beside_data_are_counted_per_stream_in_metrics_and_healthz(rig: Rig) -> None:
    await rig.poll_for(20)  # the streams' first read starts from "now"
    rig.world.post("carla", "@acme my card was charged twice")
    rig.world.suspend("carla")  # X leaves the author out of `includes` and says so beside the data
    await rig.poll_for(60)
    h = rig.poller.health
    assert h.stored == 1 and h.streams["mentions:acme"].state == "ok"  # the post itself is kept
    assert metric(rig.poller, "om_stream_partial_errors_total", source="x", stream="mentions:acme") == 1
    assert rig.poller.report(rig.clock.now)["streams"]["mentions:acme"]["partial_errors"] == 1
    # the search matches the same post, with the same author left out: counted where it was read
    assert metric(rig.poller, "om_stream_partial_errors_total", source="x", stream=SEARCH) == 1
