"""From health readings to incidents: the state machine, persisted, and what its actions do.

`Tracker.apply(readings)` runs monitor.health_state.step() for each reading and, in ONE transaction
per reading, writes the new `alert_states` row and whatever the action does (an incident opened or
resolved, its Slack thread's outbox rows). A restarted daemon reads the rows back: it does not
page again for an outage it already reported, and it still resolves it when the check recovers.

Root causes: every check belongs to a service; one service has at most one open incident (a
second failing check adds a note to it); a service whose upstream (`depends_on`) is down does not
open its own incident: the upstream's incident gets a note instead ("suppressed").
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from monitor import incidents as inc
from monitor.health_config import ServiceConfig
from monitor.health_state import Action, HealthRule, HealthState, Reading, step
from monitor.models import HealthReading
from monitor.storage.dialect import insert_for
from monitor.storage.schema import alert_states

log = structlog.get_logger("health")


@dataclass(frozen=True)
class Watched:
    """What the tracker needs to know about one check: its service and its thresholds."""

    service: str
    failure_threshold: int = 3
    success_threshold: int = 2
    flap_changes: int = 6
    flap_window: float = 600.0
    label: str = ""  # how the team calls it in Slack ("HTTP check api-health")
    internal: bool = False  # its incidents are for the team only until another signal confirms (spikes)


@dataclass
class Outcome:
    check: str
    action: Action
    incident_id: int | None = None


@dataclass
class Tracker:
    engine: AsyncEngine
    services: dict[str, ServiceConfig]
    slack_channel: str | None
    clock: Callable[[], float] = time.time
    checks: dict[str, Watched] = field(default_factory=dict)
    on_change: Callable[[], None] | None = None  # wake the dispatcher
    _steady: set[str] = field(default_factory=set)  # leased checks known steadily up (see apply)

    def watch(self, check: str, watched: Watched) -> None:
        self.checks[check] = watched

    def rule(self, w: Watched) -> HealthRule:
        svc = self.services.get(w.service)
        windows = tuple(m.epoch() for m in svc.maintenance) if svc else ()
        return HealthRule(w.failure_threshold, w.success_threshold, w.flap_changes, w.flap_window, windows)

    def terms(self, service: str) -> list[str]:
        svc = self.services.get(service)
        return [svc.display, *svc.aliases] if svc else []

    def display(self, service: str) -> str:
        svc = self.services.get(service)
        return svc.display if svc else service

    def forget(self) -> None:
        """Drop the steady-state cache (the lease changed hands: another daemon may have written)."""
        self._steady.clear()

    async def apply(self, readings: Iterable[HealthReading], *, leased: bool = False) -> list[Outcome]:
        """`leased`: the readings come from probes this daemon alone runs (under the health lease), so a
        check known to be steadily up, read up again, needs no database round trip: its state would be
        written back unchanged. Pushed readings (the intake, any daemon) always go to the database."""
        out: list[Outcome] = []
        for r in readings:
            w = self.checks.get(r.check)
            if w is None:
                log.warning("health.unknown_check", check=r.check)
                continue
            if leased and r.ok and r.check in self._steady:
                out.append(Outcome(r.check, "none"))
                continue
            outcome, steady = await self._apply_one(r, w)
            if leased and steady:
                self._steady.add(r.check)
            else:
                self._steady.discard(r.check)
            out.append(outcome)
        if any(o.action != "none" for o in out) and self.on_change:
            self.on_change()
        return out

    async def _apply_one(self, r: HealthReading, w: Watched) -> tuple[Outcome, bool]:
        now = self.clock()
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(alert_states).where(alert_states.c.check == r.check)
                                      .with_for_update())).mappings().first()
            state = _state(row)
            upstream = await self._upstream_down(conn, w.service)
            new, action = step(state, Reading(r.ok, upstream_down=bool(upstream)), self.rule(w), now)
            incident_id = row["incident_id"] if row else None
            if action in ("open", "flapping"):
                incident_id = await self._open(conn, r, w, action, now)
            elif action == "resolve":
                await self._resolve(conn, r.check, w, incident_id, now)
                incident_id = None
            elif action == "suppressed" and upstream:
                await self._note_upstream(conn, upstream, r, w, now)
            if action != "none":
                log.info("health.transition", check=r.check, service=w.service, action=action, status=new.status,
                         detail=r.detail)
            if row is None or new != state or incident_id != row["incident_id"]:
                await self._save(conn, r, w, new, incident_id, now, row is None)
        # steady: an ok reading that changed nothing (up, counts at their cap, no flap history): the
        # next ok reading would change nothing either
        steady = (new == state and new.status == "up" and new.last_ok is True and not new.triggered
                  and not new.changes)
        return Outcome(r.check, action, incident_id), steady

    async def _upstream_down(self, conn: AsyncConnection, service: str) -> str | None:
        svc = self.services.get(service)
        if svc is None or not svc.depends_on:
            return None
        found = (await conn.execute(select(alert_states.c.service).where(
            alert_states.c.service.in_(svc.depends_on), alert_states.c.status != "up").limit(1))).first()
        return found[0] if found else None

    async def _open(self, conn: AsyncConnection, r: HealthReading, w: Watched, action: Action, now: float) -> int:
        name = self.display(w.service)
        flapping = action == "flapping"
        if w.internal:
            title = f"Possible incident: complaints about {name}"
            message = f"Customers report problems with {name}; not confirmed by any check yet."
        elif flapping:
            title = f"{name} is unstable"
            message = f"Some customers may see intermittent problems with {name}. We are looking into it."
        else:
            title = f"{name} is not working"
            message = f"We are investigating problems with {name}."
        note = f"{w.label or r.check}: {'flapping — ' if flapping else ''}{r.detail}"
        incident, _ = await inc.open_incident(conn, service=w.service, title=title, message=message, note=note,
                                              by=f"check:{r.check}", now=now, slack_channel=self.slack_channel,
                                              impact="minor" if flapping else "major", terms=self.terms(w.service),
                                              public=not w.internal)
        return incident.id

    async def _resolve(self, conn: AsyncConnection, check: str, w: Watched, incident_id: int | None,
                       now: float) -> None:
        if incident_id is None:
            return
        current = await inc.get(conn, incident_id)
        if current is None or current.status == "resolved" or current.opened_by.startswith("person:"):
            return  # a person opened it (or closed it already): a person resolves it
        others = (await conn.execute(select(alert_states.c.check).where(
            alert_states.c.incident_id == incident_id, alert_states.c.triggered.is_(True),
            alert_states.c.check != check).limit(1))).first()
        if others:  # another signal still says it is broken
            return
        await inc.resolve(conn, incident_id, message=f"{self.display(w.service)} is working normally again.",
                          by=f"check:{check}", now=now, slack_channel=self.slack_channel,
                          note=f"{w.label or check} recovered")

    async def _note_upstream(self, conn: AsyncConnection, upstream: str, r: HealthReading, w: Watched,
                             now: float) -> None:
        root = await inc.open_for(conn, upstream)
        if root is None:
            return
        await inc.update_incident(conn, root.id, status=root.status, by=f"check:{r.check}", now=now,
                                  slack_channel=self.slack_channel,
                                  message=f"{self.display(w.service)} is affected too.",
                                  note=f"{w.label or r.check} failing because {upstream} is down: {r.detail}")

    async def _save(self, conn: AsyncConnection, r: HealthReading, w: Watched, s: HealthState,
                    incident_id: int | None, now: float, new_row: bool) -> None:
        values = {"service": w.service, "status": s.status, "failures": s.failures, "successes": s.successes,
                  "triggered": s.triggered, "last_ok": s.last_ok, "changes": list(s.changes), "since": s.since,
                  "incident_id": incident_id, "detail": r.detail[:1000], "updated_at": now}
        if new_row:
            await conn.execute(insert_for(conn, alert_states).values(check=r.check, **values)
                               .on_conflict_do_nothing(index_elements=["check"]))
        else:
            await conn.execute(update(alert_states).where(alert_states.c.check == r.check).values(**values))


def _state(row: object | None) -> HealthState:
    if row is None:
        return HealthState()
    m = row  # a RowMapping
    return HealthState(status=m["status"], failures=m["failures"], successes=m["successes"],  # type: ignore[index]
                       triggered=bool(m["triggered"]), last_ok=m["last_ok"],  # type: ignore[index]
                       changes=tuple(m["changes"] or ()), since=m["since"])  # type: ignore[index]
