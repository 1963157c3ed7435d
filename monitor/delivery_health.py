"""Are alerts reaching the team? The delivery part of /healthz's verdict, as a pure rule.

/healthz must never say "ok" while alerts are not flowing, and must say "down" (HTTP 503, what a
load balancer or an uptime checker acts on) when they are not flowing where it matters:

    what the daemon knows                                              │ verdict
    ───────────────────────────────────────────────────────────────────┼──────────────────────────
    no block, no urgent alert waiting long                             │ ok
    a lane blocked (5xx, timeouts, 429) while other waiting lanes send │ degraded (200)
    Slack refuses the token (a service block: every lane stops)        │ down (503) at once
    the lane of critical alerts blocked for ≥ DOWN_AFTER_S             │ down
    every lane with waiting rows blocked, one of them for ≥ DOWN_AFTER_S │ down  (nothing reaches Slack)
    a critical or high alert waiting longer than STALE_URGENT_S        │ down

A block is "degraded" for its first DOWN_AFTER_S seconds, so one 429 with a Retry-After of a second
does not flap a load balancer; it is never "ok". Before a delivery has been tried the daemon cannot
know Slack is down: /healthz says what the daemon has seen.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

DOWN_AFTER_S = 10.0  # the default of outbox.down_after: a lane block this old on the critical lane (or all) is down
STALE_URGENT_S = 120.0  # a critical or high alert waiting longer than this means alerts are not flowing


@dataclass(frozen=True)
class BlockFact:
    lane: str
    reason: str
    since: float


@dataclass
class DeliveryVerdict:
    down: bool = False
    problems: list[str] = field(default_factory=list)


def judge(blocks: Iterable[BlockFact], *, waiting: Collection[str], critical: Collection[str],
          urgent_age: float | None, now: float, down_after: float = DOWN_AFTER_S) -> DeliveryVerdict:
    """`waiting`: lanes with pending rows; `critical`: the lanes critical alerts go to."""
    v = DeliveryVerdict()
    lane_blocks: dict[str, BlockFact] = {}
    for b in blocks:
        if b.lane.startswith("service:"):
            v.down = True  # every lane of the service stops: nothing reaches the team
            v.problems.append(f"Slack refuses the bot token since {round(now - b.since)} s: {b.reason}")
        else:
            lane_blocks[b.lane] = b
            v.problems.append(f"delivery to {b.lane} since {round(now - b.since)} s: {b.reason}")
    lasting = {lane for lane, b in lane_blocks.items() if now - b.since >= down_after}
    if critical_blocked := sorted(lasting & set(critical)):
        v.down = True
        v.problems.append(f"critical alerts are not reaching {', '.join(critical_blocked)}")
    elif waiting and all(lane in lane_blocks for lane in waiting) and lasting:
        # nothing can be delivered, and has not been for a while (a lane that just joined, e.g. the
        # operators being told of the block, does not make it look fresh again)
        v.down = True
        v.problems.append("no waiting alert can be delivered: every lane with alerts is blocked")
    if urgent_age is not None and urgent_age > STALE_URGENT_S:
        v.down = True
        v.problems.append(f"a critical or high alert has waited {round(urgent_age)} s")
    return v
