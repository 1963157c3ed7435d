"""The demo's outage: a flaky service, subscribers on a real SMTP server and a webhook sink, and the
report's `incidents` and `notifications` sections.

Timeline (fractions of the demo's duration): the scenario's burst of complaints at 0.4 (the spike
detector sees it: an internal "possible" incident); the service fails at 0.45 (the HTTP check
confirms after its threshold: the incident turns public and subscribers are told); it recovers at
0.7 (after the success threshold: resolved, the all-clear goes out).
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.sandbox.core import Server
from monitor.sandbox.health_world import HealthWorld, make_health_app
from monitor.sandbox.smtp import SandboxSMTP
from monitor.storage.schema import incidents, mentions, replies
from outreach.incident_replies import FOLLOW_UP

HOOK_SECRET = "sandbox-webhook-secret"
SUBSCRIBERS = ("ops-lead@customer-one.example", "it@customer-two.example")
INTAKE_SECRET = "sandbox-intake-secret"


class OutageDemo:
    def __init__(self, smtp: SandboxSMTP) -> None:
        self.world = HealthWorld(hook_secrets={"status": HOOK_SECRET})
        self.server = Server(make_health_app(self.world))
        self.smtp = smtp  # the sandbox's one SMTP server (the digests use it too)
        self._task: asyncio.Task[None] | None = None
        self.recovered = False

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.server.stop()

    def overrides(self, duration: float) -> dict[str, Any]:
        base = self.server.url
        return {
            # the scenario's outage reports name the app, the website, check-in or checkout
            "services": [{"name": "bookings", "public_name": "Acme bookings",
                          "aliases": ["app", "website", "site", "check in", "checkout", "booking", "bookings",
                                      "log in", "sign in"]}],
            "checks": [{"name": "bookings-health", "service": "bookings", "url": f"{base}/svc/bookings/health",
                        "interval": 1,
                        "timeout": 1, "failure_threshold": 2, "success_threshold": 2,
                        "json_path": "status", "json_equals": "ok"}],
            "incidents": {"channel": "#care-incidents", "status_url": "https://status.acme.example",
                          "cadence": {"first_after": 0, "every": 600},
                          "spikes": {"window": max(5.0, duration / 8), "lag": 2, "sustained": 1, "min_count": 4}},
            "email": {"host": "127.0.0.1", "port": self.smtp.port, "security": "none",
                      "sender": "status@acme.example"},
            "subscribers": [{"email": SUBSCRIBERS[0], "services": ["bookings"]},
                            {"email": SUBSCRIBERS[1]},
                            {"webhook": f"{base}/hooks/status", "secret": HOOK_SECRET}],
        }

    def play(self, duration: float) -> None:
        async def timeline() -> None:
            t0 = time.monotonic()
            await asyncio.sleep(max(0.0, 0.22 * duration - (time.monotonic() - t0)))
            self.world.set_mode("bookings", "down")
            await asyncio.sleep(max(0.0, 0.55 * duration - (time.monotonic() - t0)))
            self.world.set_mode("bookings", "up")
            self.recovered = True

        self._task = asyncio.create_task(timeline(), name="outage-timeline")

    async def settled(self, engine: AsyncEngine) -> bool:
        """The outage has played out: recovered and no incident left open."""
        if not self.recovered:
            return False
        async with engine.connect() as conn:
            open_ = (await conn.execute(select(func.count()).where(incidents.c.status != "resolved"))).scalar_one()
        return open_ == 0

    async def report(self, engine: AsyncEngine, posted: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """`posted`: the bodies of the posts X accepted from the daemon (replies and status posts), to count
        what the platform received twice, whatever our database believes."""
        async with engine.connect() as conn:
            opened = (await conn.execute(select(func.count()).select_from(incidents))).scalar_one()
            resolved = (await conn.execute(select(func.count()).where(incidents.c.status == "resolved"))).scalar_one()
            public = (await conn.execute(select(func.count()).where(incidents.c.public.is_(True)))).scalar_one()
            attached = (await conn.execute(select(func.count()).where(mentions.c.incident_id.is_not(None))))\
                .scalar_one()
            answered = dict((await conn.execute(
                select(replies.c.thread_key.like(f"%{FOLLOW_UP}"), func.count())
                .where(replies.c.thread_key.like("incident:%"), replies.c.status == "sent")
                .group_by(replies.c.thread_key.like(f"%{FOLLOW_UP}")))).all())
        notices = [m for m in self.smtp.messages if set(m.rcpt_tos) & set(SUBSCRIBERS)]
        emails = Counter((tuple(m.rcpt_tos), m.message["Subject"], m.body) for m in notices)
        hooks = Counter((h.name, h.body) for h in self.world.hooks)
        # two posts of ours answering the same post, or two status posts with the same words
        on_x = Counter((p.get("reply") or {}).get("in_reply_to_tweet_id") or p.get("text") for p in posted)
        return {
            "incidents": {"opened": opened, "resolved": resolved, "public": public,
                          "complaints_attached": attached},
            "notifications": {
                "email": len(notices),
                "webhook": len(self.world.hooks),
                "webhook_signed_ok": sum(1 for h in self.world.hooks if h.signed_ok),
                "public": 0,  # the X status post waits for the approval path (issue 10), not built here yet
                "duplicates": sum(n - 1 for c in (emails, hooks, on_x) for n in c.values()),
                # people whose complaint about the incident was answered in public, and told when it was over
                "acknowledged_complaints": int(answered.get(False, 0)),
                "followed_up": int(answered.get(True, 0)),
            },
        }
