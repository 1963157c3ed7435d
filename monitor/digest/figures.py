"""The digest's figures: pure functions over stored rows, no I/O.

`Tally` folds one period's mentions (or hourly roll-ups, for hours whose raw rows were pruned) in a
single pass with bounded memory (heaps for the top posts); `build_digest` compares two tallies and
writes the sections, each with a `status`: "ok", "no data", "not configured" or "not available yet"
(a figure that cannot be computed is said to be missing, never shown as zero).
"""
from __future__ import annotations

import heapq
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.digest import humanize as H
from monitor.digest.period import DayIndex, Period
from monitor.digest.themes import Theme, rose_and_fell, skipped, terms

POSITIVE, NEGATIVE = 0.05, -0.05  # VADER's own thresholds for a positive / negative compound score
# What counts as engagement: people acting on a post (views and duplicate counters left out).
ENGAGEMENT_KEYS = ("like_count", "retweet_count", "reply_count", "quote_count", "bookmark_count", "score",
                   "num_comments")
TOP = 5


@dataclass(frozen=True, slots=True)
class Row:
    """One stored mention, as the digest reads it (see load.MENTION_COLUMNS for the order)."""

    id: int
    source: str
    stream: str
    author_id: str
    author_username: str
    author_name: str
    followers: int
    text: str
    url: str
    created_at: float
    category: str | None
    complaint: bool | None
    sentiment: float | None
    metrics: Mapping[str, Any] | None
    is_own: bool
    removed: bool = False  # deleted or removed on the platform: counted as said, never as a customer

    @property
    def engagement(self) -> int:
        m = self.metrics or {}
        return sum(int(m[k]) for k in ENGAGEMENT_KEYS if isinstance(m.get(k), (int, float)))


@dataclass(frozen=True, slots=True)
class Rollup:
    """One hourly roll-up row (kept after raw mentions are pruned)."""

    hour_at: float
    source: str
    stream: str
    category: str
    mentions: int
    own: int
    complaints: int
    positive: int
    negative: int
    sentiment_sum: float
    sentiment_n: int
    reach: int
    engagement: int


@dataclass(frozen=True)
class Competitors:
    """Competitors named in config and the search streams that find them (stored, never alerted)."""

    streams: Mapping[str, str] = field(default_factory=dict)  # stream name -> competitor name
    names: tuple[str, ...] = ()

    def of(self, stream: str) -> str | None:
        return self.streams.get(stream)


@dataclass
class _Author:
    source: str
    username: str
    name: str
    followers: int
    mentions: int = 0
    engagement: int = 0
    best: tuple[int, int, Row] | None = None  # (engagement, -id, row) of their most engaging post


