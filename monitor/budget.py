"""The budget planner: which streams of a source to poll now, so the API budget is never overspent.

Pure: no I/O, time comes in as `now`. One `Planner` per source. It knows

- **pools**: what the platform counts against one limit (X: one pool per endpoint, 450 requests per
  15 minutes; Reddit: one pool, 100 queries a minute averaged over ten). A pool has one or more
  windows (limit per seconds); all of them are kept, each with `headroom` to spare.
- **streams**: each in one pool, with a priority (0 first: our handles' mentions before broad
  keyword searches) and the most requests one poll of it can cost (its pages).

Rules, in the order `due()` applies them:
1. A stream is due when its own clock says so. Its interval shrinks (×`speed_up`) after a poll that
   found something and grows (×`slow_down`) after an empty one, within [min_interval, max_interval]:
   fast while mentions flow, cheap while it is quiet.
2. Its interval is never shorter than its fair share of the pool's sustainable rate allows; shares
   are weighted by priority (each level down gets half the weight of the one above).
3. It is admitted only if every window of its pool, as we counted it and as the server's
   `x-rate-limit-remaining` last said, still has room for its worst case *plus* a reserve kept for
   the streams of higher priority (`reserve` of the limit per level). So the last of a window
   always goes to mentions, and no poll can tip a window over.
4. A pool that was refused (429, or a window the connector knows is spent) is left alone until
   its reset / Retry-After; a failing stream backs off exponentially (never a burst of retries).
5. With a monthly read cap (X bills posts read), streams below the top priority wait while the
   month's reads run ahead of an even pace, and everything stops at the cap until the month turns.
"""
from __future__ import annotations

import calendar
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connectors.reddit import RedditConfig
from connectors.x import XConfig


@dataclass(frozen=True, slots=True)
class Window:
    limit: int  # requests allowed
    seconds: float  # per this many seconds


@dataclass(frozen=True, slots=True)
class Pool:
    name: str
    windows: tuple[Window, ...]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    name: str
    pool: str
    priority: int  # 0 is polled first and keeps the last of every window
    max_cost: int = 1  # requests one poll of this stream can cost at most (pages)


@dataclass(frozen=True, slots=True)
class Pacing:
    interval: float = 60.0  # where every stream starts
    min_interval: float = 15.0  # fastest, while mentions flow
    max_interval: float = 300.0  # slowest, while it is quiet
    speed_up: float = 0.5
    slow_down: float = 1.5
    headroom: float = 0.1  # share of every window never planned (clock skew, other clients of the app)
    reserve: float = 0.15  # share of a window kept per priority level above a stream
    base_backoff: float = 5.0
    max_backoff: float = 900.0
    monthly_reads: int | None = None  # X's monthly cap on posts read; None: no cap


@dataclass
class _StreamState:
    spec: StreamSpec
    interval: float
    next_due: float = 0.0
    failures: int = 0
    avg_cost: float = 1.0  # requests a poll of it costs, on average (most polls read one page)
    polls: int = 0
    items: int = 0
    last_items: int = 0


@dataclass
class _PoolState:
    pool: Pool
    spends: deque[tuple[float, int]] = field(default_factory=deque)  # (when, requests), oldest first
    spent_total: int = 0
    server_remaining: int | None = None
    server_reset: float | None = None
    server_seen_at: float = 0.0
    blocked_until: float = 0.0
    refused: int = 0  # times the platform said no (429 or a known-spent window)

    def used(self, now: float, seconds: float) -> int:
        return sum(n for t, n in self.spends if t > now - seconds)

    def forget(self, now: float) -> None:
        horizon = max(w.seconds for w in self.pool.windows)
        while self.spends and self.spends[0][0] <= now - horizon:
            self.spends.popleft()


