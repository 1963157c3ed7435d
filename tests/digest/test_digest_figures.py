"""The digest's figures from a known set of stored mentions, against values computed by hand,
on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from digest_rows import END, PARIS, START, store

from monitor.digest.config import CompetitorConfig, DigestsConfig
from monitor.digest.load import compute
from monitor.digest.period import Period, period_from


@pytest.fixture
async def digest(engine):
    await store(engine)
    cfg = DigestsConfig(timezone="Europe/Paris", competitors=[CompetitorConfig(name="Globex")])
    return await compute(engine, Period(START, END, PARIS), brand="Acme", cfg=cfg, now=END)


# (path into the digest, value computed by hand from ROWS)
EXPECTED = [
    ("title", "Acme — Weekly digest, 23 Nov – 29 Nov 2026"),
    ("period.versus", "last week"),
    ("volume.total", 5),  # own post, competitor post and the one at the end instant are not counted
    ("volume.previous", 2),
    ("volume.change_pct", 150.0),
    ("volume.text", "5 mentions (+150% vs last week)"),
    ("volume.own_posts", 1),
    ("volume.complaints", 3),
    ("volume.complaints_text", "3 complaints (+200% vs last week)"),
    ("volume.reach", 52_210),
    ("volume.engagement", 21),  # 3+1 (impressions are not engagement) + 10 + 5+2 (ups repeats score)
    ("volume.by_source", [
        {"name": "x", "count": 4, "previous": 2, "change_pct": 100.0, "change_text": "+100% vs last week"},
        {"name": "reddit", "count": 1, "previous": 0, "change_pct": None, "change_text": "new (none last week)"}]),
    ("volume.by_category.*.name", ["billing", "praise", "question", "delivery"]),
    ("volume.by_category.*.count", [3, 1, 1, 0]),
    ("volume.by_day.*.count", [0, 2, 1, 1, 0, 0, 1]),  # Sunday 23:30 in Paris is Sunday, not Monday (UTC)
    ("volume.by_day.*.day", ["Mon 23 Nov", "Tue 24 Nov", "Wed 25 Nov", "Thu 26 Nov", "Fri 27 Nov", "Sat 28 Nov",
                             "Sun 29 Nov"]),
    ("sentiment.average", -0.14),  # (-0.6 - 0.4 - 0.5 + 0.8 + 0.0) / 5
    ("sentiment.previous_average", 0.15),
    ("sentiment.trend", "worse"),
    ("sentiment.positive_share", 20.0),
    ("sentiment.negative_share", 60.0),
    ("sentiment.text", "average tone -0.14 (−0.29 vs last week): worse"),
    ("top_posts.by_reach.*.author", ["bob", "ann", "ann", "carl", "dan"]),
    ("top_posts.by_reach.*.id", [2, 1, 4, 3, 7]),
    ("top_posts.by_engagement.*.id", [2, 3, 1]),  # posts nobody engaged with are left out
    ("top_posts.by_reach.0.url", "https://x.com/bob/status/2"),
    ("themes.rose.*.term", ["refund delayed"]),  # "refund" and "delayed" alone add nothing; brand name ignored
    ("themes.rose.0.count", 3),
    ("themes.rose.0.share", 60.0),
    ("themes.rose.0.examples.*.id", [2, 1]),  # widest reach first
    ("themes.fell", []),
    ("share_of_voice.voices.*.name", ["our brand", "Globex"]),
    ("share_of_voice.voices.*.mentions", [5, 1]),
    ("share_of_voice.voices.*.share", [83.3, 16.7]),
    ("share_of_voice.voices.*.previous_share", [50.0, 50.0]),
    ("authors.by_reach.*.author", ["bob", "ann", "carl", "dan"]),
    ("authors.by_reach.*.mentions", [1, 2, 1, 1]),
    ("authors.most_active.*.author", ["ann"]),
    ("incidents.complaint_spikes", []),
    ("incidents.items.*.id", [1, 3]),  # the one resolved the week before is not listed
    ("incidents.items.0.text", "Login failures (api, major): opened Wed 25 Nov 2026, 08:00, resolved after 3 h;"
                               " 1 mention about it"),
    ("incidents.items.1.text", "Possible incident: complaints about checkout (checkout, minor, internal): opened"
                               " Sun 29 Nov 2026, 20:00, still open; 0 mentions about it"),
    ("care.tickets_opened.count", 3),
    ("care.tickets_opened.text", "3 tickets opened (+200% vs last week)"),
    ("care.tickets_solved.count", 1),
    ("care.first_response.median_s", 4500.0),  # 30 min and 2 h
    ("care.first_response.p90_s", 7200.0),  # nearest rank of two
    ("care.first_response.text", "first response: median 75 min, 90% within 2 h (2 of 3 tickets answered)"),
    ("care.sla.text", "33% of tickets answered within 60 min (1 of 3)"),
    ("coverage.complete", False),
    ("coverage.events.*.kind", ["throttled", "failing"]),  # the pause of the week before is not listed
    ("coverage.events.1.text", "x: failing from Sun 29 Nov 2026, 22:00 to Sun 29 Nov 2026, 23:00 (60 min)"
                               " — TransientError: 503"),
    ("coverage.events.0.ongoing", True),
]


def pick(data, path: str):
    head, _, rest = path.partition(".")
    if head == "*":
        return [pick(x, rest) if rest else x for x in data]
    value = data[int(head)] if isinstance(data, list) else data[head]
    return pick(value, rest) if rest else value


@pytest.mark.parametrize(("path", "expected"), EXPECTED, ids=[p for p, _ in EXPECTED])
async def test_figures(digest, path, expected) -> None:
    assert pick(digest, path) == expected


async def test_share_of_voice_not_configured_and_empty_period(engine) -> None:
    cfg = DigestsConfig()
    d = await compute(engine, Period(START, END, PARIS), brand="Acme", cfg=cfg, now=END)
    assert d["share_of_voice"]["status"] == "not configured"
    assert d["volume"]["status"] == "no data" and d["volume"]["total"] == 0
    assert d["sentiment"]["status"] == "no data" and "average" not in d["sentiment"]  # no made-up zero
    assert d["coverage"]["complete"] is True


def test_period_from_spans_and_dates() -> None:
    p = period_from("7d", "2026-11-30", PARIS, now=0)
    assert (p.start, p.end, p.versus) == (START, END, "last week")
    assert period_from("2026-11-29", "2026-11-30", PARIS, now=0).versus == "the day before"
    with pytest.raises(ValueError, match="neither a span"):
        period_from("last tuesday", None, PARIS, now=END)
