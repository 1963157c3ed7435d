"""Service health inside the daemon: the probe jobs, under one lease, feeding the Tracker.

    runner = HealthRunner.from_config(cfg, engine, holder=..., clock=..., on_change=dispatcher.wake)
    runner.register(scheduler)      # one job per check / status page, plus the lease keeper
    await runner.start()            # the intake listener, if configured
    ...
    await runner.close()

Several daemons on one database: only the holder of the `health` lease probes (one lease for all
checks, renewed by its own job, so a thousand checks do not mean a thousand lease writes every
interval). Another daemon takes over within one lease period when the holder dies; the state it
continues from is in `alert_states`.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.base import Probe, SourceError
from connectors.http_check import HttpCheck, make_session
from connectors.statuspage import StatuspageProbe
from monitor import leases
from monitor.health import Tracker, Watched
from monitor.storage.engine import READ_ONLY

log = structlog.get_logger("health")

LEASE = "health"


@dataclass
class HealthRunner:
    engine: AsyncEngine
    tracker: Tracker
    holder: str
    lease_ttl: float
    clock: Callable[[], float] = time.time
    probes: dict[str, tuple[Probe, float]] = field(default_factory=dict)  # job name -> (probe, interval)
    session: aiohttp.ClientSession | None = None
    holding: bool = False
    notifier: Any = None  # monitor.notify_jobs.Notifier, when there are subscribers
    delays: Any = None  # monitor.delays.DelayNotifier, when there are delay feeds
    intake: Any = None  # monitor.intake.Intake, when `intake:` is configured
    intake_port: int | None = None
    spikes: Any = None  # monitor.spikes.SpikeDetector, when there are services
    acks: Any = None  # outreach.incident_replies.IncidentAcks: answers the complainers of public incidents
    status_posts: Any = None  # outreach.status_posts.StatusPosts: the X status post, held for approval
    failing: dict[str, str] = field(default_factory=dict)  # probes whose fetch itself fails (logged once)
    extra_jobs: list[tuple[str, Callable[[], Any], float]] = field(default_factory=list)
    _starters: list[Callable[[], Any]] = field(default_factory=list)
    _closers: list[Callable[[], Any]] = field(default_factory=list)

    @classmethod
    def from_config(cls, cfg: Any, engine: AsyncEngine, *, holder: str, clock: Callable[[], float] = time.time,
                    on_change: Callable[[], None] | None = None, session: aiohttp.ClientSession | None = None,
                    ssl_context: Any = None) -> HealthRunner:
        services = {s.name: s for s in cfg.services}
        slack_channel = cfg.incidents.channel if cfg.slack is not None else None
        tracker = Tracker(engine, services, slack_channel, clock=clock, on_change=on_change)
        runner = cls(engine, tracker, holder, lease_ttl=max(cfg.failover_seconds * 2 / 3, 2.0), clock=clock)
        if cfg.checks or cfg.statuspages:
            runner.session = session or make_session()
        for c in cfg.checks:
            tracker.watch(c.name, Watched(c.service, c.failure_threshold, c.success_threshold, c.flap_changes,
                                          c.flap_window, label=f"HTTP check {c.name} ({c.method} {c.url})"))
            assert runner.session is not None
            runner.probes[f"check:{c.name}"] = (HttpCheck(c, runner.session, clock=clock, ssl_context=ssl_context),
                                                c.interval)
        for p in cfg.statuspages:
            assert runner.session is not None
            probe = StatuspageProbe(p, runner.session, clock=clock)
            for comp, svc in p.components.items():
                # their page already debounces: one reading is enough either way
                tracker.watch(f"statuspage:{p.name}:{comp}", Watched(svc, 1, 1, label=f"{p.name} status page: {comp}"))
            runner.probes[f"statuspage:{p.name}"] = (probe, p.interval)
        return runner

    @property
    def active(self) -> bool:
        return bool(self.probes or self.extra_jobs or self._starters)

    def add_job(self, name: str, fn: Callable[[], Any], interval: float) -> None:
        """Another periodic job that must run on the lease holder only (notices, spikes, delay feeds)."""
        self.extra_jobs.append((name, fn, interval))

    def on_start(self, fn: Callable[[], Any], close: Callable[[], Any]) -> None:
        self._starters.append(fn)
        self._closers.append(close)

    def register(self, scheduler: AsyncIOScheduler) -> None:
        """On the daemon's scheduler (job_scheduler.DrainingScheduler), which lets a running probe or
        job finish before it shuts down: a stop does not cut a write short."""
        if not self.active:
            return
        now_dt = datetime.now(UTC)
        scheduler.add_job(self.keep_lease, "interval", seconds=max(1.0, self.lease_ttl / 3), id="health:lease",
                          replace_existing=True, max_instances=1, coalesce=True, next_run_time=now_dt)
        n = len(self.probes)
        for i, (name, (probe, interval)) in enumerate(self.probes.items()):
            # spread over the interval: a thousand checks are 33 requests a second, not a burst of 1000
            first = now_dt + timedelta(seconds=interval * i / n)
            scheduler.add_job(self.run_probe, "interval", seconds=interval, args=[name], id=f"health:{name}",
                              replace_existing=True, max_instances=1, coalesce=True,
                              misfire_grace_time=max(1, int(interval)), next_run_time=first)
        for name, fn, interval in self.extra_jobs:
            scheduler.add_job(self._guarded, "interval", seconds=interval, args=[name, fn], id=f"health:{name}",
                              replace_existing=True, max_instances=1, coalesce=True,
                              misfire_grace_time=max(1, int(interval)), next_run_time=now_dt)

    async def start(self) -> None:
        for fn in self._starters:
            await fn()

    async def keep_lease(self) -> bool:
        try:
            held = await leases.acquire(self.engine, LEASE, self.holder, ttl=self.lease_ttl, now=self.clock())
        except Exception:
            log.exception("health.lease_failed")
            held = False
        if held != self.holding:
            log.info("health.lease", holder=self.holder, holding=held)
            self.tracker.forget()  # while we did not hold it, another daemon wrote the states
        self.holding = held
        return held

    async def run_probe(self, name: str) -> None:
        if not self.holding:
            return
        probe, _ = self.probes[name]
        try:
            readings = await probe.probe()
        except SourceError as e:  # the probe could not look (a status page unreachable): no reading, say so once
            if self.failing.get(name) is None:
                log.warning("health.probe_failed", probe=name, error=str(e))
            self.failing[name] = str(e)
            return
        except Exception:
            log.exception("health.probe_crashed", probe=name)
            return
        if self.failing.pop(name, None) is not None:
            log.info("health.probe_recovered", probe=name)
        try:
            outcomes = await self.tracker.apply(readings, leased=True)
            if self.notifier is not None and any(o.action in ("open", "flapping", "resolve") for o in outcomes):
                await self.notifier.run()  # customers hear now, not at the cadence job's next tick
        except Exception:
            log.exception("health.apply_crashed", probe=name)

    async def _guarded(self, name: str, fn: Callable[[], Any]) -> None:
        if not self.holding:
            return
        try:
            await fn()
        except Exception:
            log.exception("health.job_crashed", job=name)

    async def report(self, problems: list[str], engine: AsyncEngine | None = None) -> dict[str, Any]:
        """For /healthz: the checks' states, the open incidents, and (into `problems`) the probes that
        cannot look at all — a status page we cannot read is the operator's problem, an outage is not."""
        from sqlalchemy import func, select

        from monitor.incidents import list_incidents
        from monitor.storage.schema import alert_states

        for name, error in sorted(self.failing.items()):
            problems.append(f"health probe {name} cannot look: {error}")
        async with (engine or self.engine).connect() as conn:
            await conn.execution_options(**READ_ONLY)
            states = dict((await conn.execute(select(alert_states.c.status, func.count())
                                              .group_by(alert_states.c.status))).all())
            open_ = await list_incidents(conn, open_only=True)
        return {
            "lease": "held" if self.holding else "standby",
            "checks": {"configured": len(self.tracker.checks), **{k: states.get(k, 0) for k in ("up", "down",
                                                                                               "degraded")}},
            "open_incidents": [{"id": i.id, "service": i.service, "status": i.status, "public": i.public,
                                "title": i.title} for i in open_],
        }

    async def close(self) -> None:
        for fn in self._closers:
            try:
                await fn()
            except Exception:
                log.exception("health.close_failed")
        if self.holding:
            await leases.release(self.engine, LEASE, self.holder)
            self.holding = False
        if self.session is not None:
            await self.session.close()
            await asyncio.sleep(0)


