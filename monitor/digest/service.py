"""The digests inside the daemon: the outbox handlers (chart upload, e-mail), the schedule and
retention jobs, and the marketing listener. The daemon calls `add_digest_handlers` and
`start_digests`; everything else about digests stays in this package.
"""
from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerts.slack_delivery import make_slack_client
from alerts.slack_files import KIND as FILE_KIND
from alerts.slack_files import SlackFileDelivery
from monitor.config import Config
from monitor.delivery import DeliveryHandler
from monitor.digest import email as digest_email
from monitor.digest import slack as digest_slack
from monitor.digest import store
from monitor.digest.build import build
from monitor.digest.period import Period
from monitor.digest.retention import prune_job
from monitor.digest.schedule import Due, run_due
from monitor.digest.web import make_digest_app
from monitor.outbox import NewEffect, enqueue

log = structlog.get_logger("digests")

TICK_SECONDS = 60.0  # how often the schedule is looked at (a slot is sent within a minute)


def add_digest_handlers(cfg: Config, handlers: MutableMapping[str, DeliveryHandler]) -> None:
    d = cfg.digests
    if cfg.slack is not None and d.slack_channel and FILE_KIND not in handlers:
        handlers[FILE_KIND] = SlackFileDelivery(make_slack_client(cfg.slack.token, cfg.slack.api_base),
                                                min_interval=cfg.slack.min_interval_per_channel)
    if cfg.email is not None and d.email.to and digest_email.KIND not in handlers:
        handlers[digest_email.KIND] = digest_email.DigestEmailDelivery(cfg.email, sender=d.email.sender)


class Digests:
    def __init__(self, cfg: Config, engine: AsyncEngine, *, holder: str, clock: Callable[[], float] = time.time,
                 wake: Callable[[], None] = lambda: None) -> None:
        self.cfg = cfg
        self.engine = engine
        self.holder = holder
        self.clock = clock
        self.wake = wake
        self.pages_port: int | None = None
        self._runner: web.AppRunner | None = None

    @property
    def tz(self) -> Any:
        return self.cfg.digests.tz

    def page_url(self, digest_id: int) -> str:
        base = self.cfg.digests.pages.public_url.rstrip("/")
        return f"{base}/digests/{digest_id}" if base else ""

    async def compute(self, period: Period, schedule: str = "") -> tuple[dict[str, Any], dict[str, bytes]]:
        return await build(self.engine, period, brand=self.cfg.brand.name, cfg=self.cfg.digests,
                           own=self.cfg.brand.own_handles, schedule=schedule, now=self.clock())

    def effects(self, key: str, digest_id: int, d: dict[str, Any], pngs: dict[str, bytes]) -> list[NewEffect]:
        dc, out = self.cfg.digests, []
        url = self.page_url(digest_id)
        if self.cfg.slack is not None and dc.slack_channel:
            out += digest_slack.effects(key, d, pngs, dc.slack_channel, url)
        if self.cfg.email is not None and dc.email.to:
            out += digest_email.effects(key, d, pngs, dc.email.to, url)
        return out

    async def commit(self, conn: AsyncConnection, key: str, schedule: str, d: dict[str, Any],
                     pngs: dict[str, bytes]) -> int:
        """Store the digest and write its Slack and e-mail rows, in the caller's transaction."""
        digest_id = await store.save(conn, key=key, schedule=schedule, data=d, now=self.clock())
        await enqueue(conn, self.effects(key, digest_id, d, pngs), now=self.clock())
        return digest_id

    async def send_now(self, period: Period, *, key: str, schedule: str = "") -> int:
        """Build, store and send one digest (the demo, an operator's request)."""
        d, pngs = await self.compute(period, schedule)
        async with self.engine.begin() as conn:
            digest_id = await self.commit(conn, key, schedule, d, pngs)
        self.wake()
        return digest_id

    async def tick(self) -> list[str]:
        """Send every scheduled digest that is due (once, whichever daemon gets there)."""
        dc = self.cfg.digests

        async def _build(due: Due) -> tuple[dict[str, Any], dict[str, bytes]]:
            return await self.compute(due.period, due.schedule.name)

        async def _commit(conn: AsyncConnection, due: Due, d: dict[str, Any], pngs: dict[str, bytes]) -> None:
            await self.commit(conn, due.key, due.schedule.name, d, pngs)

        sent = await run_due(self.engine, dc.schedules, dc.tz, holder=self.holder, now=self.clock(),
                             build=_build, commit=_commit)
        if sent:
            self.wake()
        return sent

    async def retention(self) -> None:
        keep = self.cfg.digests.keep_raw_days
        if keep is None:
            return
        done = await prune_job(self.engine, keep_seconds=keep * 86400, now=self.clock(), holder=self.holder)
        if done is not None and done.mentions:
            log.info("retention.pruned", mentions=done.mentions, rollup_rows=done.rollup_rows, before=done.cutoff)

    def register(self, scheduler: AsyncIOScheduler, on_error: Callable[[str, str, Exception], None]) -> None:
        async def guarded(name: str, job: Callable[[], Any]) -> None:
            try:
                await job()
            except Exception as e:  # the next tick tries again; the daemon's task health says why
                on_error(name, "digests", e)

        if self.cfg.digests.enabled:
            scheduler.add_job(guarded, "interval", seconds=TICK_SECONDS, args=["digest", self.tick],
                              id="digests:schedule", replace_existing=True, max_instances=1, coalesce=True)
        if self.cfg.digests.keep_raw_days is not None:
            scheduler.add_job(guarded, "interval", seconds=3600, args=["retention", self.retention],
                              id="digests:retention", replace_existing=True, max_instances=1, coalesce=True)

    async def start_pages(self) -> int | None:
        pages = self.cfg.digests.pages
        if pages.port is None:
            return None
        app = make_digest_app(self.engine, brand=self.cfg.brand.name, tz=self.tz)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, pages.host, pages.port)
        await site.start()
        self.pages_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.pages_port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
