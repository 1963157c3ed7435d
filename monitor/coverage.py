"""Coverage events: when a source (or one of its streams) was paused, failing, throttled, quiet, or
lost a range of posts (a gap) — persisted, so a digest can say which hours may be missing and why,
and /healthz history survives a restart.

The poller keeps health in memory (monitor/source_health.py) and logs transitions. Rather than
sprinkle writes over its error ladder, `changes(before, after, now)` compares two snapshots of that
health and says which episodes began or ended — a pure function, tested as a table. The daemon
takes a snapshot after each poll and each quiet check; `CoverageRecorder` writes the changes.

Each episode is one row keyed by (source, stream, kind, start): writing it twice is harmless, and
only the daemon that holds a source's poll lease observes it. A row left open by a daemon that was
killed is closed by the next daemon once it sees the source (or the quiet watchdog) healthy again.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from monitor.source_health import SourceHealth
from monitor.storage.dialect import insert_for
from monitor.storage.engine import READ_ONLY
from monitor.storage.schema import coverage_events

log = structlog.get_logger("coverage")

Kind = Literal["paused", "failing", "throttled", "gap", "quiet"]
KINDS: tuple[Kind, ...] = ("paused", "failing", "throttled", "gap", "quiet")
POLL_KINDS: tuple[Kind, ...] = ("paused", "failing", "throttled")  # ended by a good poll


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the coverage record needs from a source's health at one moment."""

    state: str = "starting"  # starting | ok | failing | paused
    since: float | None = None  # when the current bad state began
    error: str = ""
    attempts: float | None = None  # last_attempt_at: changes when a fetch was tried
    rate_limited: int = 0  # refusals so far (429s and spent windows)
    streams: tuple[tuple[str, str, float | None, str], ...] = ()  # (name, state, failing_since, error)
    quiet: bool = False
    quiet_since: float | None = None
    gaps: tuple[tuple[str, float, float], ...] = ()  # (stream, start, end) seen in the latest fetch


def snapshot(h: SourceHealth, gaps: Iterable[object] = (), *, failing_since: float | None = None) -> Snapshot:
    since = h.paused_at if h.state == "paused" else failing_since
    return Snapshot(
        state=h.state,
        since=since,
        error=h.last_error,
        attempts=h.last_attempt_at,
        rate_limited=h.rate_limited,
        streams=tuple((n, s.state, s.failing_since, s.last_error) for n, s in sorted(h.streams.items())),
        quiet=h.quiet.quiet,
        quiet_since=h.quiet.since,
        gaps=tuple((g.stream, float(g.start), float(g.end)) for g in gaps),  # type: ignore[attr-defined]
    )


@dataclass(frozen=True, slots=True)
class Opened:
    stream: str
    kind: Kind
    start: float
    detail: str = ""
    end: float | None = None  # a gap is over when it is found: it names a past range


@dataclass(frozen=True, slots=True)
class Closed:
    stream: str
    kind: Kind
    end: float


@dataclass(frozen=True, slots=True)
class CloseStale:
    """Close every open episode of these kinds for the source (left open by an earlier daemon)."""

    kinds: tuple[Kind, ...]
    end: float


Change = Opened | Closed | CloseStale


def changes(before: Snapshot, after: Snapshot, now: float, *, throttled: bool = False) -> list[Change]:
    """The episodes that began or ended between two snapshots of one source (`throttled`: a
    throttled episode is open — refusals alone do not say when one ended).

        source state before → after   │ change
        ──────────────────────────────┼───────────────────────────────────────────
        not paused → paused           │ open  paused  (start = paused_at)
        paused → not paused           │ close paused
        not failing → failing         │ open  failing (start = first failure)
        failing → not failing         │ close failing
        starting → ok                 │ close stale paused/failing/throttled rows (a restart)
        refusals grew, not throttled  │ open  throttled
        throttled, a fetch w/o refusal│ close throttled
        stream ok → failing           │ open  failing on the stream (start = failing_since)
        stream failing → ok           │ close failing on the stream
        quiet no → yes                │ open  quiet   (start = the last mention seen)
        quiet yes → no                │ close quiet
        a gap in the latest fetch     │ open  gap, already ended (start, end = the missing range)
    """
    out: list[Change] = []
    if after.state == "paused" and before.state != "paused":
        out.append(Opened("", "paused", after.since or now, after.error))
    if before.state == "paused" and after.state != "paused":
        out.append(Closed("", "paused", now))
    if after.state == "failing" and before.state != "failing":
        out.append(Opened("", "failing", after.since or now, after.error))
    if before.state == "failing" and after.state != "failing":
        out.append(Closed("", "failing", now))
    if before.state == "starting" and after.state == "ok":
        out.append(CloseStale(POLL_KINDS, now))

    if after.rate_limited > before.rate_limited and not throttled:
        out.append(Opened("", "throttled", now, "the platform refused requests (rate limit)"))
    elif throttled and after.rate_limited == before.rate_limited and after.attempts != before.attempts \
            and after.state == "ok":
        out.append(Closed("", "throttled", now))

    prev = {n: (st, since) for n, st, since, _ in before.streams}
    for name, st, since, err in after.streams:
        was = prev.get(name, ("starting", None))[0]
        if st == "failing" and was != "failing":
            out.append(Opened(name, "failing", since or now, err))
        elif was == "failing" and st != "failing":
            out.append(Closed(name, "failing", now))

    if after.quiet and not before.quiet:
        out.append(Opened("", "quiet", after.quiet_since or now, "no mentions where some are usual"))
    elif before.quiet and not after.quiet:
        out.append(Closed("", "quiet", now))

    for stream, start, end in after.gaps:
        out.append(Opened(stream, "gap", start, "the platform can no longer return these posts", end=end))
    return out


