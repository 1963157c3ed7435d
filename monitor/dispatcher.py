"""Delivers outbox rows: retries with backoff, honours Retry-After, paces per channel, dead-letters.

One loop per daemon: claim a batch, deliver it (rows sharing a pace key one after another, spaced
by the handler's min_interval; different keys side by side), record each outcome, repeat.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor import outbox
from monitor.delivery import DeliveryHandler, OutboxItem, PermanentFailure, RetryLater

log = structlog.get_logger("dispatcher")


@dataclass
class DispatchStats:
    sent: int = 0
    reconciled: int = 0  # found already delivered after a crash: not sent again
    retried: int = 0
    dead: int = 0
    last_dead_key: str = ""
    by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Dispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        handlers: Mapping[str, DeliveryHandler],
        *,
        worker: str,
        max_attempts: int = 8,
        base_backoff: float = 2.0,
        max_backoff: float = 300.0,
        batch_size: int = 20,
        idle_wait: float = 0.5,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.handlers = dict(handlers)
        self.worker = worker
        self.max_attempts = max_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.batch_size = batch_size
        self.idle_wait = idle_wait
        self.clock = clock
        self.sleep = sleep
        self.stats = DispatchStats()
        self._last_sent: dict[str, float] = {}
        self._rng = random.Random()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._on_change = on_change

    def wake(self) -> None:
        """New rows were enqueued: look now rather than at the next idle tick."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the batch in hand, then return from run()."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            done = await self.run_once()
            if done == 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.idle_wait)
                except TimeoutError:
                    pass

    async def run_once(self) -> int:
        """Claim and deliver one batch. Returns how many rows were handled."""
        hold = max(60.0, self.batch_size * max((h.min_interval for h in self.handlers.values()), default=0) * 2)
        items = await outbox.claim(
            self.engine, self.worker, now=self.clock(), limit=self.batch_size, hold_for=hold
        )
        if not items:
            return 0
        # a lane is one pace key (a Slack channel) whatever the kind, so two kinds of message to one
        # channel still share its one-a-second allowance
        lanes: dict[str, list[OutboxItem]] = defaultdict(list)
        for item in items:
            handler = self.handlers.get(item.kind)
            key = handler.pace_key(item) if handler else None
            lanes[key if key is not None else f"row:{item.id}"].append(item)
        await asyncio.gather(*(self._lane(lane, rows) for lane, rows in lanes.items()))
        if self._on_change:
            self._on_change()
        return len(items)

    async def _lane(self, lane: str, items: list[OutboxItem]) -> None:
        for i, item in enumerate(items):
            if self._stopping.is_set():
                # drain means: finish what is in flight, hand the rest back untouched
                await outbox.release(self.engine, items[i:], self.worker)
                return
            handler = self.handlers.get(item.kind)
            if handler is None:
                await self._dead(item, f"no handler for kind {item.kind!r}")
                continue
            wait = self._last_sent.get(lane, 0.0) + handler.min_interval - self.clock()
            if wait > 0:
                await self.sleep(wait)
            await self._deliver(handler, item, lane)

    async def _deliver(self, handler: DeliveryHandler, item: OutboxItem, lane: str) -> None:
        now = self.clock()
        try:
            if item.in_doubt:
                ref = await handler.reconcile(item)
                if ref is not None:
                    await outbox.mark_sent(self.engine, item, self.worker, result=ref, now=now)
                    self.stats.reconciled += 1
                    log.info("outbox.reconciled", key=item.key, kind=item.kind, result=ref)
                    return
            if not await outbox.begin_attempt(self.engine, item, self.worker):
                return  # our claim lapsed and another worker has it
            try:
                ref = await handler.deliver(item)
            finally:
                # paced from the end of a call, so arrivals are spaced by at least min_interval
                # whatever the latency of the one before
                self._last_sent[lane] = self.clock()
        except RetryLater as e:
            await self._retry(item, str(e), e.retry_after)
            return
        except PermanentFailure as e:
            await self._dead(item, str(e))
            return
        except Exception as e:  # a bug in a handler must not stop the dispatcher; the row is kept
            log.exception("outbox.handler_crashed", key=item.key, kind=item.kind)
            await self._retry(item, f"{type(e).__name__}: {e}", None)
            return
        await outbox.mark_sent(self.engine, item, self.worker, result=ref, now=self.clock())
        log.info("outbox.delivered", key=item.key, kind=item.kind, target=item.target, result=str(ref))
        self.stats.sent += 1
        self.stats.by_kind[item.kind] += 1

    async def _retry(self, item: OutboxItem, error: str, retry_after: float | None) -> None:
        attempts = item.attempts + 1
        if attempts >= self.max_attempts:
            await self._dead(item, f"gave up after {attempts} attempts: {error}")
            return
        delay = outbox.backoff(
            attempts, base=self.base_backoff, cap=self.max_backoff, retry_after=retry_after, rng=self._rng
        )
        # After a failed call we cannot be sure it did not land (a timeout may have): stay in doubt.
        await outbox.mark_retry(
            self.engine, item, self.worker, attempts=attempts, error=error, delay=delay, now=self.clock(), in_doubt=True
        )
        self.stats.retried += 1
        log.warning("outbox.retry", key=item.key, kind=item.kind, attempt=attempts, delay_s=round(delay, 2), error=error)

    async def _dead(self, item: OutboxItem, error: str) -> None:
        await outbox.mark_dead(self.engine, item, self.worker, error=error)
        self.stats.dead += 1
        self.stats.last_dead_key = item.key
        log.error("outbox.dead_letter", key=item.key, kind=item.kind, target=item.target, error=error)