class Planner:
    def __init__(self, pools: Iterable[Pool], streams: Iterable[StreamSpec], pacing: Pacing) -> None:
        self.pacing = pacing
        self.pools = {p.name: _PoolState(p) for p in pools}
        self.streams = {s.name: _StreamState(s, pacing.interval) for s in streams}
        for s in self.streams.values():
            if s.spec.pool not in self.pools:
                raise ValueError(f"stream {s.spec.name} is in unknown pool {s.spec.pool}")
        self.reads_month = ""  # "YYYY-MM" the counter belongs to
        self.reads = 0

    # ── asking ─────────────────────────────────────────────────────────────────────────────
    def due(self, now: float) -> list[str]:
        """The streams to poll now, highest priority first; admitting each spends room for the next."""
        planned: dict[str, int] = {}
        out: list[str] = []
        for s in sorted(self.streams.values(), key=lambda s: (s.spec.priority, s.next_due)):
            if s.next_due > now or not self._reads_allow(s.spec, now):
                continue
            p = self.pools[s.spec.pool]
            if p.blocked_until > now:
                continue
            need = s.spec.max_cost + planned.get(p.pool.name, 0)
            if self.room(p.pool.name, now, priority=s.spec.priority) >= need:
                planned[p.pool.name] = need
                out.append(s.spec.name)
        return out

    def room(self, pool: str, now: float, *, priority: int = 0) -> float:
        """Requests a stream of `priority` may still spend in `pool` right now."""
        p = self.pools[pool]
        p.forget(now)
        levels = sorted({s.spec.priority for s in self.streams.values() if s.spec.pool == pool})
        rank = levels.index(priority) if priority in levels else len(levels)
        room = float("inf")
        for w in p.pool.windows:
            keep = w.limit * (self.pacing.headroom + min(0.6, self.pacing.reserve * rank))
            room = min(room, w.limit - keep - p.used(now, w.seconds))
        if p.server_remaining is not None and p.server_reset is not None and now < p.server_reset:
            since = sum(n for t, n in p.spends if t > p.server_seen_at)  # spent after the server counted
            tightest = min(p.pool.windows, key=lambda w: w.limit)
            keep = tightest.limit * min(0.6, self.pacing.reserve * rank)
            room = min(room, p.server_remaining - since - keep)
        return room

    def next_due(self) -> float:
        """The earliest moment any stream could be due (a pool may still hold it back then)."""
        blocked = {n: p.blocked_until for n, p in self.pools.items()}
        return min((max(s.next_due, blocked[s.spec.pool]) for s in self.streams.values()), default=float("inf"))

    # ── telling ────────────────────────────────────────────────────────────────────────────
    def spent(self, pool: str, requests: int, now: float) -> None:
        if requests <= 0 or pool not in self.pools:
            return
        p = self.pools[pool]
        p.spends.append((now, requests))
        p.spent_total += requests

    def observed(self, pool: str, *, remaining: int, reset: float, now: float) -> None:
        """What the platform's rate-limit headers said (remaining in its window, reset as epoch s)."""
        if pool in self.pools:
            p = self.pools[pool]
            p.server_remaining, p.server_reset, p.server_seen_at = remaining, reset, now

    def refused(self, pool: str, *, retry_after: float | None, now: float) -> None:
        """The platform said no (or would have): leave the whole pool alone until it has reset."""
        if pool not in self.pools:
            return
        p = self.pools[pool]
        longest = max(w.seconds for w in p.pool.windows)
        wait = retry_after if retry_after is not None else longest / 4
        # never longer than a window: a later "reset" is a skewed clock, and a blind pool is worse
        p.blocked_until = max(p.blocked_until, now + min(longest, max(1.0, wait)))
        p.refused += 1

    def polled(self, stream: str, *, now: float, items: int, cost: float | None = None) -> None:
        """A stream's poll succeeded and found `items`; schedule its next one."""
        s = self.streams.get(stream)
        if s is None:
            return
        pc = self.pacing
        s.failures = 0
        s.polls += 1
        s.items += items
        s.last_items = items
        if cost is not None:
            s.avg_cost = 0.7 * s.avg_cost + 0.3 * max(1.0, cost)
        s.interval = max(pc.min_interval, s.interval * pc.speed_up) if items else \
            min(pc.max_interval, s.interval * pc.slow_down)
        s.next_due = now + max(s.interval, self.floor(stream))

    def failed(self, stream: str, *, now: float, retry_after: float | None = None) -> None:
        """A stream's poll failed: back off exponentially, and at least as long as the platform asked."""
        s = self.streams.get(stream)
        if s is None:
            return
        pc = self.pacing
        s.failures += 1
        backoff = min(pc.max_backoff, pc.base_backoff * 2 ** (s.failures - 1))
        s.next_due = now + max(backoff, retry_after or 0.0)

    def read(self, posts: int, now: float) -> None:
        """Posts read (what X bills against the monthly cap)."""
        self._roll_month(now)
        self.reads += posts

    def restore_reads(self, month: str, reads: int) -> None:
        """The month's count as stored (it survives restarts with the cursors)."""
        if month >= self.reads_month:
            self.reads_month, self.reads = month, max(reads, self.reads if month == self.reads_month else 0)

    def floor(self, stream: str) -> float:
        """The shortest interval this stream's share of its pool's sustainable rate allows."""
        s = self.streams[stream]
        p = self.pools[s.spec.pool]
        rate = min(w.limit / w.seconds for w in p.pool.windows) * (1 - self.pacing.headroom)
        peers = [o for o in self.streams.values() if o.spec.pool == s.spec.pool]
        weights = {o.spec.name: 0.5 ** o.spec.priority for o in peers}
        share = weights[stream] / sum(weights.values())
        return s.avg_cost / (rate * share)

    # ── reads (X's monthly cap) ────────────────────────────────────────────────────────────
    def _roll_month(self, now: float) -> None:
        month = month_of(now)
        if month != self.reads_month:
            self.reads_month, self.reads = month, 0

    def _reads_allow(self, spec: StreamSpec, now: float) -> bool:
        cap = self.pacing.monthly_reads
        if cap is None:
            return True
        self._roll_month(now)
        if self.reads >= cap:
            return False
        if spec.priority == min(s.spec.priority for s in self.streams.values()):
            return True
        return self.reads <= cap * month_elapsed(now) * (1 - self.pacing.headroom)

    # ── reporting ──────────────────────────────────────────────────────────────────────────
    def snapshot(self, now: float) -> dict[str, object]:
        pools: dict[str, object] = {}
        used_share = 0.0
        for name, p in self.pools.items():
            p.forget(now)
            windows = []
            for w in p.pool.windows:
                used = p.used(now, w.seconds)
                used_share = max(used_share, used / w.limit)
                windows.append({"limit": w.limit, "seconds": w.seconds, "used": used, "remaining": w.limit - used})
            pools[name] = {
                "windows": windows,
                "spent_total": p.spent_total,
                "server_remaining": p.server_remaining if p.server_reset and p.server_reset > now else None,
                "blocked_for_s": round(max(0.0, p.blocked_until - now), 1),
                "refused": p.refused,
            }
        out: dict[str, object] = {
            "used": round(used_share, 3),  # the fullest window, as a share of its limit
            "pools": pools,
            "streams": {
                n: {"priority": s.spec.priority, "interval_s": round(s.interval, 1),
                    "next_in_s": round(max(0.0, s.next_due - now), 1), "items": s.items, "polls": s.polls}
                for n, s in self.streams.items()
            },
        }
        if self.pacing.monthly_reads is not None:
            self._roll_month(now)
            out["reads"] = {"month": self.reads_month, "used": self.reads, "cap": self.pacing.monthly_reads}
        return out


