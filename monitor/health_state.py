"""The alert state of one health check: when a run of failures becomes an incident, and when it is over.

`step(state, reading, rule, now) -> (state, action)` is pure (no I/O, no clock of its own); the
caller persists the new state in `alert_states` in the same transaction as what the action does
(an incident opened, its outbox rows), so a restarted daemon neither pages again nor forgets.

Terms: F = rule.failure_threshold, S = rule.success_threshold; `fails`/`oks` count the reading
just taken; `muted` = `now` is inside a maintenance window; `upstream` = a service this one
depends on is itself down (its incident is the one root cause: ours would be the second);
`flapping` = at least rule.flap_changes ok↔failing changes within rule.flap_window seconds;
`trig` = this check has an incident open (the "triggered" flag).

    status    reading  condition                               │ status'   trig'  action
    ───────────────────────────────────────────────────────────┼─────────────────────────────
    any       any      flapping, not trig, not muted           │ degraded  yes    flapping  (once)
    any       any      flapping, trig or muted                 │ degraded  =      none      held there
    degraded  ok       no longer flapping, oks ≥ S             │ up        no     resolve   (none if not trig)
    degraded  fail     no longer flapping, fails ≥ F           │ down      =      none      the incident stays open
                       ... and not trig, muted or upstream     │ down      yes    open
    degraded  any      no longer flapping, neither             │ degraded  =      none
    up        ok       —                                       │ up        no     none
    up        fail     fails < F                               │ up        no     none
    up        fail     fails ≥ F, not muted, not upstream      │ down      yes    open
    up        fail     fails ≥ F, muted                        │ down      no     muted     (once)
    up        fail     fails ≥ F, upstream                     │ down      no     suppressed (once)
    down      fail     trig, or muted, or upstream             │ down      =      none
    down      fail     not trig, not muted, not upstream       │ down      yes    open      mute or upstream ended
    down      ok       oks < S                                 │ down      =      none
    down      ok       oks ≥ S                                 │ up        no     resolve   (none if not trig)

Like Gatus, resolving always clears `trig`, even in a maintenance window: a muted resolve must
not leave an incident open for ever. Flapping is judged on the raw readings, before thresholds,
because that is what a person watching the check would call "flapping".
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

Status = Literal["up", "down", "degraded"]
Action = Literal["none", "open", "resolve", "flapping", "muted", "suppressed"]


@dataclass(frozen=True, slots=True)
class HealthRule:
    failure_threshold: int = 3  # failures in a row that open an incident
    success_threshold: int = 2  # successes in a row that resolve it
    flap_changes: int = 6  # ok↔failing changes ...
    flap_window: float = 600.0  # ... within this many seconds: flapping
    maintenance: tuple[tuple[float, float], ...] = ()  # (start, end) epoch seconds: checks run, alerts muted

    def muted(self, now: float) -> bool:
        return any(start <= now < end for start, end in self.maintenance)


@dataclass(frozen=True, slots=True)
class Reading:
    ok: bool
    upstream_down: bool = False  # a service this check's service depends on is down


@dataclass(frozen=True, slots=True)
class HealthState:
    status: Status = "up"
    failures: int = 0  # in a row
    successes: int = 0  # in a row
    triggered: bool = False  # an incident is open for this check
    last_ok: bool | None = None  # the previous raw reading
    changes: tuple[float, ...] = field(default=())  # times of recent ok↔failing changes (within the flap window)
    since: float | None = None  # when the current status began (names the episode in keys and logs)


def step(state: HealthState, reading: Reading, rule: HealthRule, now: float) -> tuple[HealthState, Action]:
    changes = tuple(t for t in state.changes if now - t < rule.flap_window)
    if state.last_ok is not None and reading.ok != state.last_ok:
        changes += (now,)
    # Counts stop at their threshold: beyond it they change nothing, and a steady check then yields
    # the same state every time, which the caller need not write back.
    fails = min(state.failures + 1, rule.failure_threshold) if not reading.ok else 0
    oks = min(state.successes + 1, rule.success_threshold) if reading.ok else 0
    s = replace(state, failures=fails, successes=oks, last_ok=reading.ok, changes=changes)
    muted = rule.muted(now)

    if len(changes) >= rule.flap_changes:
        if state.status != "degraded":
            s = replace(s, status="degraded", since=now)
        if s.triggered or muted:
            return s, "none"
        return replace(s, triggered=True), "flapping"

    if reading.ok:
        if state.status == "up":
            return s, "none"
        if oks >= rule.success_threshold:
            return replace(s, status="up", triggered=False, since=now), "resolve" if state.triggered else "none"
        return s, "none"

    if fails < rule.failure_threshold:
        return s, "none"
    entering = state.status == "up"  # from degraded, the flapping was already reported
    if state.status != "down":
        s = replace(s, status="down", since=now)
    if s.triggered:
        return s, "none"
    if muted:
        return s, "muted" if entering else "none"
    if reading.upstream_down:
        return s, "suppressed" if entering else "none"
    return replace(s, triggered=True), "open"