class Tally:
    """One period's figures, folded row by row."""

    def __init__(self, period: Period, competitors: Competitors = Competitors(), ignore_terms: frozenset[str] = frozenset()):
        self.period = period
        self.day = DayIndex(period.day_starts())
        n = len(self.day.starts)
        self.competitors = competitors
        self.ignore = skipped(ignore_terms)
        self.total = 0
        self.own = 0
        self.by_source: Counter[str] = Counter()
        self.by_category: Counter[str] = Counter()
        self.by_day = [0] * n
        self.complaints = 0
        self.complaints_by_day = [0] * n
        self.sentiment_sum = 0.0
        self.sentiment_n = 0
        self.positive = 0
        self.negative = 0
        self.sent_sum_by_day = [0.0] * n
        self.sent_n_by_day = [0] * n
        self.pos_by_day = [0] * n
        self.neg_by_day = [0] * n
        self.reach = 0
        self.engagement = 0
        self.competitor_counts: Counter[str] = Counter()
        self.competitor_sentiment: dict[str, list[float]] = {}
        self.top_reach: list[tuple[int, int, Row]] = []
        self.top_engagement: list[tuple[int, int, Row]] = []
        self.terms: Counter[str] = Counter()
        self.authors: dict[tuple[str, str], _Author] = {}
        self.raw_posts = 0  # posts whose text was read (themes, top posts, authors need them)
        self.rolled_up = 0  # mentions known only from roll-ups (raw rows pruned)

    # ── folding ─────────────────────────────────────────────────────────────────────────────
    def add(self, r: Row) -> None:
        if not (self.period.start <= r.created_at < self.period.end):
            return
        if r.is_own:
            self.own += 1
            return
        rival = self.competitors.of(r.stream)
        if rival is not None:  # share of voice only: never in the brand's own figures
            self.competitor_counts[rival] += 1
            if r.sentiment is not None:
                self.competitor_sentiment.setdefault(rival, [0.0, 0])
                s = self.competitor_sentiment[rival]
                s[0] += r.sentiment
                s[1] += 1
            return
        d = self.day(r.created_at)
        eng = r.engagement
        self._count(r.source, r.category or "untriaged", d, 1, int(bool(r.complaint)), r.followers, eng)
        if r.sentiment is not None:
            pos, neg = int(r.sentiment >= POSITIVE), int(r.sentiment <= NEGATIVE)
            self._tone(d, r.sentiment, 1, pos, neg)
        if r.removed:
            return  # counted as said; "[deleted]" is nobody: no author, no top post, no theme
        self.raw_posts += 1
        _keep(self.top_reach, (r.followers, -r.id, r))
        _keep(self.top_engagement, (eng, -r.id, r))
        key = (r.source, r.author_id)
        a = self.authors.get(key)
        if a is None:
            a = self.authors[key] = _Author(r.source, r.author_username, r.author_name, r.followers)
        a.mentions += 1
        a.engagement += eng
        a.followers = max(a.followers, r.followers)
        if a.best is None or (eng, -r.id) > a.best[:2]:
            a.best = (eng, -r.id, r)
        # counted in C (Counter.update); example posts are looked up afterwards for the few themes shown
        self.terms.update(terms(r.text, self.ignore))

    def add_rollup(self, r: Rollup) -> None:
        if not (self.period.start <= r.hour_at < self.period.end):
            return
        self.own += r.own
        if not r.mentions:
            return
        rival = self.competitors.of(r.stream)
        if rival is not None:
            self.competitor_counts[rival] += r.mentions
            return
        d = self.day(r.hour_at)
        self._count(r.source, r.category or "untriaged", d, r.mentions, r.complaints, r.reach, r.engagement)
        if r.sentiment_n:
            self._tone(d, r.sentiment_sum, r.sentiment_n, r.positive, r.negative)
        self.rolled_up += r.mentions

    def _count(self, source: str, category: str, d: int, n: int, complaints: int, reach: int, eng: int) -> None:
        self.total += n
        self.by_source[source] += n
        self.by_category[category] += n
        self.by_day[d] += n
        self.complaints += complaints
        self.complaints_by_day[d] += complaints
        self.reach += reach
        self.engagement += eng

    def _tone(self, d: int, s: float, n: int, pos: int, neg: int) -> None:
        self.sentiment_sum += s
        self.sentiment_n += n
        self.positive += pos
        self.negative += neg
        self.sent_sum_by_day[d] += s
        self.sent_n_by_day[d] += n
        self.pos_by_day[d] += pos
        self.neg_by_day[d] += neg

    @property
    def sentiment(self) -> float | None:
        return self.sentiment_sum / self.sentiment_n if self.sentiment_n else None


def _keep(heap: list[tuple[int, int, Row]], item: tuple[int, int, Row], k: int = TOP) -> None:
    """Keep the k largest items (ties: the older post, lower id, first)."""
    if len(heap) < k:
        heapq.heappush(heap, item)
    elif item[:2] > heap[0][:2]:
        heapq.heapreplace(heap, item)


def _largest(heap: list[tuple[int, int, Row]]) -> list[Row]:
    return [r for *_, r in sorted(heap, key=lambda x: (x[0], x[1]), reverse=True)]


