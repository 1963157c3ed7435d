"""The daemon: one process that polls, decides and delivers, and stops cleanly.

start():  migrate → sources → one APScheduler job per source (no overlap) → dispatcher loop → web.
stop():   pause the scheduler, let running polls and the dispatcher's batch in hand finish, close.
Nothing here is lost by a kill -9: state lives in the database (cursors with their mentions,
outbox rows with their decisions), and start() simply carries on from it.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from alerts.mention_delivery import KIND as MENTION_ALERT
from alerts.mention_delivery import MentionAlertDelivery
from alerts.slack_delivery import SlackDelivery, make_slack_client
from connectors.base import Source
from monitor import leases, outbox
from monitor.budget import planner_for
from monitor.config import Config
from monitor.delivery import DeliveryHandler
from monitor.dispatcher import Dispatcher
from monitor.ingest import AlertPolicy
from monitor.metrics import Metrics
from monitor.outbox import NewEffect
from monitor.poller import Poller
from monitor.sources import build_sources
from monitor.storage.engine import create_engine
from monitor.storage.migrate import upgrade
from monitor.triage import load_triage
from monitor.watchdog import QuietRule
from monitor.web import make_web_app

log = structlog.get_logger("daemon")

DRAIN_SECONDS = 8.0  # SIGTERM must end the process within 10 s


class Daemon:
    def __init__(
        self,
        cfg: Config,
        *,
        sources: Mapping[str, Source] | None = None,
        handlers: Mapping[str, DeliveryHandler] | None = None,
        clock: Callable[[], float] = time.time,
        serve_http: bool = True,
        config_path: str | os.PathLike[str] | None = None,  # re-read on SIGHUP
    ) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.clock = clock
        self.instance = leases.holder_name(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:6])
        self.metrics = Metrics()
        self.engine = create_engine(cfg.storage.url)
        self._given_sources = sources
        self._given_handlers = handlers
        self._serve_http = serve_http
        self.sources: dict[str, Source] = {}
        self.pollers: dict[str, Poller] = {}
        self.dispatcher: Dispatcher | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self._dispatch_task: asyncio.Task[None] | None = None
        self._running_polls: set[asyncio.Task[Any]] = set()
        self._web: web.AppRunner | None = None
        self.http_port: int | None = None
        self._stop = asyncio.Event()
        self._started_at = clock()

    # ── start ────────────────────────────────────────────────────────────────────────────
    async def start(self) -> None:
        cfg = self.cfg
        rev = await upgrade(self.engine)
        if freed := await leases.release_dead_local(self.engine, socket.gethostname()):
            log.info("daemon.took_over", note="freed leases and claims of dead daemons on this host", count=freed)
        log.info("daemon.starting", instance=self.instance, schema=rev, sources=[s.name for s in cfg.sources])
        triage = load_triage(cfg.triage.rules, cfg.triage.model)
        self.sources = dict(self._given_sources) if self._given_sources is not None else build_sources(cfg)

        handlers: dict[str, DeliveryHandler] = dict(self._given_handlers or {})
        policy = None
        if cfg.slack is not None:
            if "slack.message" not in handlers:
                client = make_slack_client(cfg.slack.token, cfg.slack.api_base)
                handlers["slack.message"] = SlackDelivery(client, min_interval=cfg.slack.min_interval_per_channel)
            slack = handlers["slack.message"]
            if MENTION_ALERT not in handlers and isinstance(slack, SlackDelivery):
                handlers[MENTION_ALERT] = MentionAlertDelivery(slack)
            policy = AlertPolicy(cfg.slack.channels, cfg.triage.alert_min_urgency)

        self.dispatcher = Dispatcher(
            self.engine,
            handlers,
            worker=self.instance,
            max_attempts=cfg.outbox.max_attempts,
            base_backoff=cfg.outbox.base_backoff,
            max_backoff=cfg.outbox.max_backoff,
            batch_size=cfg.outbox.batch_size,
            idle_wait=cfg.outbox.poll_interval,
            clock=self.clock,
        )
        for sc in cfg.sources:
            source = self.sources[sc.name]
            streams = source.streams()
            self.pollers[sc.name] = Poller(
                source,
                name=sc.name,
                engine=self.engine,
                triage=triage,
                policy=policy,
                metrics=self.metrics,
                holder=self.instance,
                lease_ttl=max(cfg.lease_seconds, sc.interval * 2),
                planner=planner_for(sc, streams) if streams else None,
                quiet_rule=QuietRule(sc.quiet_after, sc.quiet_min_expected) if sc.quiet_after else None,
                clock=self.clock,
                on_stored=lambda r: self.dispatcher.wake() if r.alerts and self.dispatcher else None,
                ops=self._tell_operators,
            )

        self.scheduler = AsyncIOScheduler()
        for sc in cfg.sources:
            # The job only ticks; the budget planner decides which streams (if any) are due at each tick.
            planner = self.pollers[sc.name].planner
            fastest = planner.pacing.min_interval if planner is not None else sc.interval
            tick = sc.interval if planner is None else min(5.0, max(0.2, fastest / 2))
            self.scheduler.add_job(
                self._poll_job,
                "interval",
                seconds=tick,
                args=[sc.name],
                id=f"poll:{sc.name}",
                replace_existing=True,
                max_instances=1,  # a slow poll is never overlapped by the next one
                coalesce=True,
                misfire_grace_time=max(1, int(tick)),
                next_run_time=_now_dt(),
            )
            if sc.quiet_after:
                self.scheduler.add_job(
                    self._watch_job,
                    "interval",
                    seconds=min(300.0, max(1.0, sc.quiet_after / 10)),
                    args=[sc.name],
                    id=f"watch:{sc.name}",
                    replace_existing=True,
                    max_instances=1,
                    coalesce=True,
                )
        self.scheduler.start()
        self._dispatch_task = asyncio.create_task(self.dispatcher.run(), name="dispatcher")
        if self._serve_http:
            await self._start_web()
        log.info("daemon.started", instance=self.instance, http_port=self.http_port)

    async def _start_web(self) -> None:
        app = make_web_app(self.health, self._render_metrics)
        self._web = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._web.setup()
        site = web.TCPSite(self._web, self.cfg.server.host, self.cfg.server.port)
        await site.start()
        self.http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _poll_job(self, name: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running_polls.add(task)
        try:
            await self.pollers[name].poll()
        except Exception:  # a bug must not kill the job; the next interval tries again
            log.exception("poll.crashed", source=name)
        finally:
            if task is not None:
                self._running_polls.discard(task)

    async def _watch_job(self, name: str) -> None:
        try:
            await self.pollers[name].watch()
        except Exception:
            log.exception("watch.crashed", source=name)

    async def _tell_operators(self, key: str, payload: dict[str, Any]) -> None:
        """One message to the operators' channel, through the outbox; `key` makes it once."""
        if self.cfg.slack is None:
            return
        now = self.clock()
        effect = NewEffect(key=key, kind="slack.message", target=self.cfg.slack.operators_channel, payload=payload)
        async with self.engine.begin() as conn:
            await outbox.enqueue(conn, [effect], now=now)
        if self.dispatcher:
            self.dispatcher.wake()

    # ── observe ──────────────────────────────────────────────────────────────────────────
    async def health(self) -> dict[str, Any]:
        now = self.clock()
        b = await outbox.backlog(self.engine)
        sources: dict[str, Any] = {}
        problems: list[str] = []
        for n, p in self.pollers.items():
            s = sources[n] = p.report(now)
            if s["state"] in ("failing", "paused"):
                problems.append(f"source {n} is {s['state']}: {s['last_error']}")
            elif s["state"] == "ok":  # a stream failing while the others work must not be invisible
                problems += [f"source {n} stream {sn} is failing ({st['failures_in_row']} in a row): {st['last_error']}"
                             for sn, st in s["streams"].items() if st["state"] == "failing"]
            if s["quiet"]:
                problems.append(f"source {n} went quiet: no mentions where some are usual")
        if b.dead:
            problems.append(f"{b.dead} outbox rows are dead-lettered")
        down = any(p.health.state == "paused" or p.health.failures_in_row >= 3 for p in self.pollers.values())
        return {
            "status": "down" if down else ("degraded" if problems else "ok"),
            "problems": problems,
            "instance": self.instance,
            "uptime_s": round(now - self._started_at, 1),
            "sources": sources,
            "outbox": {
                "pending": b.pending,
                "sent": b.sent,
                "dead": b.dead,
                "oldest_pending_age_s": None if b.oldest_pending_at is None else round(now - b.oldest_pending_at, 1),
            },
        }

    async def _render_metrics(self) -> bytes:
        b = await outbox.backlog(self.engine)
        m = self.metrics
        m.outbox_pending.set(b.pending)
        m.outbox_dead.set(b.dead)
        m.outbox_oldest.set(0 if b.oldest_pending_at is None else self.clock() - b.oldest_pending_at)
        for p in self.pollers.values():
            p.update_gauges()
        return m.render()

    # ── stop ─────────────────────────────────────────────────────────────────────────────
    def request_stop(self) -> None:
        self._stop.set()

    def reload(self) -> asyncio.Task[bool]:
        """SIGHUP: re-read the config file and the environment, take the new sources' settings and
        credentials, then check paused sources again now (each resumes only if its check passes).
        A config that does not load is refused with its error; the old one keeps running.
        Returns the task (True when the new config was taken), for tests to await."""
        task = asyncio.ensure_future(self._reload())
        self._running_polls.add(task)
        task.add_done_callback(self._running_polls.discard)
        return task

    async def _reload(self) -> bool:
        taken = False
        if self.config_path is not None:
            from monitor.reload import apply_config

            taken = await apply_config(self, self.config_path)
        await asyncio.gather(*(p.try_resume() for p in self.pollers.values() if p.health.state == "paused"))
        return taken

    async def run_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        await self.start()
        await self._stop.wait()
        log.info("daemon.stopping", instance=self.instance)
        await self.stop()

    async def stop(self) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        if self.scheduler is not None:
            self.scheduler.pause()  # no new polls; shutdown() would cancel the running ones
        if self._running_polls:
            await asyncio.wait(list(self._running_polls), timeout=max(0.1, deadline - time.monotonic()))
        if self.dispatcher is not None and self._dispatch_task is not None:
            self.dispatcher.stop()
            try:
                await asyncio.wait_for(self._dispatch_task, timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                log.warning("daemon.drain_timeout", note="claimed rows lapse and are retried by the next daemon")
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        for name in self.pollers:
            await leases.release(self.engine, f"poll:{name}", self.instance)
        for s in self.sources.values():
            await s.close()
        if self._web is not None:
            await self._web.cleanup()
        await self.engine.dispose()
        log.info("daemon.stopped", instance=self.instance)


def _now_dt():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)
