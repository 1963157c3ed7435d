#!/usr/bin/env python3
"""What poison isolation costs: the edge (making text storable, bounding keys) per mention built, and
storing one poll page with 0, 1 or 5 items the database refuses (monitor/quarantine.py splits the page
until only those are left), on SQLite and on PostgreSQL.

    python benchmarks/poison.py [--n 50000] [--batch 500] [--pg-url postgresql://root@127.0.0.1:5432/test]

The refusal is a real database error: a trigger refuses any mention whose text says POISON.
PostgreSQL gets a throw-away database that is dropped afterwards.
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

from monitor import quarantine
from monitor.ingest import AlertPolicy
from monitor.models import Author, Batch, Cursor, Mention
from monitor.sandbox.db_faults import refuse_mentions_saying
from monitor.sandbox.texts import load_texts, render
from monitor.storage.engine import create_engine, normalise_url
from monitor.storage.migrate import upgrade
from monitor.triage import load_triage

POLICY = AlertPolicy({"critical": "#care-urgent", "high": "#care-urgent", "normal": "#care"})
BASE = datetime(2026, 11, 25, tzinfo=UTC).timestamp()


def build(texts: list, n: int, offset: int = 0, rng: random.Random | None = None, suffix: str = "") -> list[Mention]:
    rng = rng or random.Random(1)
    author = Author(id="10001", username="user1", name="User One", followers=1234)
    return [Mention(source="x", external_id=str(1_900_000_000_000_000_000 + offset + i),
                    text=render(texts[rng.randrange(len(texts))], "acme") + suffix, author=author,
                    created_at=datetime.fromtimestamp(BASE + i * 0.01, UTC), stream="search:acme",
                    conversation_id=str(1_900_000_000_000_000_000 + offset + i), lang="en",
                    metrics={"like_count": 3}) for i in range(n)]


def edge_cost(texts: list, n: int) -> None:
    rng = random.Random(2)
    rendered = [render(texts[rng.randrange(len(texts))], "acme") for _ in range(n)]
    author = Author(id="10001", username="user1", name="User One", followers=1234)
    at = datetime.fromtimestamp(BASE, UTC)

    def make(items: list[str]) -> float:
        t0 = time.perf_counter()
        for i, t in enumerate(items):
            Mention("x", str(1_900_000_000_000_000_000 + i), t, author, at, stream="search:acme",
                    url="https://x.com/user1/status/1", conversation_id="1", lang="en", metrics={"like_count": 3})
        return (time.perf_counter() - t0) / len(items) * 1e6

    with_edge, hostile = make(rendered), make([t + "\ud83d\x00" for t in rendered])
    edge = Mention.__post_init__
    try:
        Mention.__post_init__ = lambda self: None  # type: ignore[method-assign]  # the same class, no edge
        bare = make(rendered)
    finally:
        Mention.__post_init__ = edge  # type: ignore[method-assign]
    print(f"building a Mention: {bare:.2f} µs without the edge, {with_edge:.2f} µs with it "
          f"(+{with_edge - bare:.2f} µs), {hostile:.2f} µs when every text needs fixing")


async def pages(url: str, texts: list, batch: int, label: str) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    await refuse_mentions_saying(engine, "POISON")
    triage = load_triage()
    offset = 0
    try:
        for bad in (0, 1, 5):
            page = build(texts, batch, offset)
            offset += batch
            rng = random.Random(bad)
            for i in rng.sample(range(batch), bad):
                page[i] = Mention(**{**{f: getattr(page[i], f) for f in page[i].__slots__}, "text": "POISON"})
            t0 = time.perf_counter()
            out = await quarantine.store(engine, Batch(page, [Cursor("search:acme", page[-1].external_id)]),
                                         source="x", triage=triage, policy=POLICY)
            ms = (time.perf_counter() - t0) * 1000
            assert out.result.stored == batch - bad and len(out.quarantined) == bad
            print(f"{label}: a page of {batch} with {bad} refused item(s): {ms:7.1f} ms "
                  f"({out.result.stored} stored, {len(out.quarantined)} quarantined)")
    finally:
        await engine.dispose()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--pg-url", default=os.environ.get("OUTREACH_TEST_PG_URL", ""))
    args = ap.parse_args()
    texts = load_texts()
    edge_cost(texts, args.n)
    with tempfile.TemporaryDirectory() as d:
        await pages(f"sqlite:///{Path(d) / 'bench.db'}", texts, args.batch, "sqlite")
    if args.pg_url:
        admin_url = normalise_url(args.pg_url)
        name = f"om_bench_{uuid.uuid4().hex[:10]}"
        admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            await pages(make_url(admin_url).set(database=name).render_as_string(hide_password=False), texts,
                        args.batch, "postgresql")
        finally:
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