@dataclass
class CoverageRecorder:
    """One source's coverage record: observe snapshots, write what changed (kept until written)."""

    engine: AsyncEngine
    source: str
    clock: Callable[[], float] = time.time
    _last: Snapshot = field(default_factory=Snapshot)
    _throttled: bool = False
    _failing_since: float | None = None
    _quiet_seen: bool = False
    _pending: list[Change] = field(default_factory=list)

    def observe(self, h: SourceHealth, gaps: Sequence[object] = ()) -> list[Change]:
        now = self.clock()
        if h.state == "failing" and self._failing_since is None:
            self._failing_since = h.last_attempt_at or now
        elif h.state != "failing":
            self._failing_since = None
        fetched = h.last_attempt_at != self._last.attempts  # gaps belong to a fetch, not to every tick
        cur = snapshot(h, gaps if fetched else (), failing_since=self._failing_since)
        found = changes(self._last, cur, now, throttled=self._throttled)
        for c in found:
            if isinstance(c, Opened) and c.kind == "throttled" and not c.stream:
                self._throttled = True
            elif isinstance(c, Closed) and c.kind == "throttled" and not c.stream:
                self._throttled = False
            elif isinstance(c, CloseStale):
                self._throttled = False
        self._last = cur
        self._pending += found
        return found

    def observe_quiet(self, h: SourceHealth) -> list[Change]:
        """After a quiet check: the first one that finds the source not quiet closes a stale row."""
        if not self._quiet_seen and not h.quiet.quiet:
            self._pending.append(CloseStale(("quiet",), self.clock()))
        self._quiet_seen = True
        return self.observe(h)

    async def flush(self) -> None:
        """Write what changed. A failed write is kept and tried again after the next poll."""
        if not self._pending:
            return
        todo, self._pending = self._pending, []
        try:
            async with self.engine.begin() as conn:
                await write(conn, self.source, todo)
        except Exception as e:  # the record must never stop polling; the next flush retries
            log.warning("coverage.write_failed", source=self.source, error=f"{type(e).__name__}: {e}")
            self._pending = todo + self._pending


async def write(conn: AsyncConnection, source: str, todo: Sequence[Change]) -> None:
    for c in todo:
        if isinstance(c, Opened):
            await conn.execute(
                insert_for(conn, coverage_events).on_conflict_do_nothing(
                    index_elements=["source", "stream", "kind", "start_at"]),
                [{"source": source, "stream": c.stream, "kind": c.kind, "start_at": c.start, "end_at": c.end,
                  "detail": c.detail[:2000]}],
            )
        elif isinstance(c, Closed):
            await conn.execute(
                update(coverage_events)
                .where(coverage_events.c.source == source, coverage_events.c.stream == c.stream,
                       coverage_events.c.kind == c.kind, coverage_events.c.end_at.is_(None))
                .values(end_at=c.end)
            )
        else:
            await conn.execute(
                update(coverage_events)
                .where(coverage_events.c.source == source, coverage_events.c.kind.in_(c.kinds),
                       coverage_events.c.end_at.is_(None), coverage_events.c.start_at <= c.end)
                .values(end_at=c.end)
            )


@dataclass(frozen=True, slots=True)
class CoverageEvent:
    source: str
    stream: str
    kind: str
    start: float
    end: float | None
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "stream": self.stream, "kind": self.kind, "start": self.start,
                "end": self.end, "detail": self.detail}


async def events_between(conn: AsyncConnection, start: float, end: float) -> list[CoverageEvent]:
    """Episodes that overlap [start, end): began before its end and had not ended before its start."""
    c = coverage_events.c
    rows = await conn.execute(
        select(c.source, c.stream, c.kind, c.start_at, c.end_at, c.detail)
        .where(c.start_at < end, or_(c.end_at.is_(None), and_(c.end_at > start)))
        .order_by(c.start_at, c.id)
    )
    return [CoverageEvent(*r) for r in rows]


async def recent(engine: AsyncEngine, limit: int = 20) -> list[CoverageEvent]:
    c = coverage_events.c
    async with engine.connect() as conn:
        await conn.execution_options(**READ_ONLY)
        rows = await conn.execute(
            select(c.source, c.stream, c.kind, c.start_at, c.end_at, c.detail)
            .order_by(c.start_at.desc(), c.id.desc()).limit(limit))
        return [CoverageEvent(*r) for r in rows]