def month_of(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m")


def month_elapsed(now: float) -> float:
    """How far through its (UTC) month `now` is, 0..1."""
    d = datetime.fromtimestamp(now, UTC)
    days = calendar.monthrange(d.year, d.month)[1]
    start = datetime(d.year, d.month, 1, tzinfo=UTC).timestamp()
    return min(1.0, max(0.0, (now - start) / (days * 86400)))


# ── from a source's config ─────────────────────────────────────────────────────────────────
def planner_for(cfg: XConfig | RedditConfig, streams: list[str]) -> Planner:
    """The planner for a configured X or Reddit source and its stream names (`source.streams()`)."""
    if isinstance(cfg, XConfig):
        pools, specs = _x_plan(cfg, streams)
        reads = cfg.budget.monthly_post_reads
    else:
        pools, specs = _reddit_plan(cfg, streams)
        reads = None
    b = cfg.budget
    pacing = Pacing(
        interval=cfg.interval,
        min_interval=b.min_interval or cfg.interval / 4,
        max_interval=max(b.max_interval or cfg.interval * 5, cfg.interval),
        monthly_reads=reads,
    )
    return Planner(pools, specs, pacing)


def _x_plan(cfg: XConfig, streams: list[str]) -> tuple[list[Pool], list[StreamSpec]]:
    b = cfg.budget
    pools = [Pool("mentions", (Window(b.mentions_requests, b.window_s),)),
             Pool("search", (Window(b.search_requests, b.window_s),))]
    specs = []
    for s in streams:  # the handles' mentions first; then the searches in the order configured
        if s.startswith("mentions:"):
            specs.append(StreamSpec(s, "mentions", 0, cfg.max_pages))
        else:
            query = s.partition(":")[2]
            rank = cfg.queries.index(query) if query in cfg.queries else len(cfg.queries)
            specs.append(StreamSpec(s, "search", 1 + rank, cfg.max_pages))
    return pools, specs


def _reddit_plan(cfg: RedditConfig, streams: list[str]) -> tuple[list[Pool], list[StreamSpec]]:
    b = cfg.budget
    # Reddit averages over ten minutes; the per-minute window as well keeps a burst from being
    # refused by a stricter edge (and by the sandbox, which counts per minute).
    pools = [Pool("api", (Window(int(b.queries_per_minute * b.average_over_s / 60), b.average_over_s),
                          Window(int(b.queries_per_minute), 60.0)))]
    parents = 1 if cfg.fetch_parents else 0  # one /api/info call per fetch, charged to every stream
    specs = []
    for i, s in enumerate(streams):  # inbox (u/ mentions), the brand's subreddits, then the searches
        kind = s.partition(":")[0]
        priority = {"inbox": 0, "sub": 1}.get(kind, 2 + i)
        pages = 2 * cfg.max_pages if kind == "sub" else cfg.max_pages  # new posts and new comments
        specs.append(StreamSpec(s, "api", priority, pages + parents))
    return pools, specs
