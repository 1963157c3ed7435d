"""Triage throughput on real tweets, on one core.

    /work/venv/bin/python benchmarks/triage.py [--data PATH] [--repeat N] [--limit N] [--model PATH]

Runs the 43,072 first customer tweets of `twcs-airlines-asapp-raw.csv.bz2` (in the shared data
folder: $OUTREACH_SHARED_DATA, else ../shared/data beside the repository) through
`Triage.classify` as `Mention`s, the way the pipeline calls it, and prints mentions per second,
the time per step (VADER, rules, the rest) and the distribution of verdicts. Loading and parsing
the file is not timed. Each pass is timed separately and the best and median are printed, since
other processes share the machine. Target (issue 4): at least 10,000 mentions/s.
"""
from __future__ import annotations

import argparse
import bz2
import csv
import os
import statistics
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.models import Author, Mention  # noqa: E402
from monitor.triage import load_triage  # noqa: E402
from monitor.triage.datasets import strip_asapp  # noqa: E402

TARGET = 10_000


def shared_data() -> Path:
    return Path(os.environ.get("OUTREACH_SHARED_DATA") or ROOT.parent / "shared" / "data")


def load_mentions(path: Path, limit: int | None) -> list[Mention]:
    created = datetime(2017, 10, 1, tzinfo=timezone.utc)
    out = []
    with bz2.open(path, "rt", newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if limit and i >= limit:
                break
            out.append(Mention(source="x", external_id=row["first_tweet_id"], text=strip_asapp(row["first_utterance"]),
                               author=Author(id=str(i % 5000)), created_at=created))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--rules", type=Path, default=None)
    ap.add_argument("--model", type=Path, default=None)
    args = ap.parse_args()
    path = args.data or shared_data() / "twcs-airlines-asapp-raw.csv.bz2"
    if not path.exists():
        print(f"no data at {path}: set OUTREACH_SHARED_DATA or pass --data", file=sys.stderr)
        return 2
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the issue asks
        pinned = "pinned to one core"
    except (AttributeError, OSError):
        pinned = "not pinned"
    mentions = load_mentions(path, args.limit)
    triage = load_triage(args.rules, args.model)
    texts = [m.text for m in mentions]
    n = len(mentions)

    rates = []
    verdicts = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        verdicts = [triage.classify(m) for m in mentions]
        rates.append(n / (time.perf_counter() - t0))

    # where the time goes (separate passes, so the figures above are not slowed by timing)
    sentiment = triage._sentiment  # noqa: SLF001 - a benchmark may look inside
    t0 = time.perf_counter()
    for t in texts:
        sentiment.compound(t)
    t_vader = time.perf_counter() - t0
    t0 = time.perf_counter()
    for t in texts:
        triage.rules.matches(t)
    t_rules = time.perf_counter() - t0

    best, median = max(rates), statistics.median(rates)
    print(f"{n} mentions from {path.name}, {args.repeat} passes, {pinned}, Python {sys.version.split()[0]}")
    print(f"throughput: first pass (cold caches) {rates[0]:,.0f}, best {best:,.0f}, median {median:,.0f} mentions/s "
          f"({1e6 / median:.1f} µs each); target {TARGET:,}: {'MET' if median >= TARGET else 'NOT MET'}")
    per = 1e6 / median
    print(f"time per mention: VADER {1e6 * t_vader / n:.1f} µs, rules {1e6 * t_rules / n:.1f} µs, "
          f"the rest {per - 1e6 * (t_vader + t_rules) / n:.1f} µs")
    print("urgency:  " + ", ".join(f"{u} {c} ({100 * c / n:.1f}%)" for u, c in Counter(v.urgency for v in verdicts).most_common()))
    print("category: " + ", ".join(f"{u} {c} ({100 * c / n:.1f}%)" for u, c in Counter(v.category for v in verdicts).most_common()))
    print(f"complaint {sum(v.complaint for v in verdicts) / n:.1%}, actionable {sum(v.actionable for v in verdicts) / n:.1%}, "
          f"low confidence (<0.5) {sum(v.confidence < 0.5 for v in verdicts) / n:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