def add_health_handlers(cfg: Any, handlers: dict[str, Any]) -> None:
    """The outbox handlers for customers' notices (e-mail, signed webhooks), when subscribers are configured."""
    if not cfg.subscribers and not cfg.delay_feeds and not cfg.services:
        return
    from outreach.notify_delivery import EmailDelivery, WebhookDelivery

    if cfg.email is not None:
        handlers.setdefault(EmailDelivery.kind, EmailDelivery(cfg.email))
    secrets = {s.webhook: s.secret.get_secret_value() for s in cfg.subscribers if s.webhook and s.secret}
    handlers.setdefault(WebhookDelivery.kind, WebhookDelivery(secrets))
    from monitor.notify_jobs import subscribers_from
    from outreach.apprise_delivery import AppriseDelivery

    if urls := {s.target: s.address for s in subscribers_from(cfg) if s.kind == "apprise"}:
        handlers.setdefault(AppriseDelivery.kind, AppriseDelivery(urls))


async def start_health(daemon: Any, handlers: dict[str, Any]) -> HealthRunner | None:
    """Build the runner from the daemon's config, register its jobs, start its intake listener."""
    cfg = daemon.cfg
    runner = HealthRunner.from_config(cfg, daemon.engine, holder=daemon.instance, clock=daemon.clock,
                                      on_change=lambda: daemon.dispatcher.wake() if daemon.dispatcher else None)
    from monitor.notify_jobs import attach_notices

    attach_notices(runner, cfg)
    _attach_delays(runner, cfg)
    _attach_intake(runner, cfg)
    _attach_spikes(runner, cfg)
    if cfg.services and getattr(daemon, "care", None) is not None:
        from monitor.notify_jobs import forbidden_words
        from outreach.incident_replies import attach_acks

        attach_acks(runner, cfg, daemon.care.voice, forbidden_words(cfg))
        from outreach.status_posts import attach_status_posts
        from outreach.templates import Templates

        attach_status_posts(runner, cfg, daemon.care.delivery.repliers,
                            Templates(cfg.incidents.templates, forbidden=forbidden_words(cfg)))
    if not runner.active:
        await runner.close()
        return None
    runner.register(daemon.scheduler)
    await runner.start()
    return runner


