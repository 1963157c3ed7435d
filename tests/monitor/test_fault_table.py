"""The fault table at daemon level: every fault × both sources, through Poller + ingest on a real
database, with an injected clock. For each: the poller never raises (the daemon keeps running),
after every poll each stored cursor covers only posts that are stored, and once the fault clears
every post is stored (nothing lost) and the source polls normally again."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from connectors.reddit import Mark, RedditConfig, RedditSource
from connectors.x import StreamCursor, XConfig, XSource, snowflake_time
from monitor.budget import planner_for
from monitor.ingest import load_cursors
from monitor.metrics import Metrics
from monitor.poller import READS_CURSOR, Poller
from monitor.sandbox.clock import ManualClock as Clock
from monitor.sandbox.core import Fault, Server
from monitor.sandbox.reddit_api import RedditWorld, make_reddit_app
from monitor.sandbox.x_api import XWorld, make_x_app
from monitor.storage.schema import mentions
from monitor.triage import load_triage

FAULTS = ["429", "429-no-reset", "401", "403", "500", "503", "timeout", "malformed", "drop"]


@pytest.fixture(scope="module")
def triage():
    return load_triage()


@dataclass
class Case:
    clock: Clock
    poller: Poller
    engine: Any
    world: Any
    posted: dict[str, float] = field(default_factory=dict)  # external id -> when it appeared
    post: Callable[[str], tuple[str, float]] = lambda text: ("", 0.0)
    inject: Callable[[Fault], None] = lambda f: None
    position: Callable[[str, str], float | None] = lambda stream, value: None
    told: list[str] = field(default_factory=list)  # idempotency keys of the operators' messages

    async def stored(self) -> set[str]:
        async with self.engine.connect() as conn:
            return set((await conn.execute(select(mentions.c.external_id))).scalars())

    async def check_cursors(self) -> None:
        """State after records: everything a cursor claims to be past is in the database."""
        stored = await self.stored()
        for stream, value in (await load_cursors(self.engine, self.poller.name)).items():
            if stream.startswith(READS_CURSOR):
                continue
            at = self.position(stream, value)
            if at is None:
                continue
            passed = {eid for eid, t in self.posted.items() if t < at}
            assert passed <= stored, f"cursor {stream}={value} passed unstored posts {passed - stored}"

    async def run(self, seconds: float) -> None:
        """Tick like the daemon, jumping the clock to the next moment anything is due."""
        end = self.clock.now + seconds
        p = self.poller
        while self.clock.now < end:
            await p.poll()  # must never raise: the daemon keeps running
            await self.check_cursors()
            now = self.clock.now
            wake = [p.planner.next_due(), p._recheck_at if p.health.state == "paused" else end]
            if p.health.backoff_until > now:
                wake.append(p.health.backoff_until)
            self.clock.now = max(now + 1.0, min(min(wake), end))

    def add(self, n: int, text: str) -> None:
        for i in range(n):
            self.clock.now += 1
            eid, at = self.post(f"{text} {i}")
            self.posted[eid] = at


async def x_case(engine, triage, clock: Clock) -> AsyncIterator[Case]:
    world = XWorld(clock)
    world.add_user("acme", "Acme")
    world.add_user("carla", "Carla")
    server = Server(make_x_app(world))
    url = await server.start()
    cfg = XConfig(type="x", bearer_token="sandbox-bearer", api_base=url, handles=["acme"], queries=["acme"],
                  interval=10, max_results=10, timeout=0.2)
    src = XSource(cfg, clock=clock)
    told: list[str] = []
    poller = Poller(src, name="x", engine=engine, triage=triage, policy=None, metrics=Metrics(), holder="t",
                    lease_ttl=30, planner=planner_for(cfg, src.streams()), clock=clock, recheck_interval=60,
                    ops=_recorder(told))

    def post(text: str) -> tuple[str, float]:
        return world.post("carla", f"@acme {text}"), clock.now

    def position(stream: str, value: str) -> float | None:
        since = StreamCursor.parse(value).since
        return None if since is None else snowflake_time(since) + 0.001

    case = Case(clock, poller, engine, world, post=post, position=position,
                inject=lambda f: world.faults.add("/2/", f), told=told)
    try:
        yield case
    finally:
        await src.close()
        await server.stop()


async def reddit_case(engine, triage, clock: Clock) -> AsyncIterator[Case]:
    world = RedditWorld(clock=clock)
    world.add_app("cid", "s3cret")
    world.add_user("AcmeCare", "pw")
    world.add_subreddit("acme")
    server = Server(make_reddit_app(world))
    url = await server.start()
    cfg = RedditConfig(type="reddit", client_id="cid", client_secret="s3cret", username="AcmeCare", password="pw",
                       api_base=url, www_base=url, queries=["acme"], subreddits=["acme"], interval=10,
                       timeout=0.2, retry_pause=0, fetch_parents=False)
    src = RedditSource(cfg, clock=clock)
    told: list[str] = []
    poller = Poller(src, name="reddit", engine=engine, triage=triage, policy=None, metrics=Metrics(), holder="t",
                    lease_ttl=30, planner=planner_for(cfg, src.streams()), clock=clock, recheck_interval=60,
                    ops=_recorder(told))

    def post(text: str) -> tuple[str, float]:
        thing = world.add_submission("acme", f"acme {text}", "the acme app is down")
        return thing["name"], thing["created_utc"]

    def position(stream: str, value: str) -> float | None:
        mark = Mark.decode(value)
        return None if mark is None else mark.created

    def inject(f: Fault) -> None:
        for prefix in ("/r/", "/message/", "/api/v1/me"):
            world.faults.add(prefix, Fault(f.kind, f.times, f.reset_in, f.delay))

    case = Case(clock, poller, engine, world, post=post, position=position, inject=inject, told=told)
    try:
        yield case
    finally:
        await src.close()
        await server.stop()


def _recorder(told: list[str]) -> Any:
    async def tell(key: str, payload: dict[str, Any]) -> None:
        told.append(key)
    return tell


@pytest.fixture(params=["x", "reddit"])
async def case(request, engine, triage) -> AsyncIterator[Case]:
    make = x_case if request.param == "x" else reddit_case
    async for c in make(engine, triage, Clock(float(int(time.time())))):
        yield c


@pytest.mark.parametrize("fault", FAULTS)
async def test_fault_table(case: Case, fault: str) -> None:
    case.add(3, "before")
    await case.run(60)
    assert set(case.posted) <= await case.stored()

    case.add(3, "during")
    case.inject(Fault(fault, times=3 if fault == "timeout" else 4, reset_in=120, delay=0.5))  # type: ignore[arg-type]
    await case.run(30)  # the fault bites
    h = case.poller.health
    assert h.errors >= 1 or any(s.errors for s in h.streams.values()), "the fault was not seen"
    case.add(2, "after")
    await case.run(1800)  # ...and clears (auth faults: the periodic check resumes the source)

    assert set(case.posted) <= await case.stored(), "posts lost"
    assert h.state == "ok" and all(s.state == "ok" for s in h.streams.values()), (h.streams, case.poller.planner.snapshot(case.clock.now))
    if fault in ("401", "403"):
        assert h.paused_at is None and (case.poller.metrics.registry.get_sample_value(
            "om_source_paused", {"source": case.poller.name}) or 0) == 0  # never paused (a resource's 403), or resumed


# What the real platforms do besides the generic faults, each injected where it happens for real.
# `stream`: the one stream it fails (the others go on, the source is never paused), or None when
# the whole source is affected.
PLATFORM_FAULTS = [
    # a suspended handle: X answers 200 with only `errors` on its mentions timeline
    ("x", "errors-only", "/2/users/", "mentions:acme"),
    # one private subreddit: 403 {"reason": "private"} on its listings, not the token's fault
    ("reddit", "403-private", "/r/acme/", "sub:acme"),
    # Reddit's edge answering 401 without www-authenticate (prawcore's bare KeyError)
    ("reddit", "401-bare", "/message/", None),
    # the token endpoint's own 429 (after the token expired)
    ("reddit", "token-429", "/api/v1/access_token", None),
]


@pytest.mark.parametrize(("case", "fault", "where", "stream"), PLATFORM_FAULTS, indirect=["case"],
                         ids=[f"{p}-{f}" for p, f, _, _ in PLATFORM_FAULTS])
async def test_real_platform_answers(case: Case, fault: str, where: str, stream: str | None) -> None:
    case.add(3, "before")
    await case.run(60)
    assert set(case.posted) <= await case.stored()

    case.add(3, "during")
    if fault == "token-429":
        case.world.expire_tokens()
        case.world.faults.add(where, Fault("429", times=4, reset_in=120))
    else:
        case.world.faults.add(where, Fault(fault, times=4 if fault != "401-bare" else 6))  # type: ignore[arg-type]
    paused = False
    end = case.clock.now + 30
    while case.clock.now < end:
        await case.run(1)
        paused |= case.poller.health.state == "paused"
    h = case.poller.health
    assert h.errors >= 1 or any(s.errors for s in h.streams.values()), "the fault was not seen"
    if stream is not None:
        assert not paused, "one stream's resource failing must not pause the source"
        assert h.streams[stream].state == "failing" and all(
            s.state == "ok" for n, s in h.streams.items() if n != stream), h.streams
        assert [k for k in case.told if k.startswith("ops.stream_failing")] == [
            f"ops.stream_failing:{case.poller.name}:{stream}:{int(h.streams[stream].failing_since or 0)}"]
    case.add(2, "after")
    await case.run(1800)

    assert set(case.posted) <= await case.stored(), "posts lost"
    assert h.state == "ok" and all(s.state == "ok" for s in h.streams.values()), h.streams
    if stream is not None:
        assert not any(k.startswith("ops.source_paused") for k in case.told)
        assert len([k for k in case.told if k.startswith("ops.stream_failing")]) == 1
        assert len([k for k in case.told if k.startswith("ops.stream_recovered")]) == 1