# ── the sections ────────────────────────────────────────────────────────────────────────────
def post(r: Row, tz: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "source": r.source,
        "author": r.author_username or r.author_name or r.author_id,
        "author_name": r.author_name,
        "followers": r.followers,
        "followers_text": H.compact(r.followers),
        "engagement": r.engagement,
        "engagement_text": H.plural(r.engagement, "engagement"),
        "text": r.text,
        "url": r.url,
        "at": r.created_at,
        "at_text": H.when(r.created_at, tz),
        "category": r.category or "",
        "sentiment": None if r.sentiment is None else round(r.sentiment, 3),
    }


def _counts(now: Counter[str], before: Counter[str], versus: str) -> list[dict[str, Any]]:
    names = sorted(set(now) | set(before), key=lambda k: (-now.get(k, 0), -before.get(k, 0), k))
    return [
        {"name": k, "count": now.get(k, 0), "previous": before.get(k, 0),
         "change_pct": _r(H.change_pct(now.get(k, 0), before.get(k, 0))),
         "change_text": H.change(now.get(k, 0), before.get(k, 0), versus)}
        for k in names
    ]


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)


def volume(cur: Tally, prev: Tally) -> dict[str, Any]:
    v, tz = cur.period.versus, cur.period.tz
    return {
        "status": "ok" if cur.total or prev.total else "no data",
        "total": cur.total,
        "previous": prev.total,
        "change_pct": _r(H.change_pct(cur.total, prev.total)),
        "text": f"{H.count(cur.total)} mentions ({H.change(cur.total, prev.total, v)})",
        "own_posts": cur.own,
        "complaints": cur.complaints,
        "complaints_previous": prev.complaints,
        "complaints_text": f"{H.count(cur.complaints)} complaints ({H.change(cur.complaints, prev.complaints, v)})",
        "reach": cur.reach,
        "reach_text": H.compact(cur.reach),
        "engagement": cur.engagement,
        "by_source": _counts(cur.by_source, prev.by_source, v),
        "by_category": _counts(cur.by_category, prev.by_category, v),
        "by_day": [{"day": H.day(ts, tz), "start": ts, "count": n, "complaints": c}
                   for ts, n, c in zip(cur.day.starts, cur.by_day, cur.complaints_by_day)],
    }


def sentiment(cur: Tally, prev: Tally) -> dict[str, Any]:
    tz, v = cur.period.tz, cur.period.versus
    avg, before = cur.sentiment, prev.sentiment
    by_day = []
    for ts, s, n, p, ng in zip(cur.day.starts, cur.sent_sum_by_day, cur.sent_n_by_day, cur.pos_by_day, cur.neg_by_day):
        by_day.append({"day": H.day(ts, tz), "start": ts, "average": _r(s / n, 3) if n else None, "scored": n,
                       "positive": p, "negative": ng})
    if avg is None:
        return {"status": "no data", "by_day": by_day}
    trend = "steady" if before is None or abs(avg - before) < 0.05 else ("better" if avg > before else "worse")
    return {
        "status": "ok",
        "average": _r(avg, 3),
        "previous_average": _r(before, 3),
        "trend": trend,
        "text": f"average tone {avg:+.2f} ({H.points(avg, before, v) or 'nothing to compare with'}): {trend}",
        "positive": cur.positive,
        "negative": cur.negative,
        "scored": cur.sentiment_n,
        "positive_share": _r(cur.positive / cur.sentiment_n * 100),
        "negative_share": _r(cur.negative / cur.sentiment_n * 100),
        "previous_negative_share": _r(prev.negative / prev.sentiment_n * 100) if prev.sentiment_n else None,
        "by_day": by_day,
    }


def _pruned(cur: Tally) -> dict[str, Any] | None:
    if cur.raw_posts == 0 and cur.rolled_up:
        return {"status": "not available",
                "why": "the posts of this period were pruned (retention); only daily counts were kept"}
    return None


