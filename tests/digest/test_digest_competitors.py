"""Competitors: searched as extra streams of every searching source, stored and triaged for share of
voice, and never ticketed, attached to an incident, or alerted (so never answered)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from monitor.config import parse_config
from monitor.digest.competitors import listen_only_streams, with_competitor_queries
from monitor.ingest import AlertPolicy, ingest
from monitor.models import Author, Batch, Mention
from monitor.storage.schema import mentions, outbox, tickets
from monitor.triage import load_triage

CFG = {
    "sources": [
        {"type": "x", "name": "x", "bearer_token": "t", "handles": ["acme"], "queries": ["acme", "globex"]},
        {"type": "reddit", "name": "reddit", "client_id": "c", "client_secret": "s", "username": "u",
         "password": "p", "queries": ["acme"], "subreddits": ["acme"]},
    ],
    "digests": {"competitors": [{"name": "Globex"}, {"name": "Initech", "queries": ["initech support"]}]},
}


def test_competitor_queries_join_every_searching_source() -> None:
    cfg = with_competitor_queries(parse_config(CFG, env={}))
    assert cfg.sources[0].queries == ["acme", "globex", "initech support"]  # "globex" is not asked twice
    assert cfg.sources[1].queries == ["acme", "globex", "initech support"]
    assert listen_only_streams(cfg) == {"search:globex", "search:initech support"}


@pytest.fixture(scope="module")
def triage():
    return load_triage()


def _m(eid: str, stream: str, text: str) -> Mention:
    return Mention("x", eid, text, Author(eid, f"user{eid}", followers=10), datetime(2026, 11, 30, tzinfo=UTC),
                   stream=stream, url=f"https://x.com/u/status/{eid}")


async def test_competitor_posts_are_stored_but_never_ticketed_or_alerted(engine, triage) -> None:
    angry = "my order never arrived and support ignores me, I want a refund now"
    policy = AlertPolicy({"critical": "#care-urgent", "high": "#care-urgent", "normal": "#care"},
                         listen_only=frozenset({"search:globex"}))
    batch = Batch([_m("1", "search:globex", f"@globex {angry}"), _m("2", "search:acme", f"@acme {angry}")], [])
    r = await ingest(engine, batch, source="x", triage=triage, policy=policy)
    assert r.stored == 2
    async with engine.connect() as conn:
        stored = dict((await conn.execute(select(mentions.c.external_id, mentions.c.category))).all())
        n_tickets = (await conn.execute(select(func.count()).select_from(tickets))).scalar_one()
        keys = [k for (k,) in await conn.execute(select(outbox.c.key))]
    assert set(stored) == {"1", "2"} and stored["1"] is not None  # triaged: its tone counts for share of voice
    assert n_tickets == 1  # ours only
    assert keys == ["slack.mention:x:2"]
