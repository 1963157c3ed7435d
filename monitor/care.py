"""Tickets and public replies, wired for the daemon from the `tickets:` section of the config.

What ingest needs (the ticket window, the brand's voice) travels on its AlertPolicy; the reply
handler joins the outbox handlers; `sweep` runs on a timer (statuses that move with time, SLA breaches).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from monitor import switches
from monitor.config import Config
from monitor.ticket_lifecycle import SweepResult, sweep
from outreach.replies import Voice
from outreach.reply_delivery import DM_KIND, DmDelivery, ReplyDelivery
from outreach.reply_delivery import KIND as REPLY_KIND
from outreach.reply_templates import Templates


@dataclass
class Care:
    cfg: Config
    engine: AsyncEngine
    voice: Voice
    delivery: ReplyDelivery
    dm: DmDelivery

    @property
    def ticket_window(self) -> float:
        return self.cfg.tickets.window_hours * 3600

    async def sweep(self, now: float) -> SweepResult:
        channels = self.cfg.slack.channels if self.cfg.slack is not None else None
        return await sweep(self.engine, self.cfg.tickets, now=now, channels=channels)


def build_care(cfg: Config, engine: AsyncEngine, sources: Mapping[str, Any], *,
               clock: Callable[[], float] = time.time) -> Care:
    rc = cfg.tickets.replies
    templates = Templates(rc.templates)  # a broken template stops the start, naming the file
    own = frozenset(h.lower() for h in cfg.brand.own_handles)
    voice = Voice(rc, templates, brand=cfg.brand.name, own_handles=own,
                  channels=cfg.slack.channels if cfg.slack is not None else None)
    repliers = {name: s for name, s in sources.items() if callable(getattr(s, "reply", None))}
    delivery = ReplyDelivery(engine, rc, repliers, paused=switches.replies_paused, clock=clock,
                             min_interval=rc.min_interval)
    return Care(cfg, engine, voice, delivery, DmDelivery(delivery, templates, brand=cfg.brand.name))


__all__ = ["DM_KIND", "REPLY_KIND", "Care", "build_care"]
