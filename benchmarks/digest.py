#!/usr/bin/env python3
"""How long a weekly digest takes, and how much memory, over a large mentions table.

    python benchmarks/digest.py [--n 1000000] [--days 28] [--db FILE] [--pg-url postgresql://…]

Stores `--n` mentions (real customer texts from ../shared/data when present, with triage-like
fields: category, complaint, sentiment, followers, metrics) spread evenly over `--days` days, then
builds the digest of the last 7 days (compared with the 7 before) through the real code path
(monitor.digest.build: one streamed pass over both weeks, themes, top posts, charts). Prints the
time to build (figures and charts apart) and the process's peak resident memory before and after.
A --db that already holds the rows is reused (the load is the slow part, not what is measured).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from monitor.digest import charts
from monitor.digest.config import DigestsConfig
from monitor.digest.load import compute
from monitor.digest.period import Period
from monitor.sandbox.texts import load_texts, render
from monitor.storage.engine import create_engine, normalise_url
from monitor.storage.migrate import upgrade

END = 1_796_000_000.0  # a fixed "now" (late November 2026), so runs are comparable
CATEGORIES = ("complaint", "delivery", "billing", "outage", "question", "praise", "other", "spam")


def rows(n: int, days: int, seed: int = 1):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    texts = [render(t, "acme") for t in load_texts()]
    span = days * 86400
    for i in range(n):
        created = END - span + span * i / n
        s = round(rng.uniform(-1, 1), 3)
        metrics = json.dumps({"like_count": int(rng.paretovariate(1.5)) - 1, "retweet_count": rng.randrange(3)})
        author = rng.randrange(50_000)
        yield (("x", "reddit")[i % 5 == 0], str(i), "search:acme", str(author), f"user{author}", f"User {author}",
               int(rng.paretovariate(1.2) * 50), texts[rng.randrange(len(texts))],
               f"https://x.com/user{author}/status/{i}", str(i), "", "", "en", metrics, False, created, created,
               "normal", CATEGORIES[rng.randrange(len(CATEGORIES))], rng.random() < 0.3, None, s)


def load_sqlite(path: Path, n: int, days: int) -> None:
    db = sqlite3.connect(path)
    have = db.execute("SELECT count(*) FROM mentions").fetchone()[0]
    if have >= n:
        print(f"reusing {have:,} stored mentions in {path}")
        return
    started = time.perf_counter()
    db.execute("PRAGMA synchronous=OFF")
    db.executemany(
        "INSERT INTO mentions (source, external_id, stream, author_id, author_username, author_name,"
        " author_followers, text, url, conversation_id, in_reply_to, quoted_id, lang, metrics, is_own, created_at,"
        " fetched_at, urgency, category, complaint, actionable, sentiment) VALUES"
        " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows(n, days))
    db.commit()
    db.close()
    print(f"stored {n:,} mentions over {days} days in {time.perf_counter() - started:.0f} s")


async def load_pg(engine, n: int, days: int) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        cols = ["source", "external_id", "stream", "author_id", "author_username", "author_name", "author_followers",
                "text", "url", "conversation_id", "in_reply_to", "quoted_id", "lang", "metrics", "is_own",
                "created_at", "fetched_at", "urgency", "category", "complaint", "actionable", "sentiment"]
        await raw.driver_connection.copy_records_to_table("mentions", records=list(rows(n, days)), columns=cols)
        await conn.commit()
    print(f"stored {n:,} mentions over {days} days in {time.perf_counter() - started:.0f} s")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(url: str) -> None:
    engine = create_engine(url)
    try:
        period = Period(END - 7 * 86400, END, ZoneInfo("Europe/London"))
        before = peak_mb()
        t0 = time.perf_counter()
        d = await compute(engine, period, brand="Acme", cfg=DigestsConfig(timezone="Europe/London"), now=END)
        t1 = time.perf_counter()
        pngs = charts.draw(d)
        t2 = time.perf_counter()
        print(f"  weekly digest: {d['volume']['total']:,} mentions this week, {d['volume']['previous']:,} the week"
              f" before; {len(d['themes']['rose'])} themes rose")
        print(f"  figures {t1 - t0:.1f} s + charts {t2 - t1:.1f} s ({len(pngs)} charts) = {t2 - t0:.1f} s")
        print(f"  peak resident memory {before:.0f} MB before, {peak_mb():.0f} MB after")
    finally:
        await engine.dispose()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--db", type=Path, default=None, help="SQLite file (kept; reused when it holds the rows)")
    ap.add_argument("--pg-url", default="", help="also measure PostgreSQL (a throw-away database)")
    a = ap.parse_args()

    tmp = None
    path = a.db
    if path is None:
        tmp = tempfile.TemporaryDirectory(prefix="om-digest-bench-")
        path = Path(tmp.name) / "bench.db"
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    load_sqlite(path, a.n, a.days)
    print(f"SQLite ({path}):")
    await measure(url)
    if tmp is not None:
        tmp.cleanup()

    if a.pg_url:
        admin_url = normalise_url(a.pg_url)
        name = f"om_bench_{uuid.uuid4().hex[:8]}"
        admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            pg = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
            engine = create_engine(pg)
            await upgrade(engine)
            await load_pg(engine, a.n, a.days)
            await engine.dispose()
            print("PostgreSQL:")
            await measure(pg)
        finally:
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
