#!/usr/bin/env python3
"""How many mentions a second go through store + triage + outbox, on SQLite and on PostgreSQL.

    python benchmarks/ingest.py [--n 20000] [--batch 100,500] [--naive 2000] [--pg-url postgresql://root@127.0.0.1:5432/test]

The batched path is the real one (`monitor.ingest.ingest`, one write transaction per poll page),
measured with one stream and with two streams polled side by side as the daemon runs its sources
(triage of one overlaps the other's write); the naive path calls it with one mention at a time, i.e.
one transaction per row, as a baseline. Texts are the
real customer tweets in ../shared/data when present. The product's goal: 6,000 mentions/s sustained
on SQLite on two cores. PostgreSQL gets a throw-away database that is dropped afterwards.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from monitor.ingest import AlertPolicy, ingest
from monitor.models import Author, Batch, Cursor, Mention
from monitor.sandbox.texts import load_texts, render
from monitor.storage.engine import create_engine, normalise_url
from monitor.storage.migrate import upgrade
from monitor.triage import load_triage

POLICY = AlertPolicy({"critical": "#care-urgent", "high": "#care-urgent", "normal": "#care"})


def make_mentions(n: int, seed: int = 1) -> list[Mention]:
    rng = random.Random(seed)
    texts = load_texts()
    authors = [
        Author(id=str(10_000 + i), username=f"user{i}", name=f"User {i}", followers=int(rng.paretovariate(1.2) * 50))
        for i in range(2000)
    ]
    base = datetime(2026, 11, 25, tzinfo=UTC).timestamp()
    out = []
    for i in range(n):
        t = texts[rng.randrange(len(texts))]
        out.append(
            Mention(
                source="x",
                external_id=str(1_900_000_000_000_000_000 + i),
                text=render(t, "acme"),
                author=rng.choice(authors),
                created_at=datetime.fromtimestamp(base + i * 0.01, UTC),
                stream="search:acme",
                conversation_id=str(1_900_000_000_000_000_000 + i - (i % 5)),
                lang="en",
                metrics={"like_count": rng.randrange(20), "retweet_count": rng.randrange(5)},
            )
        )
    return out


async def run(url: str, mentions: list[Mention], batch: int, streams: int = 1) -> float:
    """Mentions/s when `streams` sources poll side by side (as the daemon runs them), each page by page."""
    engine = create_engine(url)
    await upgrade(engine)
    triage = load_triage()

    async def stream(k: int) -> None:
        mine = mentions[k::streams]
        for i in range(0, len(mine), batch):
            page = mine[i : i + batch]
            await ingest(engine, Batch(page, [Cursor(f"search:{k}", page[-1].external_id)]), source="x",
                         triage=triage, policy=POLICY)

    started = time.perf_counter()
    await asyncio.gather(*(stream(k) for k in range(streams)))
    took = time.perf_counter() - started
    await engine.dispose()
    return len(mentions) / took


async def fresh_pg(admin_url: str) -> tuple[str, str]:
    admin = create_async_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    name = f"om_bench_{uuid.uuid4().hex[:8]}"
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    await admin.dispose()
    return make_url(normalise_url(admin_url)).set(database=name).render_as_string(hide_password=False), name


async def drop_pg(admin_url: str, name: str) -> None:
    admin = create_async_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.dispose()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="mentions through the batched path")
    ap.add_argument("--batch", default="100,500",
                    help="mentions per poll, comma-separated (an X page holds 100; a busy poll reads max_pages=5)")
    ap.add_argument("--naive", type=int, default=2_000, help="mentions through the one-per-transaction path")
    ap.add_argument("--pg-url", default=os.environ.get("OUTREACH_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/test"))
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()

    mentions = make_mentions(args.n)
    triage = load_triage()
    started = time.perf_counter()
    for m in mentions:
        triage.classify(m)
    triage_rate = len(mentions) / (time.perf_counter() - started)
    print(f"triage alone: {triage_rate:,.0f} mentions/s ({len(mentions)} mentions, one core)")

    backends: list[tuple[str, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="om-bench-"))
    backends.append(("sqlite", f"sqlite+aiosqlite:///{tmp / 'batched.db'}"))
    pg_names: list[str] = []
    if not args.no_pg:
        try:
            url, name = await fresh_pg(args.pg_url)
            backends.append(("postgresql", url))
            pg_names.append(name)
        except Exception as e:  # no server: say so, measure SQLite anyway
            print(f"postgresql: skipped ({type(e).__name__}: {e})")

    print(f"{'backend':<11} {'per poll':>8} {'1 stream/s':>10} {'2 streams/s':>11} {'naive/s':>9} {'ratio':>6}")
    for label, url in backends:
        naive_url = url.replace("batched.db", "naive.db")
        if label == "postgresql":
            naive_url, name = await fresh_pg(args.pg_url)
            pg_names.append(name)
        naive = await run(naive_url, mentions[: args.naive], 1)
        for batch in (int(b) for b in args.batch.split(",")):
            rates = []
            for streams in (1, 2):
                if label == "postgresql":
                    run_url, name = await fresh_pg(args.pg_url)
                    pg_names.append(name)
                else:
                    run_url = url.replace("batched.db", f"b{batch}-s{streams}.db")
                rates.append(await run(run_url, mentions, batch, streams=streams))
            one, two = rates
            print(f"{label:<11} {batch:>8} {one:>10,.0f} {two:>11,.0f} {naive:>9,.0f} {max(one, two) / naive:>5.1f}x")
    for name in pg_names:
        await drop_pg(args.pg_url, name)
    print("goal: 6,000 mentions/s sustained on SQLite (store + triage + outbox)")


if __name__ == "__main__":
    asyncio.run(main())
