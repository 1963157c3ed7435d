"""Kill -9 the real daemon again and again, then let one last life finish the work.

Shared by the crash test (tests/e2e/test_crash.py) and the reliability matrix. Each life of the
daemon gets fresh posts (published on the sandbox X just before it starts), so every life has
something to poll, store, triage and alert; it is killed only after it logged `daemon.started`,
at one of two kinds of moment, taking turns:

- "mid-delivery": the instant the sandbox Slack receives a `chat.postMessage` from it. Slack (told
  to answer slowly) still keeps the message, the daemon dies before the answer, and its row stays
  in doubt: the next life must find the message in the channel history instead of posting again.
- "random": a delay after readiness drawn from the seed, so kills also land in polls, writes and
  idle time.

Nothing here races the clock: each kill waits for its signal, and the delays only choose where
a kill lands, never whether the run passes.
"""
from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from monitor.sandbox.core import Recorded
from monitor.sandbox.daemon_process import DaemonFailed, DaemonProcess
from monitor.sandbox.scenario import Scenario, crash_scenario
from monitor.sandbox.stack import SandboxStack

POST_MESSAGE = "/api/chat.postMessage"


@dataclass
class KillRun:
    ids: list[str] = field(default_factory=list)  # every post published, as X ids
    mid_delivery: int = 0  # kills that landed with a Slack message in flight
    random_kills: int = 0
    lives: int = 0


def _chunk(sc: Scenario, start: int, end: int) -> Scenario:
    """Posts [start, end) of `sc`, re-timed to appear within a second of being loaded."""
    posts = sc.posts[start:end]
    base = posts[0].offset if posts else 0.0
    return Scenario(sc.brand_handle, sc.brand_name, sc.brand_token,
                    posts=[replace(p, offset=min(1.0, p.offset - base)) for p in posts],
                    authors={p.author: sc.authors[p.author] for p in posts if p.author in sc.authors})


class _KillOnPost:
    """While armed with a daemon: kill -9 it the instant the sandbox Slack receives a chat.postMessage.

    The kill is sent from inside the sandbox's request handling, before the answer is even begun,
    so the message is in flight by construction (no reaction time to lose on a busy machine). A
    daemon that posts at all has migrated and started, so this never lands in start-up."""

    def __init__(self, stack: SandboxStack) -> None:
        self.target: DaemonProcess | None = None
        self.fired = False
        stack.slack.recorder.listen_received(self._on)

    def _on(self, rec: Recorded) -> None:
        if self.target is not None and self.target.running and rec.path == POST_MESSAGE:
            os.kill(self.target.pid, signal.SIGKILL)
            self.target = None
            self.fired = True

    def arm(self, daemon: DaemonProcess) -> None:
        self.fired = False
        self.target = daemon

    def disarm(self) -> None:
        self.target = None


async def kill_repeatedly(
    stack: SandboxStack,
    config_path: Path,
    *,
    kills: int,
    seed: int,
    brand: str = "acme",
    posts_per_life: int = 3,
    max_delay: float = 2.0,
    log_path: Path | None = None,
    ready_timeout: float = 120.0,
    on_life: Callable[[int, str], None] | None = None,
) -> KillRun:
    """`kills` lives, each started, made ready, and killed with -9. Returns what was published."""
    rng = random.Random(seed)
    sc = crash_scenario(brand, n_posts=max(1, kills * posts_per_life), spread_s=kills * 1.0, seed=seed)
    killer = _KillOnPost(stack)
    run = KillRun()
    for life in range(kills):
        chunk = _chunk(sc, life * posts_per_life, (life + 1) * posts_per_life)
        run.ids += list(stack.x.schedule(chunk).values())
        mode = "mid-delivery" if life % 2 == 0 else "random"  # half and half, the first one mid-delivery
        delay = rng.uniform(0.0, max_delay)
        async with DaemonProcess(config_path, log_path=log_path, name=f"life {life}") as daemon:
            if mode == "mid-delivery":
                # Every life has fresh posts to alert about (the config should alert from "low" up),
                # so a message always comes; the bound only catches a daemon that stopped delivering.
                killer.arm(daemon)
                try:
                    try:
                        await daemon.start(ready_timeout=ready_timeout)
                    except DaemonFailed:
                        if not killer.fired:  # it posted before logging readiness: killed as planned
                            raise
                    await stack.wait_until(lambda: killer.fired, timeout=ready_timeout,
                                           what=f"life {life} to post to Slack", alive=lambda: daemon.running)
                except (TimeoutError, RuntimeError) as e:
                    raise DaemonFailed(f"{e}; last log lines:\n" + "\n".join(daemon.tail)) from None
                finally:
                    killer.disarm()
                await daemon.kill()  # already dead: this reaps it
                run.mid_delivery += 1
            else:
                await daemon.start(ready_timeout=ready_timeout)
                await asyncio.sleep(delay)
                run.random_kills += 1
            if not daemon.running and mode == "random":
                raise DaemonFailed(f"life {life} exited by itself with {daemon.proc.returncode}; last lines:\n"  # type: ignore[union-attr]
                                   + "\n".join(daemon.tail))
            await daemon.kill()
        run.lives += 1
        if on_life is not None:
            on_life(life, mode)
    return run


async def last_life(
    stack: SandboxStack,
    config_path: Path,
    done: Callable[[], object],
    *,
    log_path: Path | None = None,
    settle_timeout: float = 300.0,
    ready_timeout: float = 120.0,
) -> tuple[float, int | None]:
    """Start the daemon once more, wait until `done()` (sync or async) holds, SIGTERM it.

    Returns (seconds from readiness to done, the exit code of the SIGTERM). The timeout is a failure
    bound only: `DaemonFailed` if the work is not done by then.
    """
    async with DaemonProcess(config_path, log_path=log_path, name="last life") as daemon:
        await daemon.start(ready_timeout=ready_timeout)
        t0 = time.monotonic()
        try:
            await stack.wait_until(done, timeout=settle_timeout, what="every post stored and every alert delivered",
                                   alive=lambda: daemon.running)
        except (TimeoutError, RuntimeError) as e:
            raise DaemonFailed(f"{e}; last log lines:\n" + "\n".join(daemon.tail)) from None
        took = time.monotonic() - t0
        code = await daemon.terminate(timeout=10.0)
    return took, code
