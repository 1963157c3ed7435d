"""Traffic for a sandbox run by hand: the demo scenario played again and again, round after round,
for as long as the sandbox runs, so a daemon pointed at it always has something to read."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from monitor.sandbox.scenario import demo_scenario
from monitor.sandbox.stack import SandboxStack

ROUND_S = 300.0


async def keep_playing(
    stack: SandboxStack,
    brand: str = "acme",
    *,
    round_s: float = ROUND_S,
    seed: int = 7,
    rounds: int | None = None,  # None: until cancelled
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> int:
    """Load one round of the demo scenario (a new seed each time: new authors, new texts) starting
    now, wait for it to play, repeat. Returns the rounds played (when `rounds` is given)."""
    played = 0
    while rounds is None or played < rounds:
        stack.load(demo_scenario(brand, duration_s=round_s, seed=seed + played), start_at=clock())
        played += 1
        await sleep(round_s)
    return played
