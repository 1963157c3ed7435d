"""Runs one source: fetch under a lease, ingest, and keep its health (the error ladder in one place).

- TransientError keeps the cursor and backs off, honouring retry_after; logged on the first failure
  and on recovery, not on every poll.
- AuthError / ConfigError pause the source and tell the operators (once) until it is fixed.
- Silence is never mistaken for "no mentions": lag and failures in a row are visible in /healthz.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.base import AuthError, BadPayload, ConfigError, Source, TransientError
from monitor import leases
from monitor.ingest import AlertPolicy, IngestResult, ingest, load_cursors
from monitor.metrics import Metrics
from monitor.models import Cursor
from monitor.triage import Triage

log = structlog.get_logger("poller")


@dataclass
class SourceHealth:
    state: str = "starting"  # starting | ok | failing | paused
    last_success_at: float | None = None
    last_attempt_at: float | None = None
    last_error: str = ""
    failures_in_row: int = 0
    backoff_until: float = 0.0
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    requests: int = 0
    rate_limited: int = 0
    errors: int = 0
    bad_items: int = 0
    rate_limit_remaining: int | None = None
    skipped_no_lease: int = 0
    by_urgency: dict[str, int] = field(default_factory=dict)

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "state": self.state,
            "last_success_at": self.last_success_at,
            "lag_s": None if self.last_success_at is None else round(now - self.last_success_at, 1),
            "failures_in_row": self.failures_in_row,
            "last_error": self.last_error,
            "fetched": self.fetched,
            "stored": self.stored,
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "errors": self.errors,
            "rate_limit_remaining": self.rate_limit_remaining,
        }


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
        base_backoff: float = 5.0,
        max_backoff: float = 900.0,
        clock: Callable[[], float] = time.time,
        on_stored: Callable[[IngestResult], None] | None = None,
        on_paused: Callable[[str, str], Awaitable[None]] | None = None,
    ) -> None:
        self.source = source
        self.name = name
        self.engine = engine
        self.triage = triage
        self.policy = policy
        self.metrics = metrics
        self.holder = holder
        self.lease_ttl = lease_ttl
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.clock = clock
        self.health = SourceHealth()
        self._on_stored = on_stored
        self._on_paused = on_paused

    @property
    def lease_name(self) -> str:
        return f"poll:{self.name}"

    def resume(self) -> None:
        """After the operator fixed credentials or config (SIGHUP / a passing check)."""
        if self.health.state == "paused":
            log.info("source.resumed", source=self.name)
            self.health.state = "starting"
            self.health.backoff_until = 0.0

    async def poll(self) -> IngestResult | None:
        now = self.clock()
        h = self.health
        if h.state == "paused" or now < h.backoff_until:
            return None
        if not await leases.acquire(self.engine, self.lease_name, self.holder, ttl=self.lease_ttl, now=now):
            h.skipped_no_lease += 1  # another daemon polls this source
            return None
        h.last_attempt_at = now
        started = time.perf_counter()
        try:
            cursors = {s: Cursor(s, v) for s, v in (await load_cursors(self.engine, self.name)).items()}
            batch = await self.source.fetch(cursors)
            result = await ingest(
                self.engine, batch, source=self.name, triage=self.triage, policy=self.policy, clock=self.clock
            )
        except TransientError as e:
            self._failed(e, kind="transient", retry_after=e.retry_after)
            return None
        except BadPayload as e:
            self._failed(e, kind="bad_payload", retry_after=None)
            return None
        except (AuthError, ConfigError) as e:
            if self._pause(e) and self._on_paused is not None:
                await self._on_paused(self.name, self.health.last_error)
            return None
        self.metrics.poll_seconds.labels(self.name).observe(time.perf_counter() - started)
        self._succeeded(batch.requests, len(batch.mentions), batch.skipped_bad, batch.rate_limit_remaining, result)
        if self._on_stored:
            self._on_stored(result)
        return result

    def _succeeded(self, requests: int, fetched: int, bad: int, remaining: int | None, r: IngestResult) -> None:
        h, m, n = self.health, self.metrics, self.name
        if h.state == "failing":
            log.info("source.recovered", source=n, after_failures=h.failures_in_row)
        elif h.state == "starting":
            log.info("source.up", source=n)
        h.state = "ok"
        h.failures_in_row = 0
        h.last_error = ""
        h.last_success_at = self.clock()
        h.fetched += fetched
        h.stored += r.stored
        h.duplicates += r.duplicates
        h.requests += requests
        h.bad_items += bad
        h.rate_limit_remaining = remaining
        for u, c in r.by_urgency.items():
            h.by_urgency[u] = h.by_urgency.get(u, 0) + c
            m.verdicts.labels(u).inc(c)
        m.fetched.labels(n).inc(fetched)
        m.stored.labels(n).inc(r.stored)
        m.duplicates.labels(n).inc(r.duplicates)
        m.requests.labels(n).inc(requests)
        m.bad_items.labels(n).inc(bad)
        m.source_up.labels(n).set(1)
        if remaining is not None:
            m.rate_remaining.labels(n).set(remaining)

    def _failed(self, e: Exception, *, kind: str, retry_after: float | None) -> None:
        h = self.health
        h.failures_in_row += 1
        h.errors += 1
        h.requests += 1
        if getattr(e, "rate_limited", False):
            h.rate_limited += 1
        h.last_error = f"{type(e).__name__}: {e}"
        delay = retry_after if retry_after is not None else min(
            self.max_backoff, self.base_backoff * 2 ** (h.failures_in_row - 1)
        )
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
        first = h.state != "paused"
        if first:
            log.error("source.paused", source=self.name, reason=kind, error=h.last_error)
        h.state = "paused"
        return first

    def update_lag(self) -> None:
        if self.health.last_success_at is not None:
            self.metrics.source_lag.labels(self.name).set(self.clock() - self.health.last_success_at)
