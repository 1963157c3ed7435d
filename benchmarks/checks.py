"""1,000 HTTP checks at a 30-second interval against the sandbox, on one core: CPU use, and the delay
from a service failing to its incident being opened.

    .venv/bin/python benchmarks/checks.py [--checks 1000] [--interval 30] [--measure 60] [--failing 10]

The sandbox's flaky services run in a child process pinned to another core; the real daemon (its
scheduler, the shared aiohttp pool, the state machine writing alert_states on SQLite) runs in this
process pinned to one core. Phase 1 measures CPU while every check passes; phase 2 takes
`--failing` services down and times each incident from the moment they went down (with
failure_threshold 3 the floor is two intervals, the ceiling three).
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.config import parse_config
from monitor.daemon import Daemon
from monitor.sandbox.core import Server
from monitor.sandbox.health_world import HealthWorld, make_health_app
from monitor.storage.schema import incidents

SERVICES = 100


def _serve(port_q: multiprocessing.Queue, core: int | None) -> None:  # type: ignore[type-arg]
    if core is not None:
        os.sched_setaffinity(0, {core})

    async def main() -> None:
        server = Server(make_health_app(HealthWorld()))
        await server.start()
        port_q.put(server.port)
        await asyncio.Event().wait()

    asyncio.run(main())


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def run(args: argparse.Namespace, base: str) -> None:
    tmp = tempfile.TemporaryDirectory(prefix="bench-checks-")
    checks = [{"name": f"c{i}", "service": f"svc{i % SERVICES}", "url": f"{base}/svc/svc{i % SERVICES}/health?c={i}",
               "interval": args.interval, "timeout": min(10, args.interval), "failure_threshold": 3,
               "success_threshold": 2, "json_path": "status", "json_equals": "ok"} for i in range(args.checks)]
    cfg = parse_config({"storage": {"url": f"sqlite:///{tmp.name}/bench.db"},
                        "services": [{"name": f"svc{i}"} for i in range(SERVICES)],
                        "checks": checks, "logging": {"level": "warning"}}, env={})
    daemon = Daemon(cfg, serve_http=False)
    await daemon.start()
    try:
        # a new check writes its state on its first two readings (unknown → up, then the success
        # threshold); from the third on a steady check is answered from the lease holder's cache
        print(f"{args.checks} checks on {SERVICES} services every {args.interval:g} s; warming up three intervals …")
        await asyncio.sleep(3 * args.interval)
        cpu0, wall0 = _cpu(), time.monotonic()
        await asyncio.sleep(args.measure)
        cpu, wall = _cpu() - cpu0, time.monotonic() - wall0
        print(f"all passing: {cpu:.1f} s CPU in {wall:.0f} s = {100 * cpu / wall:.1f} % of one core "
              f"({args.checks / args.interval:.0f} checks/s, {1000 * cpu / (wall * args.checks / args.interval):.2f}"
              " ms CPU per check)")

        down = [f"svc{i}" for i in range(args.failing)]
        async with aiohttp.ClientSession() as s:
            for name in down:
                async with s.post(f"{base}/control/{name}/down") as r:
                    assert r.status == 200
        failed_at = time.time()
        cpu0, wall0 = _cpu(), time.monotonic()
        deadline = time.monotonic() + 4 * args.interval
        opened: dict[str, float] = {}
        while len(opened) < len(down) and time.monotonic() < deadline:
            await asyncio.sleep(1)
            async with daemon.engine.connect() as conn:
                opened = dict((await conn.execute(select(incidents.c.service, incidents.c.opened_at))).all())
        cpu, wall = _cpu() - cpu0, time.monotonic() - wall0
        delays = sorted(t - failed_at for t in opened.values())
        print(f"{len(down)} services down ({len(down) * args.checks // SERVICES} failing checks): "
              f"{len(opened)} incidents, one per service")
        if delays:
            print(f"failure → incident: min {delays[0]:.1f} s, median {statistics.median(delays):.1f} s, "
                  f"max {delays[-1]:.1f} s (threshold 3 × {args.interval:g} s: floor {2 * args.interval:g} s, "
                  f"ceiling {3 * args.interval:g} s)")
        print(f"during the outage: {100 * cpu / wall:.1f} % of one core")
    finally:
        await daemon.stop()
        tmp.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=30.0)
    ap.add_argument("--measure", type=float, default=60.0)
    ap.add_argument("--failing", type=int, default=10)
    args = ap.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[0]})  # the daemon: one core
    q: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    child = multiprocessing.Process(target=_serve, args=(q, cores[-1] if len(cores) > 1 else None), daemon=True)
    child.start()
    try:
        port = q.get(timeout=30)
        asyncio.run(run(args, f"http://127.0.0.1:{port}"))
    finally:
        child.terminate()
        child.join(10)


if __name__ == "__main__":
    main()