def _attach_delays(runner: HealthRunner, cfg: Any) -> None:
    """The delay notifier, and a polling job per polled feed (posted feeds arrive through the intake)."""
    if not cfg.delay_feeds:
        return
    from connectors import delay_feed
    from monitor.delays import DelayNotifier
    from monitor.notify_jobs import forbidden_words, subscribers_from
    from outreach.templates import Templates

    notifier = DelayNotifier(runner.engine, subscribers_from(cfg),
                             Templates(cfg.incidents.templates, forbidden=forbidden_words(cfg)),
                             {s.name: s.display for s in cfg.services}, cfg.brand.name, cfg.incidents.status_url,
                             clock=runner.clock, on_change=runner.tracker.on_change)
    runner.delays = notifier
    for f in cfg.delay_feeds:
        if f.url is None:
            continue
        if runner.session is None:
            runner.session = make_session()

        async def poll_feed(f: Any = f) -> None:
            assert runner.session is not None
            try:
                items, problems = delay_feed.parse(f.name, await delay_feed.poll(runner.session, f.url,
                                                                                 timeout=f.timeout))
            except SourceError as e:
                if runner.failing.get(f"delays:{f.name}") is None:
                    log.warning("delays.feed_failed", feed=f.name, error=str(e))
                runner.failing[f"delays:{f.name}"] = str(e)
                return
            if runner.failing.pop(f"delays:{f.name}", None) is not None:
                log.info("delays.feed_recovered", feed=f.name)
            for p in problems:
                log.warning("delays.item_skipped", feed=f.name, problem=p)
            await notifier.apply(items)

        runner.add_job(f"delays:{f.name}", poll_feed, f.interval)


def _attach_intake(runner: HealthRunner, cfg: Any) -> None:
    """The intake listener on its own port: Alertmanager and posted delay feeds."""
    if cfg.intake is None:
        return
    from monitor.intake import Intake

    ic = cfg.intake

    async def after_apply() -> None:
        if runner.notifier is not None:
            await runner.notifier.run()

    intake = Intake(ic.secret.get_secret_value(), runner.tracker, runner.delays,
                    {f.name for f in cfg.delay_feeds if f.url is None}, ic.service_label, ic.default_service,
                    ic.max_body_bytes, clock=runner.clock, after_apply=after_apply,
                    statuspages={p.name: dict(p.components) for p in cfg.statuspages})
    runner.intake = intake
    holder: dict[str, web.AppRunner] = {}

    async def start() -> None:
        app_runner = web.AppRunner(intake.app(), access_log=None, handle_signals=False)
        await app_runner.setup()
        site = web.TCPSite(app_runner, ic.host, ic.port)
        await site.start()
        runner.intake_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        holder["runner"] = app_runner
        log.info("intake.listening", host=ic.host, port=runner.intake_port)

    async def close() -> None:
        if "runner" in holder:
            await holder.pop("runner").cleanup()

    runner.on_start(start, close)


def _attach_spikes(runner: HealthRunner, cfg: Any) -> None:
    sc = cfg.incidents.spikes
    if not sc.enabled or not cfg.services:
        return
    from monitor.spikes import SpikeDetector, SpikeRule

    terms = {s.name: list(dict.fromkeys([s.name, s.display, *s.aliases])) for s in cfg.services}
    det = SpikeDetector(runner.engine, runner.tracker, terms,
                        SpikeRule(sc.window, sc.sustained, sc.min_count, sc.p_possible, sc.p_likely, lag=sc.lag),
                        clock=runner.clock)
    runner.spikes = det

    async def judge() -> None:
        actions = await det.run()
        if runner.notifier is not None and any(a != "none" for a in actions):
            await runner.notifier.run()

    runner.add_job("spikes", judge, max(1.0, min(60.0, sc.window / 3)))
