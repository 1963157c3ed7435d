"""The intake listener: signals pushed to us (Alertmanager webhooks, posted delay feeds).

It listens on its own host and port (`intake:`), apart from /healthz and /metrics, so an operator
can expose it to Alertmanager's network and keep the rest on 127.0.0.1. Every request needs the
shared secret (`Authorization: Bearer …`, which Alertmanager's `http_config.authorization` sends);
bodies are capped (`max_body_bytes`, 413 beyond); a payload we cannot use gets a 4xx and one log
line, never a crash and never a 5xx that would make the sender retry it for ever.

    POST /alertmanager          payload v4        → readings → the Tracker (incidents)
    POST /statuspage/<page>     Statuspage's webhook (component update or incident) → readings
    POST /delays/<feed>         the delay format  → DelayNotifier (customers told)

A sender that cannot set headers (Statuspage's webhooks) may put the secret in the URL instead
(`?secret=…`); keep such URLs out of shared logs.
"""
from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from connectors import alertmanager, delay_feed
from connectors.base import BadPayload
from monitor.delays import DelayNotifier
from monitor.health import Tracker, Watched

log = structlog.get_logger("intake")


@dataclass
class IntakeStats:
    accepted: int = 0
    ignored: int = 0  # alerts naming no service we know
    refused: dict[int, int] = field(default_factory=dict)  # status -> count


@dataclass
class Intake:
    secret: str
    tracker: Tracker
    delays: DelayNotifier | None
    posted_feeds: set[str]
    service_label: str = "service"
    default_service: str | None = None
    max_body: int = 256 * 1024
    clock: Callable[[], float] = time.time
    after_apply: Callable[[], Any] | None = None  # e.g. the notifier's run: customers hear at once
    statuspages: dict[str, dict[str, str]] = field(default_factory=dict)  # page -> component -> our service
    stats: IntakeStats = field(default_factory=IntakeStats)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body, middlewares=[self._guard])
        app.router.add_post("/alertmanager", self.alertmanager)
        app.router.add_post("/delays/{feed}", self.delay)
        app.router.add_post("/statuspage/{page}", self.statuspage)
        return app

    def _refuse(self, status: int, reason: str, request: web.Request) -> web.Response:
        self.stats.refused[status] = self.stats.refused.get(status, 0) + 1
        log.warning("intake.refused", status=status, path=request.path, reason=reason,
                    peer=request.remote or "")
        return web.json_response({"error": reason}, status=status)

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        given = request.headers.get("Authorization", "")
        if not given and "secret" in request.query:
            given = f"Bearer {request.query['secret']}"
        if not hmac.compare_digest(given.encode(), f"Bearer {self.secret}".encode()):
            return self._refuse(401, "missing or wrong shared secret", request)
        if request.content_length is not None and request.content_length > self.max_body:
            return self._refuse(413, f"body over {self.max_body} bytes", request)
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return self._refuse(413, f"body over {self.max_body} bytes", request)
        except BadPayload as e:
            return self._refuse(400, str(e), request)
        except web.HTTPException:
            raise
        except Exception:  # our bug: say so once, answer 500 so the sender retries later
            log.exception("intake.crashed", path=request.path)
            return web.json_response({"error": "internal error"}, status=500)

    async def alertmanager(self, request: web.Request) -> web.Response:
        body = await request.read()
        alerts = alertmanager.parse(body, service_label=self.service_label, default_service=self.default_service)
        known = []
        for a in alerts:
            if a.service is None or a.service not in self.tracker.services:
                self.stats.ignored += 1
                log.warning("intake.unknown_service", alert=a.name, service=a.service, check=a.check)
                continue
            self.tracker.watch(a.check, Watched(a.service, 1, 1, label=f"Alertmanager {a.name}"))
            known.append(a)
        outcomes = await self.tracker.apply(alertmanager.readings(known, self.clock()))
        self.stats.accepted += len(known)
        if self.after_apply is not None and any(o.action != "none" for o in outcomes):
            await self.after_apply()
        return web.json_response({"accepted": len(known), "ignored": len(alerts) - len(known),
                                  "actions": [o.action for o in outcomes if o.action != "none"]})

    async def statuspage(self, request: web.Request) -> web.Response:
        from datetime import UTC, datetime

        from connectors.statuspage import webhook_readings

        page = request.match_info["page"]
        components = self.statuspages.get(page)
        if components is None:
            return self._refuse(404, f"no status page named {page!r} under statuspages:", request)
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            raise BadPayload("body is not JSON") from None
        readings = webhook_readings(page, components, data, datetime.fromtimestamp(self.clock(), UTC))
        for r in readings:  # the same checks the poller feeds (registered by the runner when configured)
            if r.check not in self.tracker.checks:
                self.tracker.watch(r.check, Watched(components[r.check.split(":", 2)[2]], 1, 1,
                                                    label=f"{page} status page"))
        outcomes = await self.tracker.apply(readings)
        if self.after_apply is not None and any(o.action != "none" for o in outcomes):
            await self.after_apply()
        return web.json_response({"readings": len(readings),
                                  "actions": [o.action for o in outcomes if o.action != "none"]})

    async def delay(self, request: web.Request) -> web.Response:
        feed = request.match_info["feed"]
        if feed not in self.posted_feeds or self.delays is None:
            return self._refuse(404, f"no posted delay feed named {feed!r}", request)
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            raise BadPayload("body is not JSON") from None
        items, problems = delay_feed.parse(feed, data)
        for p in problems:
            log.warning("intake.delay_item_skipped", feed=feed, problem=p)
        written = await self.delays.apply(items)
        return web.json_response({"delays": len(items), "skipped": len(problems), "notices": written})
