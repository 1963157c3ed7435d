#!/usr/bin/env python3
"""The reliability matrix: an operator's worst day, on SQLite and on PostgreSQL, with figures per case.

    python benchmarks/reliability.py                 # the full run (over half an hour per backend)
    python benchmarks/reliability.py --quick         # a short version (5 minutes per backend on a busy machine; CI runs it)
    python benchmarks/reliability.py --json out.json --backends postgresql --cases kills,failover

Every case runs the real daemon (`python -m monitor run`, as child processes) against the sandbox
X and Slack, on a fresh database, and prints: posts stored/lost, duplicates (posts stored twice or
alerts posted twice), time to recover, alerts delivered, what /healthz said during the fault.

| case                | damage (full run; --quick is shorter)                                          |
|---------------------|--------------------------------------------------------------------------------|
| kills               | 50 lives killed with -9 after readiness (half with a Slack message in flight)  |
| failover            | two daemons, the polling one killed with -9 holding outbox rows (shipped       |
|                     | failover_seconds; --quick uses 6 s)                                            |
| database_down       | the database unavailable 30 s (PostgreSQL: our own server stopped; SQLite:     |
|                     | another process holds an exclusive lock)                                       |
| rate_limit_storm    | every Slack post answers 429 for 60 s, every X read too in its second half     |
| revoked_x_token     | X refuses the bearer token for 60 s, then the operator sends SIGHUP            |
| revoked_slack_token | Slack refuses the bot token for 60 s, then the operator sends SIGHUP           |
| poisoned_batch      | posts with a lone surrogate and a NUL published with good ones                 |
| burst               | 10,000 posts in 10 s with one critical post in the middle                      |
| slack_down          | every Slack call answers 503 for 10 minutes (last, so a cut run keeps the rest)|

PostgreSQL here is a server of the benchmark's own (initdb into a temporary folder, a free port on
127.0.0.1), so it can be stopped under the daemon; the shared server is never used. Retry and
lease settings are the shipped ones (only poll intervals are shortened); see each case's docstring
in benchmarks/reliability_cases.py for what recover_s measures there.

`--json FILE` writes a JSON array with one object per case (case, backend, stored, lost, duplicates,
recover_s, alerts, alerts_delivered, alerts_pending, alerts_given_up, healthz_during_fault, figures,
notes). The exit code is 0 when the matrix ran (whatever it found); `--strict` makes it 1 when a
case lost or duplicated anything or did not recover.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backends import PostgresBackend, SqliteBackend  # noqa: E402
from reliability_cases import CASES  # noqa: E402
from reliability_harness import Harness, Result, Settings  # noqa: E402

FULL_FAULTS = {"database_down": 30.0, "slack_down": 600.0, "storm": 60.0, "revoked": 60.0}
QUICK_FAULTS = {"database_down": 5.0, "slack_down": 10.0, "storm": 5.0, "revoked": 5.0}


def settings(args: argparse.Namespace, workdir: Path) -> Settings:
    return Settings(
        quick=args.quick,
        seed=args.seed,
        kills=args.kills if args.kills is not None else (5 if args.quick else 50),
        workdir=workdir,
        fault_s=dict(QUICK_FAULTS if args.quick else FULL_FAULTS),
        burst=args.burst if args.burst is not None else (500 if args.quick else 10_000),
        settle_s=60.0 if args.quick else 420.0,
        failover_seconds=6.0 if args.quick else None,
    )


def verdict(r: Result) -> str:
    if r.error:
        return "ERROR"
    bad = r.lost or r.duplicates or r.recover_s is None or r.alerts_given_up
    return "FAIL" if bad else "ok"


def line(r: Result) -> str:
    rec = "never" if r.recover_s is None else f"{r.recover_s:.1f}s"
    health = ", ".join(f"{k}×{v}" for k, v in sorted(r.healthz_during_fault.items())) or "-"
    figures = {k: v for k, v in r.figures.items() if k != "outbox"}
    return (f"{r.case:<20} {r.backend:<10} {verdict(r):<5} stored {r.stored}/{r.expected} lost {r.lost} "
            f"dup {r.duplicates} recover {rec} alerts {r.alerts_delivered}/{r.alerts} "
            f"(pending {r.alerts_pending}, given up {r.alerts_given_up}) healthz[{health}] "
            f"exit {r.exit_code} {json.dumps(figures, default=str) if figures else ''}"
            + (f" notes: {'; '.join(r.notes)}" if r.notes else "") + (f" ERROR: {r.error}" if r.error else ""))


def write_json(path: Path, results: list[Result]) -> None:
    path.write_text(json.dumps([r.as_json() for r in results], indent=1, default=str))


async def run_case(name: str, backend, s: Settings) -> Result:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    harness = Harness(name, backend, s)
    try:
        async with harness as h:
            result = await CASES[name](h)
    except Exception as e:  # one broken case must not hide the others' figures
        result = harness.result
        result.error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    result.figures["case_s"] = round(time.monotonic() - t0, 1)
    return result


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short faults and few kills (a few minutes)")
    ap.add_argument("--json", type=Path, help="write one object per case to this file (a JSON array)")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    ap.add_argument("--kills", type=int, default=None, help="lives killed in the kills case (50; --quick 5)")
    ap.add_argument("--burst", type=int, default=None, help="posts in the burst case (10000; --quick 500)")
    ap.add_argument("--seed", type=int, default=20261130)
    ap.add_argument("--pg-bin", default=None, help="folder with initdb and pg_ctl (default: the newest installed)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (configs, daemon logs)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when any case lost, duplicated or did not recover")
    args = ap.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")
    workdir = Path(tempfile.mkdtemp(prefix="om-reliability-"))
    s = settings(args, workdir)
    print(f"reliability matrix ({'quick' if args.quick else 'full'}), seed {args.seed}, work folder {workdir}",
          flush=True)
    results: list[Result] = []
    t0 = time.monotonic()
    try:
        for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
            backend = SqliteBackend(workdir) if name == "sqlite" else PostgresBackend(workdir, pg_bin=args.pg_bin)
            await backend.open()
            try:
                for case in cases:
                    r = await run_case(case, backend, s)
                    results.append(r)
                    print(line(r), flush=True)
                    if args.json:  # after every case: a run cut short keeps what it measured
                        write_json(args.json, results)
            finally:
                await backend.close()
    finally:
        if args.json:
            write_json(args.json, results)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    bad = [r for r in results if verdict(r) != "ok"]
    print(f"{len(results)} cases in {time.monotonic() - t0:.0f}s: {len(results) - len(bad)} ok, {len(bad)} not"
          + (f" ({', '.join(f'{r.case}/{r.backend}' for r in bad)})" if bad else ""), flush=True)
    return 1 if (args.strict and bad) else 0


async def _main_reaping_on_sigterm() -> int:
    """SIGTERM (e.g. from `timeout`) cancels the run like Ctrl-C does, so every case's clean-up still
    kills and reaps its daemons and stops the benchmark's own PostgreSQL."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await main()
    except asyncio.CancelledError:
        print("stopped: SIGTERM", file=sys.stderr)
        return 143


if __name__ == "__main__":
    sys.exit(asyncio.run(_main_reaping_on_sigterm()))
