"""Delivers outbox rows: one lane at a time per channel, highest priority first, honest retries.

The main loop asks which lanes may send now (monitor/lanes.py) and runs one worker per lane; a
worker takes the lane's best row, delivers it, records the outcome and waits out the lane's pace
before taking the next, so lanes never hold each other up. Outcomes:

| handler says                        | the row                         | the lane / service             |
|-------------------------------------|---------------------------------|--------------------------------|
| ok                                  | sent (+ registry)               | next send after min_interval; blocks end |
| RetryLater(counts=True)  5xx, timeout | attempt counted, backoff, in doubt | scope: waits the same backoff |
| RetryLater(counts=False) 429, token | not an attempt, not in doubt    | scope waits retry_after        |
| PermanentFailure                    | dead, operators told            | —                              |
| still failing after give_up_after   | dead (stays in doubt: a re-drive reconciles first) | —          |

A block that lasts `announce_after` seconds is told to the operators (`on_event`; the daemon keys the
message by the block's start, so once), and so is its end.
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

from monitor import lanes, outbox
from monitor.delivery import DeliveryHandler, OutboxItem, PermanentFailure, Receipt, RetryLater

log = structlog.get_logger("dispatcher")

# (what happened, details) → the daemon tells the operators; see Daemon._delivery_event
EventFn = Callable[[str, dict[str, object]], Awaitable[None]]


@dataclass
class DispatchStats:
    sent: int = 0
    reconciled: int = 0  # found already delivered after a crash: not sent again
    retried: int = 0
    waited: int = 0  # 429s and refused tokens: not attempts
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
        give_up_after: float = 86_400.0,
        min_attempts: int = 3,
        base_backoff: float = 2.0,
        max_backoff: float = 300.0,
        probe_every: float = 30.0,
        hold: float = 30.0,
        idle_wait: float = 0.5,
        max_lanes: int = 16,
        announce_after: float = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_change: Callable[[], None] | None = None,
        on_event: EventFn | None = None,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.handlers = dict(handlers)
        self.worker = worker
        self.give_up_after = give_up_after
        self.min_attempts = min_attempts
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.probe_every = probe_every
        self.hold = hold
        self.idle_wait = idle_wait
        self.max_lanes = max_lanes
        self.announce_after = announce_after  # blocks shorter than this are logged, not told to people
        self.clock = clock
        self.sleep = sleep
        self.stats = DispatchStats()
        self.last_loop_at: float | None = None  # liveness, for /healthz
        self._rng = random.Random()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._on_change = on_change
        self._on_event = on_event
        self._on_progress = on_progress
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._next_at: dict[str, float] = {}  # per lane: when this worker may start its next send

    def wake(self) -> None:
        """New rows were enqueued: look now rather than at the next idle tick."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the deliveries in hand, then return from run()."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Until stop(): start a worker for each lane that may send. Storage errors propagate (supervised)."""
        try:
            while not self._stopping.is_set():
                now = self.clock()
                self.last_loop_at = now
                for lane in await lanes.ready(self.engine, now=now, exclude=set(self._workers), limit=self.max_lanes):
                    if len(self._workers) >= self.max_lanes:
                        break
                    self._workers[lane] = asyncio.create_task(self._lane_worker(lane), name=f"lane:{lane}")
                if self._on_progress:
                    self._on_progress()  # storage answered: the loop is alive
                self._wake.clear()
                waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(self._wake.wait())]
                waiters += list(self._workers.values())
                done, _ = await asyncio.wait(waiters, timeout=self.idle_wait, return_when=asyncio.FIRST_COMPLETED)
                waiters[0].cancel()
                for lane, task in list(self._workers.items()):
                    if task.done():
                        del self._workers[lane]
                        if not task.cancelled() and task.exception() is not None:
                            raise task.exception()  # type: ignore[misc]
        finally:
            if self._workers:  # drain: deliveries in hand finish; a worker takes no new row once stopping
                await asyncio.gather(*self._workers.values(), return_exceptions=True)
                self._workers.clear()

    async def run_once(self) -> int:
        """One row from every lane that may send now, side by side. Returns how many rows were handled."""
        ready = await lanes.ready(self.engine, now=self.clock(), limit=self.max_lanes)
        done = await asyncio.gather(*(self._one(lane) for lane in ready))
        return sum(done)

    async def _lane_worker(self, lane: str) -> None:
        while not self._stopping.is_set():
            if not await self._one(lane):
                return
            pause = self._next_at.get(lane, 0.0) - self.clock()
            if pause > 0 and not self._stopping.is_set():
                await self.sleep(pause)

    async def _one(self, lane: str) -> int:
        item = await lanes.take(self.engine, lane, self.worker, now=self.clock(), hold=self.hold)
        if item is None:
            return 0
        handler = self.handlers.get(item.kind)
        if handler is None:
            await self._dead(item, f"no handler for kind {item.kind!r}", next_at=self.clock())
        else:
            await self._deliver(handler, item)
        if self._on_change:
            self._on_change()
        return 1

    async def _deliver(self, handler: DeliveryHandler, item: OutboxItem) -> None:
        try:
            if item.in_doubt:
                found = await handler.reconcile(item)
                if found is not None:
                    await self._sent(handler, item, found, reconciled=True)
                    return
            if not await outbox.begin_attempt(self.engine, item, self.worker):
                return  # our claim lapsed and another worker has it
            try:
                result = await handler.deliver(item)
            finally:
                # paced from the end of a call, so arrivals are spaced by at least min_interval
                # whatever the latency of the one before
                self._next_at[item.lane] = self.clock() + handler.min_interval
        except RetryLater as e:
            await self._retry(handler, item, e)
            return
        except PermanentFailure as e:
            await self._dead(item, str(e), next_at=self.clock() + handler.min_interval)
            return
        except Exception as e:  # a bug in a handler must not stop the dispatcher; the row is kept
            log.exception("outbox.handler_crashed", key=item.key, kind=item.kind)
            await self._retry(handler, item, RetryLater(f"{type(e).__name__}: {e}"))
            return
        await self._sent(handler, item, result, reconciled=False)

    async def _sent(self, handler: DeliveryHandler, item: OutboxItem, result: str | Receipt, *, reconciled: bool) -> None:
        receipt = result if isinstance(result, Receipt) else Receipt(str(result))
        now = self.clock()
        ended = await outbox.mark_sent(self.engine, item, self.worker, result=receipt.ref, now=now,
                                       posted=receipt.posted, next_at=now + handler.min_interval)
        if reconciled:
            self.stats.reconciled += 1
            log.info("outbox.reconciled", key=item.key, kind=item.kind, result=receipt.ref)
        else:
            self.stats.sent += 1
            self.stats.by_kind[item.kind] += 1
            log.info("outbox.delivered", key=item.key, kind=item.kind, lane=item.lane, result=receipt.ref,
                     waited_s=round(now - item.created_at, 1))
        if ended is not None:
            lane, since = ended
            log.info("outbox.lane_recovered", lane=lane, blocked_for_s=round(now - since, 1))
            if now - since >= self.announce_after:
                await self._event("recovered", lane=lane, blocked_for=now - since, since=since)

    async def _retry(self, handler: DeliveryHandler, item: OutboxItem, e: RetryLater) -> None:
        now = self.clock()
        error = str(e)
        attempts = item.attempts + 1 if e.counts else item.attempts
        if e.counts and attempts >= self.min_attempts and now - item.created_at >= self.give_up_after:
            await self._dead(item, f"gave up after {attempts} attempts over {(now - item.created_at) / 3600:.1f} h: "
                             f"{error}", in_doubt=True, next_at=now + handler.min_interval)
            return
        # A failing channel or service (not this row) is tried again at least every `probe_every` s: one
        # request per lane, and what waits goes as soon as it answers. With the row's cap, a 10-minute
        # Slack outage left alerts waiting up to max_backoff after Slack was back.
        cap = self.max_backoff if e.scope == "row" else min(self.max_backoff, self.probe_every)
        delay = outbox.backoff(max(attempts, 1), base=self.base_backoff, cap=cap,
                               retry_after=e.retry_after, rng=self._rng)
        # After a failed call we cannot be sure it did not land (a timeout may have): stay in doubt.
        # A refusal that was not an attempt (429, bad token) landed nothing.
        in_doubt = item.in_doubt or e.counts
        row_delay = delay if e.scope == "row" or e.counts else 0.0
        await outbox.mark_retry(self.engine, item, self.worker, attempts=attempts, error=error, delay=row_delay,
                                now=now, in_doubt=in_doubt, next_at=now + handler.min_interval)
        if e.counts:
            self.stats.retried += 1
        else:
            self.stats.waited += 1
        if e.scope != "row":
            where = item.lane if e.scope == "lane" else outbox.service_lane(item.lane)
            since = await lanes.block(self.engine, where, until=now + delay, reason=error, now=now)
            log.warning("outbox.lane_waits", lane=where, retry_in_s=round(delay, 1), blocked_for_s=round(now - since, 1),
                        counted=e.counts, error=error)
            if now - since >= self.announce_after:  # a blip is not news; a block that lasts is, once
                await self._event("blocked", lane=where, error=error, since=since)
            return
        log.warning("outbox.retry", key=item.key, kind=item.kind, attempt=attempts, delay_s=round(delay, 2),
                    counted=e.counts, error=error)

    async def _dead(self, item: OutboxItem, error: str, *, in_doubt: bool = False, next_at: float) -> None:
        await outbox.mark_dead(self.engine, item, self.worker, error=error, in_doubt=in_doubt, next_at=next_at)
        self.stats.dead += 1
        self.stats.last_dead_key = item.key
        log.error("outbox.dead_letter", key=item.key, kind=item.kind, target=item.target, error=error)
        await self._event("dead", lane=item.lane, error=error, key=item.key, target=item.target)

    async def _event(self, what: str, **details: object) -> None:
        if self._on_event is None:
            return
        try:
            await self._on_event(what, details)
        except Exception:  # telling people must never stop delivery
            log.exception("outbox.event_failed", what=what)
