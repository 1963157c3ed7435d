"""Runs one source: ask the budget planner which streams are due, fetch them under a lease, ingest,
and keep the source's and each stream's health (the error ladder in one place).

- TransientError keeps the cursor and backs off, honouring retry_after; a 429 or a spent window
  leaves the whole pool alone until it resets. Logged on the first failure and on recovery only.
- A stream that fails while the others work is tracked on its own (health, metrics) and, after
  `stream_alert_after` failures in a row, told to the operators once (and its recovery once).
- AuthError / ConfigError pause the source and tell the operators once. A paused source resumes
  only when `source.check()` passes again: every `recheck_interval`, or at once on SIGHUP; "polling
  again" is announced after its first good poll (a check can pass where fetching still fails).
- A gap (the platform can no longer return part of a stream) is told to the operators once per
  gap, with the missing time range, before the cursor moves past it.
- An item the database refuses does not block the source: monitor/quarantine.py stores every other
  item and the cursor and keeps the bad one in the quarantine; the operators hear once a day per source.
- The quiet watchdog (monitor/watchdog.py) runs from `watch()`, on its own schedule.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.ops_alert import (
    build_gap,
    build_quarantined,
    build_quiet_over,
    build_source_paused,
    build_source_resumed,
    build_stream_failing,
    build_stream_recovered,
    build_went_quiet,
)
from connectors.base import (
    AuthError,
    BadPayload,
    ConfigError,
    Source,
    SourceError,
    TransientError,
)
from monitor import leases, watchdog
from monitor.budget import Planner, month_of
from monitor import quarantine
from monitor.ingest import AlertPolicy, IngestResult, load_cursors
from monitor.metrics import Metrics
from monitor.models import Batch, Cursor, bounded
from monitor.source_health import SourceHealth, StreamHealth
from monitor.triage import Triage

log = structlog.get_logger("poller")

READS_CURSOR = "budget:reads:"  # + "YYYY-MM": X's month-to-date post reads, stored with the cursors
OPS_KEY_MAX = 200  # outbox.key
OpsNotify = Callable[[str, dict[str, Any]], Awaitable[None]]  # (idempotency key, Slack payload)


class Poller:
    def __init__(
        self,
        source: Source,
        *,
        name: str,
        engine: AsyncEngine,
        triage: Triage,
        policy: AlertPolicy | None,
        metrics: Metrics,
        holder: str,
        lease_ttl: float,
        planner: Planner | None = None,
        quiet_rule: watchdog.QuietRule | None = None,
        base_backoff: float = 5.0,
        max_backoff: float = 900.0,
        recheck_interval: float = 300.0,
        stream_alert_after: int = 5,
        clock: Callable[[], float] = time.time,
        on_stored: Callable[[IngestResult], None] | None = None,
        ops: OpsNotify | None = None,
    ) -> None:
        self.source = source
        self.name = name
        self.engine = engine
        self.triage = triage
        self.policy = policy
        self.metrics = metrics
        self.holder = holder
        self.lease_ttl = lease_ttl
        self.planner = planner
        self.quiet_rule = quiet_rule
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.recheck_interval = recheck_interval
        self.stream_alert_after = stream_alert_after
        self.clock = clock
        self.health = SourceHealth()
        self._on_stored = on_stored
        self._ops = ops
        self._recheck_at = 0.0
        self._announced_pause = ""  # the error the operators were told the source is paused for
        self._resuming = False  # its check passed: "polling again" is said after the first good poll

    @property
    def lease_name(self) -> str:
        return f"poll:{self.name}"

    def all_streams(self) -> list[str]:
        return list(self.source.streams())

    # ── paused: resume only when the source's check passes ─────────────────────────────────
    async def try_resume(self) -> bool:
        """Run `source.check()`; resume the paused source when it passes. True if it polls again."""
        h = self.health
        if h.state != "paused":
            return True
        self._recheck_at = self.clock() + self.recheck_interval
        try:
            await self.source.check()
        except SourceError as e:
            log.info("source.still_paused", source=self.name, error=f"{type(e).__name__}: {e}")
            return False
        log.info("source.resumed", source=self.name)
        h.state = "starting"
        h.backoff_until = 0.0
        h.paused_at = None
        self.metrics.source_paused.labels(self.name).set(0)
        self._resuming = True
        return True

    # ── one poll ───────────────────────────────────────────────────────────────────────────
    async def poll(self) -> IngestResult | None:
        now = self.clock()
        h = self.health
        if h.state == "paused":
            if now >= self._recheck_at:
                await self.try_resume()
            return None
        if now < h.backoff_until:
            return None
        due: list[str] | None = self.planner.due(now) if self.planner is not None else None
        if due is not None and not due:
            return None
        if not await leases.acquire(self.engine, self.lease_name, self.holder, ttl=self.lease_ttl, now=now):
            h.skipped_no_lease += 1  # another daemon polls this source
            return None
        h.last_attempt_at = now
        asked = due if due is not None else self.all_streams()
        spent_before = dict(self.source.requests_by_pool)
        reads_before = self.source.reads_total
        started = time.perf_counter()
        batch: Batch | None = None
        reads = 0
        try:
            stored = await load_cursors(self.engine, self.name)
            self._restore_reads(stored)
            cursors = {s: Cursor(s, v) for s, v in stored.items() if not s.startswith(READS_CURSOR)}
            batch = await self.source.fetch(cursors, streams=due)
        except (TransientError, BadPayload) as e:
            reads = self._account(now, spent_before, reads_before)
            failed = {s for s, _ in self.source.last_errors}
            if not failed or failed.issuperset(asked):
                self._streams_after(now, asked, None, e)
                if any(st.state == "ok" for n, st in h.streams.items() if n not in asked):
                    # Only the streams asked this time fail; the others work. Each failing stream
                    # backs off on its own: the source is not failing, and its good streams go on.
                    h.errors += 1
                    if getattr(e, "rate_limited", False):
                        h.rate_limited += 1
                        self.metrics.rate_limited.labels(self.name).inc()
                    await self._stream_alerts(now)
                    return None
                self._failed(e, kind="transient" if isinstance(e, TransientError) else "bad_payload",
                             retry_after=getattr(e, "retry_after", None))
                return None
            # Some streams answered, just with nothing new: the source works, only the others failed.
            spent = sum(self.source.requests_by_pool.values()) - sum(spent_before.values())
            batch = Batch([], [], requests=max(0, spent))
        except (AuthError, ConfigError) as e:
            self._account(now, spent_before, reads_before)
            failed = {s for s, _ in self.source.last_errors}
            if isinstance(e, ConfigError) and failed and not failed.issuperset(self.all_streams()):
                # Some streams' settings or resources are wrong (a query the API rejects, a private
                # subreddit, a suspended handle): those streams stop and the operators hear of them;
                # pausing the source would blind its good streams too. Streams asked that did not
                # fail answered, with nothing new.
                spent = sum(self.source.requests_by_pool.values()) - sum(spent_before.values())
                self._streams_after(now, asked, Batch([], [], requests=max(0, spent)), None)
                h.errors += 1
                await self._stream_alerts(now)
                return None
            # A check can pass while fetching still fails the same way (a query only the API
            # rejects): then the operators already know; tell them again only about a new error.
            if self._pause(e) and h.last_error != self._announced_pause:
                self._announced_pause = h.last_error
                await self._tell(f"ops.source_paused:{self.name}:{int(now)}", build_source_paused(self.name, h.last_error))
            self._resuming = False
            return None
        else:
            reads = self._account(now, spent_before, reads_before)
        await self._report_gaps()
        if reads and self.planner is not None:  # the month's reads are stored with the cursors they paid for
            batch = replace(batch, cursors=[*batch.cursors, Cursor(READS_CURSOR + self.planner.reads_month,
                                                                   str(self.planner.reads))])
        try:  # an item that cannot be stored is quarantined; the others and the cursors are stored
            stored = await quarantine.store(self.engine, batch, source=self.name, triage=self.triage,
                                            policy=self.policy, clock=self.clock)
        except Exception:
            # Not stored: the streams are due again after a backoff, not on the next tick.
            self._streams_after(now, asked, None, TransientError("storing the batch failed"))
            raise
        result = stored.result
        self.metrics.poll_seconds.labels(self.name).observe(time.perf_counter() - started)
        self._streams_after(now, asked, batch, None,
                            refused={n: BadPayload(why) for n, why in stored.refused_cursors.items()})
        self._succeeded(batch, result)
        await self._quarantined(now, stored)
        if self._resuming:
            self._resuming, self._announced_pause = False, ""
            await self._tell(f"ops.source_resumed:{self.name}:{int(now)}", build_source_resumed(self.name))
        await self._stream_alerts(now)
        if self._on_stored:
            self._on_stored(result)
        return result

    # ── the budget ─────────────────────────────────────────────────────────────────────────
    def _restore_reads(self, stored: dict[str, str]) -> None:
        if self.planner is None:
            return
        key = READS_CURSOR + month_of(self.clock())
        if key in stored and stored[key].isdigit():
            self.planner.restore_reads(key[len(READS_CURSOR):], int(stored[key]))

    def _account(self, now: float, spent_before: dict[str, int], reads_before: int) -> int:
        """Charge what the fetch spent to its pools and note what the platform's headers said."""
        spent = dict(self.source.requests_by_pool)
        reads = self.source.reads_total - reads_before
        limits = dict(self.source.rate_limits)
        m, n = self.metrics, self.name
        for pool, total in spent.items():
            delta = total - spent_before.get(pool, 0)
            if delta <= 0:
                continue
            m.budget_spent.labels(n, pool).inc(delta)
            if self.planner is not None:
                self.planner.spent(pool, delta, now)
                rl = limits.get(pool)
                if rl is not None:  # only a pool asked in this fetch: its headers are fresh
                    self.planner.observed(pool, remaining=rl.remaining, reset=rl.reset, now=now)
        for pool, rl in limits.items():
            self.health.rate_limits[pool] = {"limit": rl.limit, "remaining": rl.remaining, "reset": rl.reset}
            m.budget_remaining.labels(n, pool).set(rl.remaining)
        if reads > 0 and self.planner is not None:
            self.planner.read(reads, now)
        return reads

    # ── per stream ─────────────────────────────────────────────────────────────────────────
    def _streams_after(self, now: float, asked: Sequence[str], batch: Batch | None, error: Exception | None,
                       *, refused: dict[str, SourceError] | None = None) -> None:
        """Each asked stream succeeded or failed: its health, its metrics, and its next due time.
        `refused`: streams whose answer could not be stored whole (their cursor), failing with it."""
        errors: dict[str, SourceError] = dict(refused or {})
        for stream, e in self.source.last_errors:
            errors.setdefault(stream, e)
        counts: dict[str, int] = {}
        for mention in batch.mentions if batch is not None else []:
            counts[mention.stream] = counts.get(mention.stream, 0) + 1
        cost = None
        if batch is not None and asked:
            cost = batch.requests / len(asked)
        m, n = self.metrics, self.name
        for stream, count in (batch.partial_errors if batch is not None else {}).items():
            self.health.streams.setdefault(stream, StreamHealth()).partial_errors += count
            m.partial_errors.labels(n, stream).inc(count)
        for stream in asked:
            sh = self.health.streams.setdefault(stream, StreamHealth())
            e = errors.get(stream) or (error if batch is None else None)
            if e is None:
                if sh.state == "failing":
                    log.info("stream.recovered", source=n, stream=stream, after_failures=sh.failures_in_row)
                sh.state, sh.failures_in_row, sh.last_error = "ok", 0, ""
                sh.last_success_at = now
                sh.fetched += counts.get(stream, 0)
                m.stream_up.labels(n, stream).set(1)
                if self.planner is not None:
                    self.planner.polled(stream, now=now, items=counts.get(stream, 0), cost=cost)
                continue
            if sh.state != "failing":
                sh.failing_since = now
                if self.health.state != "failing":  # a failing source is logged as such, not per stream
                    log.warning("stream.failing", source=n, stream=stream, error=f"{type(e).__name__}: {e}")
            sh.state = "failing"
            sh.failures_in_row += 1
            sh.errors += 1
            sh.last_error = f"{type(e).__name__}: {e}"
            m.stream_up.labels(n, stream).set(0)
            m.stream_errors.labels(n, stream, _kind(e)).inc()
            if self.planner is not None:
                retry_after = getattr(e, "retry_after", None)
                spec = self.planner.streams.get(stream)
                if spec is not None and (getattr(e, "rate_limited", False) or retry_after is not None):
                    self.planner.refused(spec.spec.pool, retry_after=retry_after, now=now)
                    m.budget_refused.labels(n, spec.spec.pool).inc()
                if isinstance(e, ConfigError):  # it will not fix itself: look again at the recheck pace
                    retry_after = max(retry_after or 0.0, self.recheck_interval)
                self.planner.failed(stream, now=now, retry_after=retry_after)
        if self.planner is not None:
            for stream, s in self.planner.streams.items():
                m.stream_interval.labels(n, stream).set(s.interval)

    async def _stream_alerts(self, now: float) -> None:
        for stream, sh in self.health.streams.items():
            since = int(sh.failing_since or now)
            permanent = sh.last_error.startswith("ConfigError")  # waiting will not fix it: say so now
            if sh.state == "failing" and (permanent or sh.failures_in_row >= self.stream_alert_after) \
                    and not sh.alerted:
                sh.alerted = True
                await self._tell(f"ops.stream_failing:{self.name}:{stream}:{since}",
                                 build_stream_failing(self.name, stream, sh.failures_in_row, sh.last_error))
            elif sh.state == "ok" and sh.alerted:
                sh.alerted = False
                await self._tell(f"ops.stream_recovered:{self.name}:{stream}:{since}",
                                 build_stream_recovered(self.name, stream, now - (sh.failing_since or now)))
            if sh.state == "ok":
                sh.failing_since = None

    async def _report_gaps(self) -> None:
        """Before the cursor moves past a gap: one alert per gap (its start names it), and the metrics."""
        for gap in self.source.gaps:
            self.health.gaps += 1
            self.metrics.gaps.labels(self.name, gap.stream).inc()
            self.metrics.gap_seconds.labels(self.name, gap.stream).inc(max(0.0, gap.end - gap.start))
            log.warning("source.gap", source=self.name, stream=gap.stream, start=gap.start, end=gap.end)
            await self._tell(f"ops.gap:{self.name}:{gap.stream}:{int(gap.start)}",
                             build_gap(self.name, gap.stream, gap.start, gap.end))

    async def _quarantined(self, now: float, stored: quarantine.Stored) -> None:
        """Count what was newly quarantined; the operators hear of it once per source per day."""
        if not stored.newly_quarantined:
            return
        self.health.quarantined += stored.newly_quarantined
        self.metrics.quarantined.labels(self.name).inc(stored.newly_quarantined)
        m, why = stored.quarantined[0]
        day = time.strftime("%Y-%m-%d", time.gmtime(now))
        await self._tell(f"ops.quarantined:{self.name}:{day}",
                         build_quarantined(self.name, len(stored.quarantined), str(m.external_id), why))

    # ── the quiet watchdog ─────────────────────────────────────────────────────────────────
    async def watch(self) -> watchdog.Action:
        """Check whether the source went quiet (or is back); tell the operators on transitions only."""
        rule = self.quiet_rule
        if rule is None:
            return "none"
        now = self.clock()
        h = self.health
        activity = await watchdog.read_activity(self.engine, self.name, rule, now, polling=h.state == "ok")
        before = h.quiet
        h.quiet, action = watchdog.step(before, activity, rule, now)
        self.metrics.source_quiet.labels(self.name).set(1 if h.quiet.quiet else 0)
        if action == "went_quiet":
            log.warning("source.quiet", source=self.name, last_seen_at=activity.last_seen_at,
                        expected=round(activity.expected, 1))
            await self._tell(f"ops.source_quiet:{self.name}:{int(activity.last_seen_at or 0)}",
                             build_went_quiet(self.name, activity.last_seen_at, rule.after, activity.expected))
        elif action == "recovered":
            since = before.since or now
            log.info("source.quiet_over", source=self.name)
            await self._tell(f"ops.source_quiet_over:{self.name}:{int(before.since or 0)}",
                             build_quiet_over(self.name, (activity.last_seen_at or now) - since))
        return action

    # ── the source as a whole ──────────────────────────────────────────────────────────────
    def _succeeded(self, batch: Batch, r: IngestResult) -> None:
        h, m, n = self.health, self.metrics, self.name
        if h.state == "failing":
            log.info("source.recovered", source=n, after_failures=h.failures_in_row)
        elif h.state == "starting":
            log.info("source.up", source=n)
        h.state = "ok"
        h.failures_in_row = 0
        h.last_error = ""
        h.last_success_at = self.clock()
        h.fetched += len(batch.mentions)
        h.stored += r.stored
        h.duplicates += r.duplicates
        h.requests += batch.requests
        h.bad_items += batch.skipped_bad
        h.rate_limit_remaining = batch.rate_limit_remaining
        for u, c in r.by_urgency.items():
            h.by_urgency[u] = h.by_urgency.get(u, 0) + c
            m.verdicts.labels(u).inc(c)
        # one 429 blocks the streams behind it too: count the refusal once, not once per stream
        rate_limited = len({id(e) for _, e in self.source.last_errors
                            if getattr(e, "rate_limited", False)})
        h.rate_limited += rate_limited
        h.errors += len({s for s, _ in self.source.last_errors})
        m.rate_limited.labels(n).inc(rate_limited)
        m.fetched.labels(n).inc(len(batch.mentions))
        m.stored.labels(n).inc(r.stored)
        m.duplicates.labels(n).inc(r.duplicates)
        m.requests.labels(n).inc(batch.requests)
        m.bad_items.labels(n).inc(batch.skipped_bad)
        m.source_up.labels(n).set(1)
        if batch.rate_limit_remaining is not None:
            m.rate_remaining.labels(n).set(batch.rate_limit_remaining)

    def _failed(self, e: Exception, *, kind: str, retry_after: float | None) -> None:
        h = self.health
        h.failures_in_row += 1
        h.errors += 1
        h.requests += 1
        if getattr(e, "rate_limited", False):
            h.rate_limited += 1
            self.metrics.rate_limited.labels(self.name).inc()
        h.last_error = f"{type(e).__name__}: {e}"
        delay = min(self.max_backoff, retry_after if retry_after is not None
                    else self.base_backoff * 2 ** (h.failures_in_row - 1))
        h.backoff_until = self.clock() + delay
        if h.state != "failing":
            log.warning("source.failing", source=self.name, error=h.last_error, retry_in_s=round(delay, 1))
        h.state = "failing"
        self.metrics.source_errors.labels(self.name, kind).inc()
        self.metrics.source_up.labels(self.name).set(0)

    def _pause(self, e: Exception) -> bool:
        """Pause the source; True on the transition into paused (tell the operators once)."""
        h = self.health
        h.errors += 1
        h.failures_in_row += 1
        h.last_error = f"{type(e).__name__}: {e}"
        kind = "auth" if isinstance(e, AuthError) else "config"
        self.metrics.source_errors.labels(self.name, kind).inc()
        self.metrics.source_up.labels(self.name).set(0)
        self.metrics.source_paused.labels(self.name).set(1)
        first = h.state != "paused"
        if first:
            log.error("source.paused", source=self.name, reason=kind, error=h.last_error)
            h.paused_at = self.clock()
            self._recheck_at = self.clock() + self.recheck_interval
        h.state = "paused"
        return first

    async def _tell(self, key: str, payload: dict[str, Any]) -> None:
        if self._ops is not None:
            # keys name a stream (up to 120 characters) and are stored in 200: bounded, still the same each time
            await self._ops(bounded(key, OPS_KEY_MAX), payload)

    def update_gauges(self) -> None:
        """Lag and budget gauges, refreshed when /metrics is read."""
        now, m, n = self.clock(), self.metrics, self.name
        if self.health.last_success_at is not None:
            m.source_lag.labels(n).set(now - self.health.last_success_at)
        for stream, sh in self.health.streams.items():
            if sh.last_success_at is not None:
                m.stream_lag.labels(n, stream).set(now - sh.last_success_at)
        if self.planner is None:
            return
        for pool, p in self.planner.pools.items():
            tight = min(p.pool.windows, key=lambda w: w.limit / w.seconds)
            m.budget_limit.labels(n, pool).set(tight.limit)
            m.budget_used.labels(n, pool).set(p.used(now, tight.seconds))
        if self.planner.pacing.monthly_reads is not None:
            m.reads.labels(n).set(self.planner.reads)
            m.reads_cap.labels(n).set(self.planner.pacing.monthly_reads)

    def budget(self) -> dict[str, object] | None:
        return None if self.planner is None else self.planner.snapshot(self.clock())

    def report(self, now: float) -> dict[str, Any]:
        """The source for /healthz: its health, each stream's with its pool and pace, and the budget."""
        out: dict[str, Any] = self.health.as_dict(now)
        budget = self.budget()
        out["budget"] = budget
        if self.planner is not None and budget is not None:
            paces: dict[str, Any] = budget["streams"]  # type: ignore[assignment]
            for name, st in out["streams"].items():
                spec = self.planner.streams.get(name)
                if spec is not None:
                    st.update(pool=spec.spec.pool, **paces[name])
        return out


def _kind(e: Exception) -> str:
    if getattr(e, "rate_limited", False):
        return "rate_limited"
    return {AuthError: "auth", ConfigError: "config", BadPayload: "bad_payload"}.get(type(e), "transient")