def top_posts(cur: Tally) -> dict[str, Any]:
    if (p := _pruned(cur)) is not None:
        return p
    tz = cur.period.tz
    return {
        "status": "ok" if cur.raw_posts else "no data",
        "by_reach": [post(r, tz) for r in _largest(cur.top_reach)],
        "by_engagement": [post(r, tz) for r in _largest(cur.top_engagement) if r.engagement > 0],
    }


def ranked_themes(cur: Tally, prev: Tally) -> tuple[list[Theme], list[Theme]]:
    return rose_and_fell(cur.terms, cur.raw_posts, prev.terms, prev.raw_posts)


def pick_examples(rows: Iterable[Row], wanted: Iterable[str], ignore: frozenset[str] = frozenset(),
                  k: int = 2) -> dict[str, list[Row]]:
    """For each wanted term, the first `k` rows (given widest reach first) that use it."""
    want, skip = set(wanted), skipped(ignore)
    out: dict[str, list[Row]] = {t: [] for t in want}
    for r in rows:
        for t in terms(r.text, skip) & want:
            if len(out[t]) < k:
                out[t].append(r)
    return out


def themes(cur: Tally, prev: Tally, rose_examples: Mapping[str, Sequence[Row]] | None = None,
           fell_examples: Mapping[str, Sequence[Row]] | None = None) -> dict[str, Any]:
    """`*_examples`: posts that use each theme, widest reach first (load.py finds them)."""
    if (p := _pruned(cur)) is not None:
        return p
    if not cur.raw_posts:
        return {"status": "no data", "rose": [], "fell": []}
    rose, fell = ranked_themes(cur, prev)
    tz, v = cur.period.tz, cur.period.versus

    def out(t: Any, examples: Sequence[Row] | None) -> dict[str, Any]:
        examples = examples or []
        return {"term": t.term, "count": t.count, "previous": t.previous,
                "share": _r(t.share * 100), "previous_share": _r(t.previous_share * 100),
                "text": f"“{t.term}”: {H.count(t.count)} posts ({H.change(t.count, t.previous, v)})",
                "examples": [post(r, tz) for r in examples]}

    return {
        "status": "ok",
        "baseline": "the previous period" if prev.raw_posts else "none (no posts stored before this period)",
        "rose": [out(t, (rose_examples or {}).get(t.term)) for t in rose],
        "fell": [out(t, (fell_examples or {}).get(t.term)) for t in fell],
    }


def authors(cur: Tally, limit: int = TOP) -> dict[str, Any]:
    if (p := _pruned(cur)) is not None:
        return p
    ranked = sorted(cur.authors.values(), key=lambda a: (-a.followers, -a.mentions, a.username))[:limit]
    tz = cur.period.tz
    return {
        "status": "ok" if ranked else "no data",
        "by_reach": [
            {"author": a.username or a.name, "name": a.name, "source": a.source, "followers": a.followers,
             "followers_text": H.compact(a.followers), "mentions": a.mentions, "engagement": a.engagement,
             "post": post(a.best[2], tz) if a.best else None}
            for a in ranked
        ],
        "most_active": [
            {"author": a.username or a.name, "source": a.source, "mentions": a.mentions, "followers": a.followers}
            for a in sorted(cur.authors.values(), key=lambda a: (-a.mentions, -a.followers, a.username))[:limit]
            if a.mentions > 1
        ],
    }


def share_of_voice(cur: Tally, prev: Tally) -> dict[str, Any]:
    names = cur.competitors.names
    if not names:
        return {"status": "not configured",
                "why": "name competitors under digests.competitors in the config to compare with them"}
    v = cur.period.versus
    everyone = cur.total + sum(cur.competitor_counts.values())
    before = prev.total + sum(prev.competitor_counts.values())
    rows = [("brand", "our brand", cur.total, prev.total, cur.sentiment)]
    for n in names:
        s = cur.competitor_sentiment.get(n)
        rows.append(("competitor", n, cur.competitor_counts.get(n, 0), prev.competitor_counts.get(n, 0),
                     s[0] / s[1] if s and s[1] else None))
    return {
        "status": "ok" if everyone else "no data",
        "total": everyone,
        "voices": [
            {"kind": kind, "name": name, "mentions": c, "previous": p,
             "share": _r(c / everyone * 100) if everyone else None,
             "previous_share": _r(p / before * 100) if before else None,
             "sentiment": _r(s, 3),
             "text": f"{name}: {H.share(c, everyone)} of mentions ({H.change(c, p, v)})"}
            for kind, name, c, p, s in rows
        ],
    }


