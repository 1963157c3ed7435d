"""One case of the reliability matrix: a fresh sandbox and database, real daemons as child processes,
posts published on the sandbox X, and the counting at the end.

A case publishes posts, starts the daemon(s) and waits for `daemon.started`, lets the first posts
through (so the fault meets a working daemon), does its damage, lifts it, and waits until every
post published is stored and the outbox has nothing pending. `recover_s` is the time from the
fault lifted to that moment; when it is not reached within the bound, `recover_s` is None and the
figures are counted as they stand. While the fault lasts, `/healthz` is asked once a second and
its answers are counted, so the matrix shows whether the daemon said it was blind.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from monitor.sandbox.daemon_process import DaemonProcess
from monitor.sandbox.ledger import settled, tally
from monitor.sandbox.scenario import crash_scenario
from monitor.sandbox.stack import SandboxStack
from monitor.storage.engine import create_engine

BRAND = "acme"


@dataclass
class Settings:
    quick: bool
    seed: int
    kills: int
    workdir: Path
    fault_s: dict[str, float]  # how long each case's damage lasts
    burst: int  # posts in the burst case
    settle_s: float  # failure bound for recovery after a fault
    failover_seconds: float | None  # None: the shipped default


@dataclass
class Result:
    case: str
    backend: str
    expected: int = 0
    stored: int = 0
    lost: int = 0
    duplicates: int = 0
    recover_s: float | None = None
    alerts: int = 0
    alerts_delivered: int = 0
    alerts_pending: int = 0
    alerts_given_up: int = 0
    healthz_during_fault: dict[str, int] = field(default_factory=dict)
    exit_code: int | None = None  # of the daemon's SIGTERM at the end (0 = drained cleanly)
    figures: dict[str, Any] = field(default_factory=dict)  # case-specific: failover times, latency …
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class Harness:
    """Everything one case needs, torn down (children killed and reaped) whatever happens."""

    def __init__(self, case: str, backend: Any, settings: Settings) -> None:
        self.case = case
        self.backend = backend
        self.s = settings
        self.stack = SandboxStack(slack_rate_per_channel=1.0)  # Slack's real pace: about 1 message/s/channel
        self.result = Result(case, backend.name)
        self.ids: list[str] = []
        self.daemons: list[DaemonProcess] = []
        self.db_url = ""
        self.engine: Any = None
        self._seed = settings.seed
        self._health: Counter[str] | None = None
        self._health_task: asyncio.Task[None] | None = None
        self.log = settings.workdir / f"{case}-{backend.name}.log"

    async def __aenter__(self) -> Harness:
        await self.stack.start()
        self.stack.x.add_user(BRAND, BRAND.title(), followers=250_000, verified=True)
        self.db_url = await self.backend.fresh_url(self.case)
        self.engine = create_engine(self.db_url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_sampling()
        for d in self.daemons:
            await d.reap()
        if self.engine is not None:
            await self.engine.dispose()
        await self.stack.stop()

    # ── set-up ───────────────────────────────────────────────────────────────────────────
    def config(self, *, shipped_failover: bool = False, **overrides: Any) -> Path:
        cfg = self.stack.config(brand=BRAND, db_url=self.db_url, x_interval=0.5, slack_min_interval=1.0)
        if shipped_failover or self.s.failover_seconds is None:
            cfg.pop("failover_seconds", None)
        else:
            cfg["failover_seconds"] = self.s.failover_seconds
        cfg.pop("outbox", None)  # the shipped retry rules: they are what an outage meets
        cfg["outbox"] = {"poll_interval": 0.2}
        cfg.update(overrides)
        path = self.s.workdir / f"{self.case}-{self.backend.name}.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return path

    def publish(self, n: int, over_s: float, *, start_in: float = 0.0) -> list[str]:
        """`n` distinct complaints mentioning the brand, appearing over `over_s` seconds from now+start_in."""
        self._seed += 1
        ids = list(self.stack.x.schedule(crash_scenario(BRAND, n_posts=n, spread_s=over_s, seed=self._seed),
                                         start_at=time.time() + start_in).values())
        self.ids += ids
        return ids

    async def daemon(self, name: str = "daemon", *, config: Path) -> DaemonProcess:
        d = DaemonProcess(config, log_path=self.log, name=name)
        self.daemons.append(d)
        await d.start()
        return d

    # ── waiting and watching ─────────────────────────────────────────────────────────────
    async def settle(self, *, bound: float | None = None, alive: DaemonProcess | None = None) -> float | None:
        """Seconds until every published post is stored and nothing is pending; None past the bound."""
        try:
            return await self.stack.wait_until(lambda: self._settled(), timeout=bound or self.s.settle_s,
                                               what="every post stored and every alert delivered",
                                               alive=(lambda: alive.running) if alive else None)
        except TimeoutError:
            self.result.notes.append(f"not settled within {bound or self.s.settle_s:.0f}s")
            return None
        except RuntimeError as e:
            self.result.notes.append(str(e))
            return None

    async def _settled(self) -> bool:
        try:
            return await settled(self.engine, self.ids)
        except Exception:  # the database is what is being damaged: not settled yet
            return False

    def sample_health(self, daemon: DaemonProcess, *, tried: Callable[[], bool] | None = None) -> None:
        """Ask /healthz once a second until stop_sampling(); count "<http status> <status field>".

        `tried`: whether the daemon has called the damaged service since the fault began. Until it has,
        it cannot know (an outage of Slack shows only to a delivery that fails), and its answers are
        counted apart, as "untried: …", so an "ok" there is not taken for a lie."""
        self._health = Counter()
        self._health_task = asyncio.create_task(self._sample(daemon.http_port, self._health, tried))

    async def stop_sampling(self) -> dict[str, int]:
        if self._health_task is not None:
            self._health_task.cancel()
            try:
                await self._health_task
            except asyncio.CancelledError:
                pass
            self._health_task = None
        seen = dict(self._health or {})
        self.result.healthz_during_fault = seen
        return seen

    @staticmethod
    async def _sample(port: int | None, into: Counter[str], tried: Callable[[], bool] | None) -> None:
        url = f"http://127.0.0.1:{port}/healthz"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            while True:
                known = tried is None or tried()  # before the request: an answer after the first call counts
                try:
                    async with http.get(url) as r:
                        text = await r.text()
                        try:
                            status = json.loads(text).get("status", "?")
                        except ValueError:
                            status = "not-json"
                        seen = f"{r.status} {status}"
                except (aiohttp.ClientError, TimeoutError):
                    seen = "no answer"
                into[seen if known else f"untried: {seen}"] += 1
                await asyncio.sleep(1.0)

    # ── the end ──────────────────────────────────────────────────────────────────────────
    async def finish(self, recover_s: float | None, *, stop: bool = True) -> Result:
        r = self.result
        r.recover_s = None if recover_s is None else round(recover_s, 2)
        if stop:
            for d in self.daemons:
                if d.running:
                    r.exit_code = await d.terminate(timeout=10.0)
                    if r.exit_code is None:
                        r.notes.append(f"{d.name} did not stop within 10 s of SIGTERM (killed)")
                    elif r.exit_code != 0:
                        r.notes.append(f"{d.name} exited {r.exit_code} on SIGTERM")
        t = await tally(self.engine, self.stack.slack, self.ids)
        r.expected, r.stored, r.lost = t.expected, t.stored, t.lost
        r.duplicates = t.duplicates
        r.alerts, r.alerts_delivered = t.alerts, t.alerts_delivered
        r.alerts_pending, r.alerts_given_up = t.alerts_pending, t.alerts_given_up
        r.figures.setdefault("outbox", t.outbox_status)
        return r
