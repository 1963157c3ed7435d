"""A simulated day of polling X and Reddit against the sandbox, with an injected clock.

    /work/venv/bin/python benchmarks/polling.py [--hours 24] [--x-posts 2000] [--reddit-posts 600]

The real connectors (tweepy, praw) talk over sockets to the sandbox servers, whose clocks — like the
pollers', the budget planners' and the database's timestamps — are one simulated clock. Traffic is
`day_scenario` (quiet night, busy afternoon, an outage burst at 15:30) on X, and a second one
turned into Reddit submissions and comments (r/acme for the brand's own subreddit, r/travel for
keyword hits). The loop jumps the clock to the next moment a stream is due, polls, and repeats.

Printed per source: requests used against the budget, 429s (must be 0: the planner never
overspends), and the delay from a post appearing to it being stored (median, p99, max) next to the
poll intervals the planner chose (busy and quiet hours).
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.reddit import RedditSource
from connectors.x import XSource
from monitor.budget import planner_for
from monitor.config import parse_config
from monitor.metrics import Metrics
from monitor.poller import Poller
from monitor.sandbox.clock import ManualClock as SimClock
from monitor.sandbox.scenario import Scenario, day_scenario
from monitor.sandbox.stack import SandboxStack
from monitor.storage.engine import create_engine
from monitor.storage.migrate import upgrade
from monitor.storage.schema import mentions
from monitor.triage import load_triage

T0 = 1_772_409_600.0  # 2026-03-02 00:00 UTC, a Monday
BRAND = "acme"
DRAIN_S = 600.0  # polling goes on this long after the day, so the last posts of the day land too


def reddit_day(posts: int, seed: int) -> Scenario:
    """A day of Reddit traffic: tagged posts land in r/acme (a third as comments), keyword posts in r/travel."""
    src = day_scenario(BRAND, posts_per_day=posts, seed=seed, burst_posts=max(10, posts // 15))
    sc = Scenario(BRAND, brand_name="Acme")
    roots: list[str] = []
    for i, p in enumerate(src.posts):
        own_sub = f"@{BRAND}" in p.text
        text = p.text.replace(f"@{BRAND}", BRAND)
        if own_sub and roots and i % 3 == 0:
            sc.add(p.offset, p.author, text, key=f"r{i}", platform="reddit", kind=p.kind, reply_to=roots[-1],
                   extra={"subreddit": BRAND})
        else:
            key = sc.add(p.offset, p.author, text, key=f"r{i}", platform="reddit", kind=p.kind,
                         extra={"subreddit": BRAND if own_sub else "travel", "title": text[:120]})
            if own_sub:
                roots.append(key)
    return sc


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def run(hours: float, x_posts: int, reddit_posts: int, x_limits: tuple[int, int] = (450, 450)) -> dict[str, Any]:
    clock = SimClock(T0)
    stack = SandboxStack(clock=clock, slack_rate_per_channel=None)
    await stack.start()
    x_sc = day_scenario(BRAND, posts_per_day=x_posts, seed=5)
    stack.load(x_sc, start_at=T0)
    r_sc = reddit_day(reddit_posts, seed=9)
    stack.load(r_sc, start_at=T0)
    stack.reddit.add_subreddit("travel")
    tmp = tempfile.TemporaryDirectory(prefix="polling-bench-")
    cfg_dict = stack.config(brand=BRAND, db_url=f"sqlite:///{tmp.name}/bench.db", x_interval=60,
                            reddit=True, reddit_interval=30)
    # the sandbox enforces what the app's tier allows; the config tells the planner the same
    stack.x.limits.update({"mentions": x_limits[0], "search_recent": x_limits[1]})
    cfg_dict["sources"][0]["budget"] = {"monthly_post_reads": 100_000, "mentions_requests": x_limits[0],
                                        "search_requests": x_limits[1]}
    cfg_dict["sources"][1]["search_subreddits"] = ["all"]
    cfg = parse_config(cfg_dict, env={})
    engine = create_engine(cfg.storage.url)
    await upgrade(engine)
    triage = load_triage()
    x_cfg, r_cfg = cfg.sources
    sources = {
        "x": XSource(x_cfg, own_handles=[BRAND], clock=clock),  # type: ignore[arg-type]
        "reddit": RedditSource(r_cfg, own_handles=[BRAND], clock=clock),  # type: ignore[arg-type]
    }
    pollers = {
        name: Poller(src, name=name, engine=engine, triage=triage, policy=None, metrics=Metrics(), holder="bench",
                     lease_ttl=600, planner=planner_for(sc, src.streams()), clock=clock)
        for (name, src), sc in zip(sources.items(), cfg.sources)
    }
    end = T0 + hours * 3600 + DRAIN_S
    polls: Counter[tuple[str, int]] = Counter()  # (source, hour) -> polls that asked something
    wall = time.perf_counter()
    try:
        while clock.now < end:
            for name, p in pollers.items():
                before = p.health.last_attempt_at
                await p.poll()
                if p.health.last_attempt_at != before:
                    polls[(name, int((clock.now - T0) // 3600))] += 1
            due = min(p.planner.next_due() for p in pollers.values() if p.planner is not None)
            backoff = min((p.health.backoff_until for p in pollers.values() if p.health.backoff_until > clock.now),
                          default=float("inf"))
            clock.now = max(clock.now + 0.5, min(due, backoff, end))
        async with engine.connect() as conn:
            rows = (await conn.execute(select(mentions.c.source, mentions.c.created_at, mentions.c.fetched_at,
                                              mentions.c.is_own))).all()
    finally:
        for s in sources.values():
            await s.close()
        await stack.stop()
        await engine.dispose()
        tmp.cleanup()
    x_429 = sum(1 for r in stack.x.recorder.requests if r.status == 429)
    report: dict[str, Any] = {"simulated_hours": hours, "wall_s": round(time.perf_counter() - wall, 1), "sources": {}}
    posted = {name: sum(1 for p in sc.posts if p.offset < hours * 3600) for name, sc in (("x", x_sc), ("reddit", r_sc))}
    for name, p in pollers.items():
        delays = [f - c for s, c, f, own in rows if s == name and c <= f]
        snap = p.planner.snapshot(clock.now) if p.planner else {}
        pools = {}
        for pool, ps in p.planner.pools.items():  # type: ignore[union-attr]
            tight = min(ps.pool.windows, key=lambda w: w.limit / w.seconds)
            allowed = tight.limit / tight.seconds * (hours * 3600 + DRAIN_S)
            pools[pool] = {"requests": ps.spent_total, "allowed": int(allowed),
                           "share": round(ps.spent_total / allowed, 3), "refused": ps.refused}
        per_hour = [polls[(name, h)] for h in range(int(hours))]
        busy = [per_hour[h] for h in range(13, 18) if h < len(per_hour)]
        quiet = [per_hour[h] for h in range(1, 5) if h < len(per_hour)]
        report["sources"][name] = {
            "stored": len(delays),
            "posted": posted[name],
            "requests": p.health.requests,
            "pools": pools,
            "rate_limited_429": x_429 if name == "x" else stack.reddit.rate_limited,
            "errors": p.health.errors,
            "delay_s": {"median": round(statistics.median(delays), 1) if delays else None,
                        "p99": round(pct(delays, 0.99), 1), "max": round(max(delays, default=0), 1)},
            "polls_per_hour": {"busy_13_18": round(statistics.mean(busy), 1) if busy else None,
                               "quiet_01_05": round(statistics.mean(quiet), 1) if quiet else None},
            "interval_s": {"configured": p.planner.pacing.interval, "min": p.planner.pacing.min_interval,  # type: ignore[union-attr]
                           "max": p.planner.pacing.max_interval},  # type: ignore[union-attr]
            "streams": snap.get("streams"),
        }
        if "reads" in snap:
            report["sources"][name]["post_reads"] = snap["reads"]
    return report


def print_report(r: dict[str, Any]) -> None:
    print(f"simulated {r['simulated_hours']} h in {r['wall_s']} s of wall time")
    for name, s in r["sources"].items():
        print(f"\n{name}: {s['stored']} mentions stored" + (f" of {s['posted']} posted" if s["posted"] else ""))
        for pool, p in s["pools"].items():
            print(f"  pool {pool:9s} {p['requests']:6d} requests of {p['allowed']:6d} allowed "
                  f"({p['share']:.0%}), refused {p['refused']}")
        print(f"  429s from the platform: {s['rate_limited_429']}   errors: {s['errors']}")
        d, i, ph = s["delay_s"], s["interval_s"], s["polls_per_hour"]
        print(f"  post appears -> stored: median {d['median']} s, p99 {d['p99']} s, max {d['max']} s")
        print(f"  poll interval: configured {i['configured']} s, planner range {i['min']}-{i['max']} s; "
              f"polls/hour busy {ph['busy_13_18']}, quiet {ph['quiet_01_05']}")
        if "post_reads" in s:
            pr = s["post_reads"]
            print(f"  post reads this month: {pr['used']} of {pr['cap']}")
        for stream, st in (s["streams"] or {}).items():
            print(f"    {stream:40s} priority {st['priority']}  polls {st['polls']:5d}  items {st['items']:5d}  "
                  f"interval now {st['interval_s']} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--x-posts", type=int, default=2000, help="X posts in a full day")
    ap.add_argument("--reddit-posts", type=int, default=600, help="Reddit posts in a full day")
    ap.add_argument("--x-limits", default="450,450",
                    help="X requests per 15 minutes for mentions,search (e.g. 10,60 for a small tier)")
    a = ap.parse_args()
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    mentions_limit, search_limit = (int(v) for v in a.x_limits.split(","))
    print_report(asyncio.run(run(a.hours, a.x_posts, a.reddit_posts, (mentions_limit, search_limit))))


if __name__ == "__main__":
    main()
