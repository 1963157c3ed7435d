"""A ticket's life after it is opened: statuses, quiet periods, and response-time targets (SLAs).

    open ──brand answers──► pending ──customer silent `solve_after_hours`──► solved
      ▲                        │                                             │ quiet `close_after_hours`
      └──customer writes───────┘◄──────────────customer writes (reopened)────┤
                                                                             ▼
    any live status ──`tickets close ID`──► closed                         closed (history: a new
                                                                           message opens a new ticket)

Customer messages and brand answers move a ticket in monitor/ticket_resolver.py (at ingest); time
moves it here. `tick()` is pure and table-tested; `sweep()` applies it to the live tickets and
enqueues each SLA breach once, into the ticket's Slack thread (an outbox row keyed by ticket and
target, `thread_of="ticket:N"`).

Targets are per urgency (`default` for the rest) and may be set per source; defaults: first response
within 60 minutes (critical 15), resolution within 24 hours (critical 4).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.helpdesk import HelpdeskConfig
from monitor.alert_flow import ticket_thread_channel
from monitor.models import URGENCIES
from monitor.outbox import PRIORITY, NewEffect, enqueue
from monitor.storage.dialect import insert_for
from monitor.storage.schema import ticket_events, tickets
from outreach.policy import ReplyConfig

HOUR = 3600.0
SLACK_KIND = "slack.message"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _per_urgency(v: dict[str, float]) -> dict[str, float]:
    unknown = sorted(set(v) - set(URGENCIES) - {"default"})
    if unknown:
        raise ValueError(f"unknown urgency {unknown}; expected some of {[*URGENCIES, 'default']}")
    if "default" not in v:
        raise ValueError("needs a `default` target")
    return v


class SlaTargets(_Strict):
    first_response_minutes: dict[str, float] = Field(default_factory=lambda: {"critical": 15, "default": 60})
    resolution_minutes: dict[str, float] = Field(default_factory=lambda: {"critical": 240, "default": 1440})

    @field_validator("first_response_minutes", "resolution_minutes")
    @classmethod
    def _per_urgency(cls, v: dict[str, float]) -> dict[str, float]:
        return _per_urgency(v)


class TicketsConfig(_Strict):
    window_hours: float = Field(72.0, gt=0)  # a returning customer's new thread joins their ticket within this
    solve_after_hours: float = Field(24.0, gt=0)  # pending and the customer silent this long: solved
    close_after_hours: float = Field(72.0, gt=0)  # solved and quiet this long: closed
    sweep_every_s: float = Field(30.0, gt=0)  # how often quiet periods and SLA targets are checked
    sla: SlaTargets = Field(default_factory=SlaTargets)
    sla_by_source: dict[str, SlaTargets] = Field(default_factory=dict)  # a source's own targets
    replies: ReplyConfig = Field(default_factory=ReplyConfig)  # public acknowledgements (outreach/policy.py)
    helpdesk: HelpdeskConfig | None = None  # mirror tickets in Zendesk or Freshdesk (monitor/helpdesk_sync.py)

    def targets(self, source: str, urgency: str | None) -> tuple[float, float]:
        """(first response, resolution) targets in seconds."""
        t = self.sla_by_source.get(source, self.sla)
        u = urgency or "default"
        first = t.first_response_minutes.get(u, t.first_response_minutes["default"])
        resolve = t.resolution_minutes.get(u, t.resolution_minutes["default"])
        return first * 60, resolve * 60


@dataclass(frozen=True)
class Live:
    """A live ticket, as `tick` needs it."""

    id: int
    source: str
    status: str
    urgency: str | None
    opened_at: float
    last_customer_at: float
    last_response_at: float | None
    first_response_at: float | None
    solved_at: float | None
    breached: frozenset[str] = frozenset()  # SLA targets already reported


@dataclass(frozen=True)
class Step:
    status: str | None = None  # the new status, if it changes
    breaches: tuple[str, ...] = ()  # "first_response", "resolution": newly missed


def tick(t: Live, now: float, cfg: TicketsConfig) -> Step:
    status = None
    if t.status == "pending":
        last = max(t.last_customer_at, t.last_response_at or 0.0)
        if now - last >= cfg.solve_after_hours * HOUR:
            status = "solved"
    elif t.status == "solved" and t.solved_at is not None and now - t.solved_at >= cfg.close_after_hours * HOUR:
        status = "closed"
    first_s, resolve_s = cfg.targets(t.source, t.urgency)
    breaches = []
    if "first_response" not in t.breached and t.first_response_at is None and t.status in ("open", "pending") \
            and now > t.opened_at + first_s:
        breaches.append("first_response")
    if "resolution" not in t.breached and t.status in ("open", "pending") and status is None \
            and now > t.opened_at + resolve_s:
        breaches.append("resolution")
    return Step(status, tuple(breaches))


def breach_message(ticket_id: int, what: str, target_s: float, urgency: str | None) -> dict[str, Any]:
    label = {"first_response": "first response", "resolution": "resolution"}[what]
    mins = target_s / 60
    text = (f":alarm_clock: Ticket #{ticket_id} missed its {label} target ({mins:g} min for {urgency or 'this'} "
            f"tickets). `outreach-monitor tickets show {ticket_id}`")
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


@dataclass
class SweepResult:
    solved: int = 0
    closed: int = 0
    breaches: int = 0


async def sweep(engine: AsyncEngine, cfg: TicketsConfig, *, now: float,
                channels: dict[str, str | None] | None = None) -> SweepResult:
    """Move live tickets on with time and report SLA breaches once each (safe to run on every daemon)."""
    out = SweepResult()
    async with engine.begin() as conn:
        rows = (await conn.execute(select(tickets).where(tickets.c.status.in_(["open", "pending", "solved"])))).all()
        if not rows:
            return out
        seen: dict[int, set[str]] = {}
        for tid, ref in await conn.execute(
            select(ticket_events.c.ticket_id, ticket_events.c.ref).where(ticket_events.c.kind == "sla_breach")
        ):
            seen.setdefault(tid, set()).add(ref)
        effects_for: list[tuple[int, str, NewEffect]] = []
        for r in rows:
            live = Live(r.id, r.source, r.status, r.urgency, r.opened_at,
                        r.last_customer_at if r.last_customer_at is not None else r.opened_at,
                        r.last_response_at, r.first_response_at, r.solved_at, frozenset(seen.get(r.id, ())))
            step = tick(live, now, cfg)
            if step.status is not None:
                values: dict[str, Any] = {"status": step.status, "updated_at": now}
                values["solved_at" if step.status == "solved" else "closed_at"] = now
                # conditional on the status we read: two daemons sweeping record the change once
                res = await conn.execute(update(tickets).where(tickets.c.id == r.id, tickets.c.status == r.status)
                                         .values(**values))
                if res.rowcount == 1:
                    await conn.execute(insert_for(conn, ticket_events).values(
                        ticket_id=r.id, kind=step.status, at=now, ref=None, detail="quiet period"))
                    out.solved += step.status == "solved"
                    out.closed += step.status == "closed"
            for what in step.breaches:
                # in the ticket's thread, wherever it is (a relabel may have changed the urgency since)
                channel = (await ticket_thread_channel(conn, r.id) if channels else None) or _channel(channels,
                                                                                                 r.urgency)
                first_s, resolve_s = cfg.targets(r.source, r.urgency)
                target = first_s if what == "first_response" else resolve_s
                eff = NewEffect(f"ticket:{r.id}:sla:{what}", SLACK_KIND, channel or "",
                                breach_message(r.id, what, target, r.urgency),
                                priority=PRIORITY.get(r.urgency or "normal", 2), about=f"ticket:{r.id}",
                                thread_of=f"ticket:{r.id}")
                effects_for.append((r.id, what, eff))
        for tid, what, eff in effects_for:
            # the event is written only by whoever added the outbox row: one breach, one message
            added = await enqueue(conn, [eff], now=now) if eff.target else 0
            if added or not eff.target:
                await conn.execute(insert_for(conn, ticket_events).values(
                    ticket_id=tid, kind="sla_breach", at=now, ref=what, detail=None))
                out.breaches += 1
    return out


def _channel(channels: dict[str, str | None] | None, urgency: str | None) -> str | None:
    if not channels:
        return None
    return channels.get(urgency or "normal") or channels.get("normal") or next((c for c in channels.values() if c), None)
