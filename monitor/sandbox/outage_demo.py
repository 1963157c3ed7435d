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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.sandbox.core import Server
from monitor.sandbox.health_world import HealthWorld, make_health_app
from monitor.sandbox.smtp import SandboxSMTP
from monitor.storage.schema import incidents, mentions, replies
from outreach.incident_replies import FOLLOW_UP
from outreach.status_posts import PREFIX as STATUS_PREFIX

HOOK_SECRET = "sandbox-webhook-secret"
SUBSCRIBERS = ("ops-lead@customer-one.example", "it@customer-two.example")
INTAKE_SECRET = "sandbox-intake-secret"


# two customers who complain while it is down (the scenario's own posts may or may not name the service)
COMPLAINTS = (("mara_k", "@acme the booking site is down, I cannot check in for my flight tomorrow!"),
              ("tom_h", "@acme your app is broken, bookings page fails every time I try to log in"))


async def _until(cond: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await cond():
            return True
        await asyncio.sleep(0.3)
    return False


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
                          # the status post on X waits for the scripted approver, like the replies
                          "cadence": {"first_after": 0, "every": 600, "public_post": True},
                          "spikes": {"window": max(5.0, duration / 8), "lag": 2, "sustained": 1, "min_count": 4}},
            "email": {"host": "127.0.0.1", "port": self.smtp.port, "security": "none",
                      "sender": "status@acme.example"},
            "subscribers": [{"email": SUBSCRIBERS[0], "services": ["bookings"]},
                            {"email": SUBSCRIBERS[1]},
                            {"webhook": f"{base}/hooks/status", "secret": HOOK_SECRET}],
        }

    def play(self, duration: float, *, engine: AsyncEngine | None = None,
             complain: Callable[[str, str], Any] | None = None) -> None:
        """`complain(handle, text)` posts on the sandbox X: once the incident is public, two customers
        complain about it, and the service stays down until they were answered (or a while passed)."""
        async def timeline() -> None:
            t0 = time.monotonic()
            await asyncio.sleep(max(0.0, 0.22 * duration - (time.monotonic() - t0)))
            self.world.set_mode("bookings", "down")
            if engine is not None and complain is not None:
                if await _until(lambda: self._count(engine, incidents.c.public.is_(True),
                                                    incidents.c.status != "resolved"), duration):
                    for who, text in COMPLAINTS:
                        complain(who, text)
                    await _until(lambda: self._count(engine, replies.c.thread_key.like("incident:%"),
                                                     replies.c.status == "sent", n=len(COMPLAINTS)), 3 * duration)
            await asyncio.sleep(max(0.0, 0.55 * duration - (time.monotonic() - t0)))
            self.world.set_mode("bookings", "up")
            self.recovered = True

        self._task = asyncio.create_task(timeline(), name="outage-timeline")

    @staticmethod
    async def _count(engine: AsyncEngine, *where: Any, n: int = 1) -> bool:
        async with engine.connect() as conn:
            return (await conn.execute(select(func.count()).where(*where))).scalar_one() >= n

    async def settled(self, engine: AsyncEngine) -> bool:
        """The outage has played out: recovered, no incident left open, no public word about it waiting."""
        if not self.recovered:
            return False
        waiting = (replies.c.thread_key.like("incident:%") | replies.c.thread_key.like(f"{STATUS_PREFIX}%")) \
            & replies.c.status.in_(("held", "approved"))
        return not await self._count(engine, incidents.c.status != "resolved") \
            and not await self._count(engine, waiting)

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
            public_posts = (await conn.execute(select(func.count()).where(
                replies.c.thread_key.like(f"{STATUS_PREFIX}%"), replies.c.status == "sent"))).scalar_one()
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
                "public": int(public_posts),  # status posts on X, each approved by a person
                "duplicates": sum(n - 1 for c in (emails, hooks, on_x) for n in c.values()),
                # people whose complaint about the incident was answered in public, and told when it was over
                "acknowledged_complaints": int(answered.get(False, 0)),
                "followed_up": int(answered.get(True, 0)),
            },
        }
