"""Retention: raw mentions pruned after being rolled up per hour; a digest of the pruned period keeps
its counts and tone, and says the posts themselves are gone — on both backends."""
from __future__ import annotations

from digest_rows import END, PARIS, START, at, store
from sqlalchemy import func, select

from monitor.digest.config import CompetitorConfig, DigestsConfig
from monitor.digest.load import compute
from monitor.digest.period import Period
from monitor.digest.retention import prune
from monitor.storage.schema import mention_rollups, mentions

CFG = DigestsConfig(timezone="Europe/Paris", competitors=[CompetitorConfig(name="Globex")])
SAME = [("volume", "total"), ("volume", "previous"), ("volume", "complaints"), ("volume", "reach"),
        ("volume", "engagement"), ("volume", "by_day"), ("volume", "by_source"), ("volume", "by_category"),
        ("volume", "own_posts"), ("sentiment", "average"), ("sentiment", "previous_average"),
        ("sentiment", "by_day"), ("sentiment", "negative_share")]


async def _count(engine, table) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def test_digest_from_rollups_after_pruning(engine) -> None:
    await store(engine)
    period = Period(START, END, PARIS)
    before = await compute(engine, period, brand="Acme", cfg=CFG, now=END)

    # keep 1 day of raw posts as seen on 1 December: everything up to 30 Nov 00:00 is rolled up
    now = at(30, 0) + 86400
    done = await prune(engine, keep_seconds=86400, now=now)
    assert done.mentions == 11 and await _count(engine, mentions) == 1  # the one at 30 Nov 00:00 stays
    again = await prune(engine, keep_seconds=86400, now=now)  # a second run counts nothing twice
    assert again.mentions == 0
    rows = await _count(engine, mention_rollups)
    assert rows == done.rollup_rows > 0

    after = await compute(engine, period, brand="Acme", cfg=CFG, now=END)
    for section, field in SAME:
        assert after[section][field] == before[section][field], (section, field)
    assert [v["mentions"] for v in after["share_of_voice"]["voices"]] == [5, 1]
    for section in ("top_posts", "themes", "authors"):
        assert after[section]["status"] == "not available"
        assert "pruned" in after[section]["why"]