def spikes(cur: Tally, prev: Tally, *, factor: float = 2.0, min_count: int = 5) -> list[dict[str, Any]]:
    """Days with at least `factor` times the previous period's daily complaints (and `min_count`)."""
    days_before = max(1, len(prev.day.starts))
    usual = prev.complaints / days_before
    tz = cur.period.tz
    return [{"day": H.day(ts, tz), "complaints": c, "usual": _r(usual),
             "text": f"{H.day(ts, tz)}: {H.count(c)} complaints (usually about {usual:.0f} a day)"}
            for ts, c in zip(cur.day.starts, cur.complaints_by_day) if c >= min_count and c >= factor * max(usual, 1)]


def incidents(cur: Tally, prev: Tally, found: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"complaint_spikes": spikes(cur, prev)}
    if found is None:
        out.update(status="not available yet", why="incidents are not recorded by this version yet")
        return out
    tz, p = cur.period.tz, cur.period
    items = []
    for i in found:
        end = i["resolved_at"]
        lasted = (min(end, p.end) if end is not None else p.end) - max(i["opened_at"], p.start)
        items.append({
            "id": i["id"], "service": i["service"], "title": i["title"], "status": i["status"], "impact": i["impact"],
            "public": bool(i["public"]), "opened_at": i["opened_at"], "resolved_at": end, "mentions": i["mentions"],
            "text": f"{i['title']} ({i['service']}, {i['impact']}{'' if i['public'] else ', internal'}): "
                    f"opened {H.when(i['opened_at'], tz)}, "
                    + (f"resolved after {H.duration(end - i['opened_at'])}" if end is not None else "still open")
                    + f"; {H.plural(i['mentions'], 'mention')} about it",
            "seconds_in_period": max(0.0, lasted),
        })
    out.update(status="ok", count=len(items), items=items,
               text="no incident in the period" if not items else f"{H.plural(len(items), 'incident')}")
    return out


@dataclass(frozen=True, slots=True)
class Care:
    """What the tickets say for the period; None where this version does not record the figure."""

    opened: int | None = None
    solved: int | None = None
    first_response: Sequence[float] | None = None  # seconds, one per ticket answered
    sla_seconds: float | None = None  # the first-response target
    overdue: int = 0  # tickets still unanswered past the target when the period ended


def care(c: Care, prev: Care, versus: str) -> dict[str, Any]:
    def missing(what: str) -> dict[str, str]:
        return {"status": "not available yet", "why": f"{what} is not recorded by this version yet"}

    out: dict[str, Any] = {}
    if c.opened is None:
        return {"status": "not available yet", "why": "tickets are not recorded"}
    out["tickets_opened"] = {"status": "ok", "count": c.opened, "previous": prev.opened,
                             "text": f"{H.plural(c.opened, 'ticket')} opened ({H.change(c.opened, prev.opened or 0, versus)})"}
    out["tickets_solved"] = missing("when a ticket is solved") if c.solved is None else \
        {"status": "ok", "count": c.solved, "text": f"{H.plural(c.solved, 'ticket')} solved"}
    if c.first_response is None:
        out["first_response"] = missing("the brand's first response to a ticket")
        out["sla"] = missing("the response-time SLA")
    elif not c.first_response:
        out["first_response"] = {"status": "no data"}
    else:
        fr = sorted(c.first_response)
        med = statistics.median(fr)
        p90 = fr[math.ceil(0.9 * len(fr)) - 1]  # nearest rank
        out["first_response"] = {"status": "ok", "median_s": med, "p90_s": p90, "answered": len(fr),
                                 "text": f"first response: median {H.duration(med)}, 90% within {H.duration(p90)}"
                                         f" ({len(fr)} of {c.opened} tickets answered)"}
    if c.first_response is not None and c.sla_seconds is None:
        out["sla"] = {"status": "not configured", "why": "set digests.response_target_minutes"}
    elif c.first_response is not None:
        # attainment over the tickets of the period that are answered or already past the target
        # (one opened minutes before the period ended has not missed anything yet)
        answered = list(c.first_response)
        met = sum(1 for x in answered if x <= c.sla_seconds)
        of = len(answered) + c.overdue
        out["sla"] = {"status": "ok" if of else "no data", "met": met, "of": of,
                      "share": _r(met / of * 100) if of else None,
                      "text": f"{H.share(met, of)} of tickets answered within {H.duration(c.sla_seconds)}"
                              f" ({met} of {of})"}
    out["status"] = "ok"
    return out


