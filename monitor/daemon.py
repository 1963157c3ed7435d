"""The daemon: one process that polls, decides and delivers, and stops cleanly.

start():  migrate → sources → one APScheduler job per source (no overlap) → supervised dispatcher → web.
stop():   pause the scheduler, let running polls and the deliveries in hand finish, close.
Nothing here is lost by a kill -9: state lives in the database (cursors with their mentions,
outbox rows with their decisions), and start() simply carries on from it. Nothing here stops for
good on a database blip either: the dispatcher is supervised (monitor/supervisor.py), polls retry
on their schedule, and /healthz says "down" (JSON, 503) while storage is unreachable.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
import uuid
from dataclasses import replace
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import structlog
from aiohttp import web

from alerts.mention_delivery import KIND as MENTION_ALERT
from alerts.mention_delivery import MentionAlertDelivery
from alerts.slack_delivery import SlackDelivery, make_slack_client
from connectors.base import Source
from alerts.ops_alert import build_delivery_blocked, build_delivery_dead, build_delivery_recovered, build_task_failing
from monitor import coverage, lanes, leases, outbox, quarantine
from monitor.budget import planner_for
from monitor.care import DM_KIND, REPLY_KIND, build_care
from monitor.config import Config
from monitor.delivery import DeliveryHandler
from monitor.digest.competitors import listen_only_streams, with_competitor_queries
from monitor.digest.service import Digests, add_digest_handlers
from monitor.delivery_health import BlockFact, judge
from monitor.dispatcher import Dispatcher
from connectors.helpdesk import build_helpdesk
from monitor.helpdesk_sync import HelpdeskSync
from monitor.health_jobs import HealthRunner, add_health_handlers, start_health
from monitor.ingest import AlertPolicy
from monitor.job_scheduler import DrainingScheduler
from monitor.metrics import Metrics
from monitor.outbox import NewEffect
from monitor.poller import Poller
from monitor.slack_cockpit import SlackCockpit, storm_rule
from monitor.sources import build_sources
from monitor.storage.engine import create_engine, create_probe_engine, probe_writable
from monitor.storage.migrate import upgrade
from monitor.supervisor import TaskHealth, describe, is_storage_error, supervise
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
        self.cfg = cfg = with_competitor_queries(cfg)  # competitors are searched as extra streams
        self.config_path = config_path
        self.clock = clock
        self.instance = leases.holder_name(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:6])
        self.metrics = Metrics()
        self.engine = create_engine(cfg.storage.url)
        self.probe_engine = create_probe_engine(cfg.storage.url) or self.engine  # /healthz's: gives up in seconds
        self._given_sources = sources
        self._given_handlers = handlers
        self._serve_http = serve_http
        self.sources: dict[str, Source] = {}
        self.pollers: dict[str, Poller] = {}
        self.coverage: dict[str, coverage.CoverageRecorder] = {}
        self.digests: Digests | None = None
        self.dispatcher: Dispatcher | None = None
        self.scheduler: DrainingScheduler | None = None
        self._dispatch_task: asyncio.Task[None] | None = None
        self._polls: set[asyncio.Task[Any]] = set()  # polls running now: what a reload waits for
        self._background: set[asyncio.Task[Any]] = set()  # reloads, and ops messages sent from callbacks
        self._web: web.AppRunner | None = None
        self.health_runner: HealthRunner | None = None
        self.http_port: int | None = None
        self._stop = asyncio.Event()
        self._stopping_dispatch = asyncio.Event()
        self._started_at = clock()
        self.cockpit: SlackCockpit | None = None
        self.helpdesk: HelpdeskSync | None = None
        self.tasks = {"dispatcher": TaskHealth("dispatcher", clock=clock, on_recover=self._task_recovered)}
        # any storage error seen by a job, until one works; its recovery restarts a failed dispatcher at once
        self._storage_back = asyncio.Event()
        self.storage = TaskHealth("storage", clock=clock, on_recover=lambda _n, _s: self._storage_back.set())
        # poll leases and outbox claims last two thirds of the failover time; a survivor's tick (≤ 5 s)
        # then takes over within failover_seconds
        self.hold = cfg.failover_seconds * 2 / 3

    # ── start ────────────────────────────────────────────────────────────────────────────
    async def start(self) -> None:
        cfg = self.cfg
        rev = await upgrade(self.engine)
        if freed := await leases.release_dead_local(self.engine, socket.gethostname()):
            log.info("daemon.took_over", note="freed leases and claims of dead daemons on this host", count=freed)
        log.info("daemon.starting", instance=self.instance, schema=rev, sources=[s.name for s in cfg.sources])
        triage = load_triage(cfg.triage.rules, cfg.triage.model, learned=None if cfg.triage.complaint_model else False)
        self.sources = dict(self._given_sources) if self._given_sources is not None else build_sources(cfg)

        handlers: dict[str, DeliveryHandler] = dict(self._given_handlers or {})
        policy = None
        if cfg.slack is not None:
            if "slack.message" not in handlers:
                client = make_slack_client(cfg.slack.token, cfg.slack.api_base)
                handlers["slack.message"] = SlackDelivery(client, min_interval=cfg.slack.min_interval_per_channel,
                                                          auth_retry_after=cfg.slack.auth_recheck)
            slack = handlers["slack.message"]
            if MENTION_ALERT not in handlers and isinstance(slack, SlackDelivery):
                handlers[MENTION_ALERT] = MentionAlertDelivery(slack)
            policy = AlertPolicy(cfg.slack.channels, cfg.triage.alert_min_urgency, storm=storm_rule(cfg.slack))
            self.cockpit = SlackCockpit(cfg.slack, self.engine, instance=self.instance, clock=self.clock,
                                        wake=lambda: self.dispatcher.wake() if self.dispatcher else None,
                                        health=self.health)
            self.cockpit.register(handlers)
            from monitor.incident_desk import IncidentDesk

            self.cockpit.incident_desk = IncidentDesk(self.engine, channel=cfg.incidents.channel, clock=self.clock,
                                                      public_names={s.name: s.display for s in cfg.services})
        # tickets and public replies (monitor/care.py): decided at ingest, sent by the outbox, swept on a timer
        self.care = build_care(cfg, self.engine, self.sources, clock=self.clock)
        handlers.setdefault(REPLY_KIND, self.care.delivery)
        handlers.setdefault(DM_KIND, self.care.dm)
        policy = replace(policy or AlertPolicy({}), ticket_window=self.care.ticket_window, voice=self.care.voice)
        if cfg.tickets.helpdesk is not None:  # tickets mirrored in Zendesk / Freshdesk, through the outbox
            self.helpdesk = HelpdeskSync(cfg.tickets.helpdesk, self.engine, build_helpdesk(cfg.tickets.helpdesk),
                                         clock=self.clock)
            for kind, handler in self.helpdesk.handlers().items():
                handlers.setdefault(kind, handler)
            self.care.delivery.on_sent = self.helpdesk.reply_sent
            policy = replace(policy, helpdesk=self.helpdesk.target)

        if listen_only := listen_only_streams(cfg):  # competitors' posts: stored, never ticketed or alerted
            policy = replace(policy, listen_only=listen_only) if policy is not None else \
                AlertPolicy({}, listen_only=listen_only)
        add_health_handlers(cfg, handlers)
        add_digest_handlers(cfg, handlers)
        self.dispatcher = Dispatcher(
            self.engine,
            handlers,
            worker=self.instance,
            give_up_after=cfg.outbox.give_up_after,
            base_backoff=cfg.outbox.base_backoff,
            max_backoff=cfg.outbox.max_backoff,
            probe_every=cfg.outbox.probe_every,
            hold=self.hold,
            idle_wait=cfg.outbox.poll_interval,
            max_lanes=cfg.outbox.max_lanes,
            announce_after=cfg.outbox.announce_after,
            clock=self.clock,
            on_event=self._delivery_event,
            on_progress=self.tasks["dispatcher"].progress,
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
                lease_ttl=self.hold,
                planner=planner_for(sc, streams) if streams else None,
                quiet_rule=QuietRule(sc.quiet_after, sc.quiet_min_expected) if sc.quiet_after else None,
                clock=self.clock,
                on_stored=lambda r: self.dispatcher.wake() if r.alerts and self.dispatcher else None,
                ops=self._tell_operators,
            )
            self.coverage[sc.name] = coverage.CoverageRecorder(self.engine, sc.name, self.clock)

        self.scheduler = DrainingScheduler()
        self.health_runner = await start_health(self, handlers)
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
        self.scheduler.add_job(self._care_job, "interval", seconds=cfg.tickets.sweep_every_s, id="tickets:sweep",
                               replace_existing=True, max_instances=1, coalesce=True)
        self.scheduler.add_job(self._quarantine_job, "interval", seconds=3600, id="quarantine:prune",
                               replace_existing=True, max_instances=1, coalesce=True, next_run_time=_now_dt())
        if self.helpdesk is not None:
            self.scheduler.add_job(self._helpdesk_job, "interval", seconds=self.helpdesk.cfg.status_every_s,
                                   id="helpdesk:status", replace_existing=True, max_instances=1, coalesce=True)
        self.digests = Digests(cfg, self.engine, holder=self.instance, clock=self.clock,
                               wake=lambda: self.dispatcher.wake() if self.dispatcher else None)
        self.digests.register(self.scheduler, self._job_failed)
        for job_id, seconds in self.cockpit.jobs() if self.cockpit is not None else []:
            # the cockpit's timers (escalation, storm summaries); each runs under a lease inside
            self.scheduler.add_job(self._cockpit_job, "interval", seconds=seconds, args=[job_id], id=job_id,
                                   replace_existing=True, max_instances=1, coalesce=True)
        self.scheduler.start()
        if self.cockpit is not None:
            await self.cockpit.start()
        self._dispatch_task = asyncio.create_task(
            supervise(self.tasks["dispatcher"], self.dispatcher.run, stopping=self._stopping_dispatch,
                      on_first_failure=self._task_failing, retry_now=self._storage_back),
            name="dispatcher",
        )
        if self._serve_http:
            await self._start_web()
            await self.digests.start_pages()  # marketing's own listener, without /metrics
        log.info("daemon.started", instance=self.instance, http_port=self.http_port)

    async def _start_web(self) -> None:
        app = make_web_app(self.health, self._render_metrics)
        if self.cockpit is not None and self.cockpit.http_handler is not None:
            app.router.add_post(self.cockpit.cfg.interactivity_path, self.cockpit.http_handler)
        self._web = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._web.setup()
        site = web.TCPSite(self._web, self.cfg.server.host, self.cfg.server.port)
        await site.start()
        self.http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def running_polls(self) -> list[asyncio.Task[Any]]:
        """The polls running now, other than the caller (a reload waits for them before swapping sources)."""
        me = asyncio.current_task()
        return [t for t in self._polls if t is not me]

    async def _poll_job(self, name: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._polls.add(task)
        polled = asyncio.Event()
        renew = asyncio.create_task(self._renew_lease(f"poll:{name}", polled))
        try:
            await self.pollers[name].poll()
            self.storage.progress()
            await self._record_coverage(name)
        except Exception as e:  # a failure must not kill the job; the next tick tries again
            self._job_failed("poll", name, e)
        finally:
            # Let a renewal that is mid-query finish rather than cancel it: a query cancelled in the
            # driver's thread can outlive the event loop ("Event loop is closed" at shutdown).
            polled.set()
            await renew
            if task is not None:
                self._polls.discard(task)

    async def _record_coverage(self, name: str) -> None:
        """Persist the episodes (paused, failing, throttled, gap) this poll began or ended."""
        p, rec = self.pollers[name], self.coverage[name]
        rec.observe(p.health, p.source.gaps)
        await rec.flush()

    async def _renew_lease(self, name: str, polled: asyncio.Event) -> None:
        """While a poll runs, keep its lease (it lasts only `hold` seconds, so a dead daemon's lapses fast)."""
        while True:
            try:
                await asyncio.wait_for(polled.wait(), self.hold / 4)
                return
            except TimeoutError:
                pass
            try:
                await leases.renew(self.engine, name, self.instance, ttl=self.hold, now=self.clock())
            except Exception as e:
                self._job_failed("lease", name, e)

    async def _care_job(self) -> None:
        try:
            swept = await self.care.sweep(self.clock())
            if swept.breaches and self.dispatcher is not None:
                self.dispatcher.wake()
        except Exception as e:  # the next tick tries again; storage errors show in /healthz
            self._job_failed("tickets", "sweep", e)

    async def _quarantine_job(self) -> None:
        try:
            n = await quarantine.prune(self.engine, keep_seconds=self.cfg.storage.quarantine_days * 86400,
                                       now=self.clock())
            if n:
                log.info("quarantine.pruned", items=n, older_than_days=self.cfg.storage.quarantine_days)
        except Exception as e:
            self._job_failed("quarantine", "prune", e)

    async def _helpdesk_job(self) -> None:
        """The helpdesk's statuses read back, by one daemon at a time (a lease): "solved" there solves ours."""
        assert self.helpdesk is not None
        try:
            if not await leases.acquire(self.engine, "helpdesk:status", self.instance, ttl=self.hold, now=self.clock()):
                return
            if solved := await self.helpdesk.read_back():
                log.info("helpdesk.solved_tickets", count=solved, kind=self.helpdesk.cfg.kind)
        except Exception as e:  # the next tick tries again
            self._job_failed("helpdesk", "status", e)

    async def _watch_job(self, name: str) -> None:
        try:
            await self.pollers[name].watch()
            self.coverage[name].observe_quiet(self.pollers[name].health)
            await self.coverage[name].flush()
        except Exception as e:
            self._job_failed("watch", name, e)

    async def _cockpit_job(self, job_id: str) -> None:
        try:
            await self.cockpit.run_job(job_id)  # type: ignore[union-attr]
        except Exception as e:
            self._job_failed(job_id, "slack", e)

    def _job_failed(self, job: str, name: str, e: Exception) -> None:
        if is_storage_error(e):
            self.storage.failed(e)
            log.error(f"{job}.failed", source=name, error=describe(e), note="storage unavailable; next tick retries")
        else:  # a bug: the traceback is worth having
            log.exception(f"{job}.crashed", source=name)

    # ── telling the operators about delivery itself ─────────────────────────────────────────
    def _task_failing(self, name: str, error: str) -> None:
        self._tell_later(f"ops.task_failing:{name}:{int(self.clock()) // 3600}", build_task_failing(name, error))

    def _task_recovered(self, name: str, failed_for: float) -> None:
        self.storage.progress()
        self._tell_later(f"ops.task_recovered:{name}:{int(self.clock())}",
                         build_task_failing(name, "", recovered_after=failed_for))

    def _tell_later(self, key: str, payload: dict[str, Any]) -> None:
        """From sync code (callbacks); the message goes through the outbox once storage works."""
        task = asyncio.ensure_future(self._tell_quietly(key, payload))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _tell_quietly(self, key: str, payload: dict[str, Any]) -> None:
        try:
            await self._tell_operators(key, payload)
        except Exception as e:  # storage is down: the log and /healthz say it meanwhile
            log.error("ops.not_told", key=key, error=describe(e))

    async def _delivery_event(self, what: str, d: dict[str, object]) -> None:
        """The dispatcher's blocks, recoveries and dead letters, told to the operators once each."""
        if self.cfg.slack is None:
            return
        lane = str(d.get("lane", ""))
        ops_lane = f"slack:{self.cfg.slack.operators_channel}"
        if what == "blocked":
            if lane == "service:slack":
                return  # Slack itself refuses us: the operators' channel cannot hear it; the log and /healthz say it
            payload = build_delivery_blocked(lane, str(d.get("error", "")))
            key = f"ops.delivery_blocked:{lane}:{int(float(d['since']))}"  # type: ignore[arg-type]
        elif what == "recovered":
            payload = build_delivery_recovered(lane, float(d.get("blocked_for", 0.0)))  # type: ignore[arg-type]
            key = f"ops.delivery_recovered:{lane}:{int(float(d['since']))}"  # type: ignore[arg-type]
        elif what == "dead":
            if lane == ops_lane:
                return  # an operators' message that cannot be posted cannot tell them so: the log does
            error = str(d.get("error", ""))
            payload = build_delivery_dead(str(d.get("target", "")), error)
            # once per lane, error and hour: a wrong channel name dead-letters every alert to it
            key = f"ops.delivery_dead:{lane}:{error.split(':')[-1].strip()[:40]}:{int(self.clock()) // 3600}"
        else:
            return
        await self._tell_operators(key, payload)

    async def _tell_operators(self, key: str, payload: dict[str, Any]) -> None:
        """One message to the operators' channel, through the outbox; `key` makes it once."""
        if self.cfg.slack is None:
            return
        now = self.clock()
        effect = NewEffect(key=key, kind="slack.message", target=self.cfg.slack.operators_channel, payload=payload,
                           priority=outbox.OPERATORS)
        async with self.engine.begin() as conn:
            await outbox.enqueue(conn, [effect], now=now)
        if self.dispatcher:
            self.dispatcher.wake()

    # ── observe ──────────────────────────────────────────────────────────────────────────
    async def health(self) -> dict[str, Any]:
        """What /healthz says (the README's table). "down" (503) when storage is busy or unreachable, the
        dispatcher is not running, alerts are not reaching the team (monitor/delivery_health.py), or a
        source is paused or failing; "degraded" when something needs a person but alerts still flow."""
        now = self.clock()
        problems: list[str] = []
        down = False
        sources: dict[str, Any] = {}
        for n, p in self.pollers.items():
            s = sources[n] = p.report(now)
            if s["state"] in ("failing", "paused"):
                problems.append(f"source {n} is {s['state']}: {s['last_error']}")
            elif s["state"] == "ok":  # a stream failing while the others work must not be invisible
                problems += [f"source {n} stream {sn} is failing ({st['failures_in_row']} in a row): {st['last_error']}"
                             for sn, st in s["streams"].items() if st["state"] == "failing"]
            if s["quiet"]:
                problems.append(f"source {n} went quiet: no mentions where some are usual")
        down |= any(p.health.state == "paused" or p.health.failures_in_row >= 3 for p in self.pollers.values())

        delivery: dict[str, Any] = {}
        try:  # on the probe engine: a locked or unreachable database answers within seconds, as "down"
            await probe_writable(self.probe_engine)
            b = await outbox.backlog(self.probe_engine)
            blocked = await lanes.blocks(self.probe_engine)
            recent_coverage = [e.as_dict() for e in await coverage.recent(self.probe_engine, 20)]
            self.storage.progress()
        except Exception as e:
            self.storage.failed(e)
            b, blocked, recent_coverage = None, [], []
        if self.storage.state == "failing":
            down = True
            problems.append(f"storage is busy or unreachable: {self.storage.last_error}")
        dispatcher = self.tasks["dispatcher"]
        last_loop = self.dispatcher.last_loop_at if self.dispatcher else None
        stalled = last_loop is None or now - last_loop > max(10.0, 20 * self.cfg.outbox.poll_interval)
        if self._dispatch_task is not None and (dispatcher.state == "failing" or self._dispatch_task.done() or stalled):
            down = True
            problems.append(f"the dispatcher is not delivering ({dispatcher.state}): {dispatcher.last_error or 'stalled'}")
        # a block lasts until a delivery works again, even between two tries (monitor/delivery_health.py)
        urgent_age = None if b is None or b.oldest_urgent_at is None else now - b.oldest_urgent_at
        verdict = judge([BlockFact(blk.lane, blk.reason, blk.since) for blk in blocked],
                        waiting=self._alert_lanes(b.waiting_lanes if b is not None else ()),
                        critical=self._critical_lanes(),
                        urgent_age=urgent_age, now=now, down_after=self.cfg.outbox.down_after)
        down |= verdict.down
        problems += verdict.problems
        if b is not None:
            if b.dead:
                problems.append(f"{b.dead} outbox rows are dead-lettered (outreach-monitor outbox list)")
            delivery = {
                "pending": b.pending,
                "sent": b.sent,
                "dead": b.dead,
                "oldest_pending_age_s": None if b.oldest_pending_at is None else round(now - b.oldest_pending_at, 1),
                "oldest_urgent_age_s": None if urgent_age is None else round(urgent_age, 1),
            }
        refused = next((blk for blk in blocked if blk.lane == "service:slack"), None)
        if self.cfg.slack is not None:
            delivery["slack_token"] = "ok" if refused is None else f"refused since {round(now - refused.since)} s"
        interactivity = self.cockpit.interactivity(now) if self.cockpit is not None else None
        buttons_dead = self.cockpit.interactivity_problem(now) if self.cockpit is not None else None
        if buttons_dead:
            problems.append(buttons_dead)  # degraded, not down: alerts still reach the team
        delivery["blocked"] = [
            {"lane": blk.lane, "reason": blk.reason, "since_s": round(now - blk.since, 1),
             "retry_in_s": round(max(0.0, blk.until - now), 1)} for blk in blocked
        ]
        services = None
        if self.health_runner is not None:
            try:
                services = await self.health_runner.report(problems, self.probe_engine)
            except Exception as e:  # storage already says why; the rest of the answer stands
                services = {"error": describe(e)}
        return {
            "status": "down" if down else ("degraded" if problems else "ok"),
            "problems": problems,
            "services": services,  # checks, open incidents (monitor/health_jobs.py)
            "instance": self.instance,
            "uptime_s": round(now - self._started_at, 1),
            "storage": self.storage.as_dict(now),
            "tasks": {n: {**t.as_dict(now), "last_loop_age_s": None if last_loop is None or n != "dispatcher"
                          else round(now - last_loop, 1)} for n, t in self.tasks.items()},
            "sources": sources,
            "coverage": recent_coverage,  # persisted episodes: the history survives a restart
            "outbox": delivery,
            "slack_interactivity": interactivity,  # Socket Mode connected or not, since when: are buttons live?
        }

    def _alert_lanes(self, lanes: frozenset[str] | tuple[()]) -> set[str]:
        """Waiting lanes but the operators' channel: what it waits with is news of the outage itself."""
        ops = f"slack:{self.cfg.slack.operators_channel}" if self.cfg.slack is not None else None
        return {lane for lane in lanes if lane != ops}

    def _critical_lanes(self) -> set[str]:
        channels = self.cfg.slack.channels if self.cfg.slack is not None else {}
        return {f"slack:{channels[u]}" for u in ("critical",) if channels.get(u)}

    async def _render_metrics(self) -> bytes:
        m = self.metrics
        try:
            b = await outbox.backlog(self.engine)
        except Exception as e:  # /metrics still answers: the storage gauge says why the backlog is missing
            self.storage.failed(e)
        else:
            m.outbox_pending.set(b.pending)
            m.outbox_dead.set(b.dead)
            m.outbox_oldest.set(0 if b.oldest_pending_at is None else self.clock() - b.oldest_pending_at)
        m.storage_up.set(0 if self.storage.state == "failing" else 1)
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
        self._background.add(task)
        task.add_done_callback(self._background.discard)
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
        if self.cockpit is not None:
            await self.cockpit.stop()  # no new clicks; an unacked one is redelivered to the next daemon
        if self.scheduler is not None:  # every scheduled job: polls, health probes, ticket sweep, digests…
            await self.scheduler.drain(deadline - time.monotonic())
        if self._background:  # a reload, and the ops messages those jobs sent on their way out
            await asyncio.wait(list(self._background), timeout=max(0.1, deadline - time.monotonic()))
        if self.dispatcher is not None and self._dispatch_task is not None:
            self._stopping_dispatch.set()
            self.dispatcher.stop()
            try:
                await asyncio.wait_for(self._dispatch_task, timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                log.warning("daemon.drain_timeout", note="claimed rows lapse and are retried by the next daemon")
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        for name in self.pollers:
            try:
                await leases.release(self.engine, f"poll:{name}", self.instance)
            except Exception as e:  # storage down at exit: the lease lapses on its own
                log.warning("daemon.lease_not_released", source=name, error=describe(e))
        if self.health_runner is not None:
            await self.health_runner.close()
        for s in self.sources.values():
            await s.close()
        if self.helpdesk is not None:
            await self.helpdesk.close()
        if self._web is not None:
            await self._web.cleanup()
        if self.digests is not None:
            await self.digests.stop()
        await self.engine.dispose()
        if self.probe_engine is not self.engine:
            await self.probe_engine.dispose()
        log.info("daemon.stopped", instance=self.instance)


def _now_dt():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)
