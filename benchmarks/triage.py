"""Triage throughput on real tweets, on one core, through the `classify` contract (JSON in and out).

    .venv/bin/python benchmarks/triage.py [--data PATH] [--repeat N] [--limit N] [--process]

Runs the 43,072 first customer tweets of `twcs-airlines-asapp-raw.csv.bz2` (shared data folder:
$OUTREACH_SHARED_DATA, else ../shared/data beside the repository):

1. through the `classify` contract in process (monitor/triage/contract.py: the exact code
   `outreach-monitor classify` runs after start-up): JSONL bytes in, JSONL bytes out;
2. VADER alone (the original `vaderSentiment` package, `polarity_scores` per text), same texts,
   same run, for comparison;
3. `Triage.classify` on `Mention`s, the way the daemon calls it, rules alone and with the shipped
   model, with the time per step;
4. with --process, the real command end to end (`python -m monitor classify`), start-up timed
   apart (an empty input) so the rate after start-up can be given.

Each pass is timed on the wall clock and on this process's CPU clock: the development machine is
shared, and CPU time is what one core spends on our work when other jobs take turns on it. The
median of the passes is the figure. Loading and parsing the file is not timed. Target (issue 13):
at least 10,000 mentions/s through the contract.
"""
from __future__ import annotations

import argparse
import bz2
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.models import Author, Mention  # noqa: E402
from monitor.triage import contract, load_triage  # noqa: E402
from monitor.triage.datasets import strip_asapp  # noqa: E402
from monitor.triage.model import feature_set  # noqa: E402

TARGET = 10_000


def shared_data() -> Path:
    return Path(os.environ.get("OUTREACH_SHARED_DATA") or ROOT.parent / "shared" / "data")


def load_rows(path: Path, limit: int | None) -> list[tuple[str, str]]:
    out = []
    with bz2.open(path, "rt", newline="", encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f)):
            if limit and i >= limit:
                break
            out.append((row["first_tweet_id"], strip_asapp(row["first_utterance"])))
    return out


def timed(fn, repeat: int) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds) of `repeat` calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def rate(n: int, t: tuple[float, float]) -> str:
    wall, cpu = t
    return f"{n / wall:>8,.0f}/s wall, {n / max(cpu, 1e-9):>8,.0f}/s CPU ({1e6 * cpu / n:5.1f} µs CPU each)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--process", action="store_true", help="also time the real command end to end")
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
    rows = load_rows(path, args.limit)
    n = len(rows)
    texts = [t for _, t in rows]
    payload = b"".join(json.dumps({"id": i, "text": t, "author": {"id": str(k % 5000)}, "source": "x"}).encode() + b"\n"
                       for k, (i, t) in enumerate(rows))
    created = datetime(2017, 10, 1, tzinfo=timezone.utc)
    mentions = [Mention(source="x", external_id=i, text=t, author=Author(id=str(k % 5000)), created_at=created)
                for k, (i, t) in enumerate(rows)]
    t0 = time.perf_counter()
    triage = load_triage()
    startup = time.perf_counter() - t0
    rules_only = load_triage(learned=False)
    print(f"{n:,} mentions from {path.name}, {args.repeat} passes each, {pinned}, Python {sys.version.split()[0]}; "
          f"loading rules + packs + model + language detector took {startup:.2f} s")

    out = io.BytesIO()

    def through_contract() -> None:
        out.seek(0)
        out.truncate()
        src = io.BytesIO(payload)
        bad = contract.run(triage, src.read1, out.write)
        assert bad == 0

    c = timed(through_contract, args.repeat)
    lines = out.getvalue().count(b"\n")
    assert lines == n, (lines, n)

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    v = timed(lambda: [vader.polarity_scores(t) for t in texts], args.repeat)
    print(f"classify contract (JSON in and out), shipped defaults: {rate(n, c)}   "
          f"target {TARGET:,}: {'MET' if n / c[1] >= TARGET else 'NOT MET'} (CPU), {'MET' if n / c[0] >= TARGET else 'NOT MET'} (wall)")
    print(f"VADER alone (vaderSentiment polarity_scores):           {rate(n, v)}")

    verdicts = []

    def pipeline(t=triage) -> None:
        verdicts[:] = [t.classify(m) for m in mentions]

    p = timed(pipeline, args.repeat)
    r = timed(lambda: pipeline(rules_only), args.repeat)
    pipeline()
    print(f"Triage.classify on Mentions, rules + model (default):  {rate(n, p)}")
    print(f"Triage.classify on Mentions, rules alone:              {rate(n, r)}")

    sentiment = triage._sentiment  # noqa: SLF001 - a benchmark may look inside
    steps = {
        "VADER (ours)": lambda: [sentiment.compound(x) for x in texts],
        "rules": lambda: [triage.rules.matches(x) for x in texts],
        "model": lambda: [triage.learned.complaint(x) for x in texts] if triage.learned else None,
        "features alone": lambda: [feature_set(x) for x in texts],  # what the shipped model reads
        "JSON parse": lambda: [contract.parse_item(x) for x in payload.splitlines()],
    }
    print("time per mention by step (CPU): " + ", ".join(f"{k} {1e6 * timed(f, 1)[1] / n:.1f} µs" for k, f in steps.items()))

    if args.process:
        cmd = [sys.executable, "-m", "monitor", "classify"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        t0 = time.perf_counter()
        subprocess.run(["taskset", "-c", "0", *cmd], input=b"", capture_output=True, check=True, env=env)
        empty = time.perf_counter() - t0
        t0 = time.perf_counter()
        done = subprocess.run(["taskset", "-c", "0", *cmd], input=payload, capture_output=True, check=True, env=env)
        full = time.perf_counter() - t0
        got = done.stdout.count(b"\n")
        print(f"`python -m monitor classify` end to end: start-up {empty:.2f} s; {got:,} lines in {full:.2f} s; "
              f"after start-up {got / max(full - empty, 1e-9):,.0f}/s wall")

    print("urgency:  " + ", ".join(f"{u} {k} ({100 * k / n:.1f}%)" for u, k in Counter(x.urgency for x in verdicts).most_common()))
    print("category: " + ", ".join(f"{u} {k} ({100 * k / n:.1f}%)" for u, k in Counter(x.category for x in verdicts).most_common()))
    print(f"complaint {sum(x.complaint for x in verdicts) / n:.1%}, actionable {sum(x.actionable for x in verdicts) / n:.1%}, "
          f"low confidence (<0.5) {sum(x.confidence < 0.5 for x in verdicts) / n:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