def coverage(events: Sequence[Mapping[str, Any]], period: Period) -> dict[str, Any]:
    """The ledger: which ranges may be missing and why (each episode clipped to the period)."""
    tz = period.tz
    items = []
    for e in events:
        start = max(period.start, e["start"])
        end = min(period.end, e["end"] if e["end"] is not None else period.end)
        if end <= start and e["kind"] != "gap":
            continue
        where = e["source"] + (f" / {e['stream']}" if e["stream"] else "")
        items.append({
            **e, "from": start, "to": end, "ongoing": e["end"] is None, "seconds": max(0.0, end - start),
            "text": f"{where}: {e['kind']} from {H.when(start, tz)} to "
                    f"{'now (still going on)' if e['end'] is None else H.when(end, tz)} "
                    f"({H.duration(max(0.0, end - start))}){' — ' + e['detail'] if e['detail'] else ''}",
        })
    missing = [i for i in items if i["kind"] in ("paused", "failing", "gap", "quiet")]
    return {
        "status": "ok",
        "complete": not missing,
        "text": "every source was polled throughout the period" if not items else
                f"{len(items)} coverage events: figures may miss posts in the ranges below" if missing else
                f"{len(items)} coverage events (throttling: posts came late, none should be missing)",
        "events": items,
    }


def build_digest(cur: Tally, prev: Tally, *, brand: str, coverage_events: Sequence[Mapping[str, Any]] = (),
                 care_now: Care = Care(), care_before: Care = Care(),
                 incident_list: Sequence[Mapping[str, Any]] | None = None,
                 theme_examples: tuple[Mapping[str, Sequence[Row]], Mapping[str, Sequence[Row]]] = ({}, {}),
                 generated_at: float, schedule: str = "") -> dict[str, Any]:
    p = cur.period
    tz = p.tz
    label = H.period_label(p.start, p.end, tz)
    kind = {"the day before": "Daily", "last week": "Weekly"}.get(p.versus, "")
    return {
        "title": f"{brand} — {kind + ' digest' if kind else 'Digest'}, {label}",
        "brand": brand,
        "schedule": schedule,
        "period": {"start": p.start, "end": p.end, "label": label, "tz": str(tz), "versus": p.versus,
                   "from_text": H.when(p.start, tz), "to_text": H.when(p.end, tz),
                   "previous_start": p.previous.start, "previous_end": p.previous.end},
        "generated_at": generated_at,
        "generated_text": H.when(generated_at, tz),
        "volume": volume(cur, prev),
        "sentiment": sentiment(cur, prev),
        "top_posts": top_posts(cur),
        "themes": themes(cur, prev, *theme_examples),
        "share_of_voice": share_of_voice(cur, prev),
        "authors": authors(cur),
        "incidents": incidents(cur, prev, incident_list),
        "care": care(care_now, care_before, p.versus),
        "coverage": coverage(coverage_events, p),
    }


SECTIONS = ("volume", "sentiment", "top_posts", "themes", "share_of_voice", "authors", "incidents", "care",
            "coverage")
