"""Delays from the feeds → a notice to each affected customer and each matching subscriber, once per
delay and version (a new ETA or message is a new version; the all-clear is one more).

Everything a delay causes is one transaction of outbox rows whose keys name the delay, its version
and the recipient, so polling the same feed every minute, or a posted feed sent twice, tells no one
twice. Text is rendered from the sandboxed templates and checked like every public text.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.delay_feed import Delay
from monitor.outbox import NewEffect, enqueue
from monitor.storage.schema import outbox
from outreach import subscribers as subscriber_table
from outreach.notices import Subscriber
from outreach.templates import Templates, UnsafePublicText

log = structlog.get_logger("delays")


def _ref(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()[:12]


@dataclass
class DelayNotifier:
    engine: AsyncEngine
    subscribers: list[Subscriber]
    templates: Templates
    public_names: dict[str, str]
    brand: str
    status_url: str
    clock: Callable[[], float] = time.time
    on_change: Callable[[], None] | None = None
    told: dict[str, int] = field(default_factory=lambda: {"customers": 0, "subscribers": 0, "unsafe": 0})

    async def apply(self, delays: list[Delay]) -> int:
        written = 0
        for d in delays:
            written += await self._one(d)
        if written and self.on_change:
            self.on_change()
        return written

    def _context(self, d: Delay, order: str | None) -> dict[str, object]:
        return {"service": self.public_names.get(d.service, d.service), "region": d.region or "",
                "message": d.message, "order": order or "", "resolved": d.resolved,
                "eta": d.eta.astimezone(UTC).strftime("%A %d %B, %H:%M UTC") if d.eta else "",
                "delay_minutes": d.delay_minutes or "", "status_url": self.status_url, "brand": self.brand}

    async def _one(self, d: Delay) -> int:
        now = self.clock()
        prefix = f"delay:{d.feed}:{d.id}:"
        async with self.engine.begin() as conn:
            if d.resolved:  # an all-clear only for a delay someone was told about
                told = (await conn.execute(select(func.count()).select_from(outbox)
                                           .where(outbox.c.key.like(prefix + "%")))).scalar_one()
                if not told:
                    return 0
            effects: list[NewEffect] = []
            try:
                for a in d.affected:
                    if a.email is None:
                        continue
                    ctx = self._context(d, a.order)
                    payload = {"subject": self.templates.render("delay_subject", ctx).strip(),
                               "text": self.templates.render("delay_body", ctx), "delay": d.id}
                    effects.append(NewEffect(f"{prefix}{d.version}:c:{_ref(a.customer)}", "email.notice", a.email,
                                             payload, priority=2, about=f"delay:{d.feed}:{d.id}"))
                ctx = self._context(d, None)
                for sub in await subscriber_table.everyone(conn, self.subscribers):
                    if not sub.wants(d.service, d.region, d.segment):
                        continue
                    if sub.kind in ("email", "apprise"):  # a title and a text
                        payload = {"subject": self.templates.render("delay_subject", ctx).strip(),
                                   "text": self.templates.render("delay_body", ctx), "delay": d.id}
                    else:
                        self.templates.render("delay_body", ctx)  # the same safety check as the e-mail
                        payload = {"delay": {"id": d.id, "service": ctx["service"], "region": d.region,
                                             "segment": d.segment, "eta": d.eta.isoformat() if d.eta else None,
                                             "expected_delay_minutes": d.delay_minutes, "message": d.message,
                                             "status": "resolved" if d.resolved else "active"}}
                    effects.append(NewEffect(f"{prefix}{d.version}:s:{sub.ref}", f"{sub.kind}.notice", sub.target,
                                             payload, priority=2, about=f"delay:{d.feed}:{d.id}"))
            except UnsafePublicText as e:
                self.told["unsafe"] += 1
                log.warning("delay.unsafe_text", feed=d.feed, delay=d.id, problem=str(e))
                return 0
            added = await enqueue(conn, effects, now=now)
        if added:
            self.told["customers"] += sum(1 for e in effects if ":c:" in e.key)
            self.told["subscribers"] += sum(1 for e in effects if ":s:" in e.key)
            log.info("delay.noticed", feed=d.feed, delay=d.id, version=d.version, rows=added)
        return added
