"""The signals beside the words: tone, reach, engagement, repeat contact, open incidents.

Each signal is a pure function returning the points it adds to the score and the reason a person
reads ("author has 48k followers"), or no reason when it adds nothing.
"""
from __future__ import annotations

import math
from functools import lru_cache
from collections.abc import Mapping, Sequence

from monitor.triage.rules import SentimentBands, Signals

ENGAGEMENT_KEYS = ("like_count", "retweet_count", "reply_count", "quote_count", "likes", "reposts",
                   "replies", "quotes", "score", "num_comments")


def human_count(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"
    if n >= 1000:
        return f"{n / 1000:.1f}".rstrip("0").rstrip(".") + "k"
    return str(int(n))


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def signed(x: float) -> str:
    """+0.52, −0.24 (a real minus sign)."""
    return _signed(x) if x else f"{x:+.2f}".replace("-", "−")  # 0.0 and -0.0: one cache key, two texts


@lru_cache(maxsize=1 << 15)  # VADER's scores have four decimals: formatting them once each is enough
def _signed(x: float) -> str:
    return f"{x:+.2f}".replace("-", "−")


def tone(compound: float, bands: SentimentBands, cfg: Signals) -> tuple[float, str | None]:
    """Negative tone raises urgency (up to `sentiment_points`); a positive one lowers it a little."""
    c = signed(compound)
    if compound <= bands.very_negative:
        return cfg.sentiment_points * min(1.0, -compound), f"very negative tone ({c})"
    if compound <= bands.negative:
        return cfg.sentiment_points * -compound, f"negative tone ({c})"
    if compound >= bands.positive:
        return -cfg.sentiment_points / 4, f"positive tone ({c})"
    return 0.0, None


def reach(followers: int, verified: bool, cfg: Signals) -> tuple[float, str | None]:
    points = 0.0
    parts = []
    if followers > cfg.reach_min_followers:
        # points per tenfold above the minimum: an ordinary account adds nothing
        decades = math.log10(followers / cfg.reach_min_followers)
        points = min(cfg.reach_max, cfg.reach_points_per_decade * decades)
        parts.append(f"author has {human_count(followers)} followers")
    if verified:
        points += cfg.verified_points
        parts.append("verified author" if not parts else "verified")
    return points, ", ".join(parts) or None


def engagement_total(metrics: Mapping[str, object] | None) -> int:
    if not metrics:
        return 0
    total = 0
    for k in ENGAGEMENT_KEYS:
        v = metrics.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            total += int(v)
    return total


def engagement(metrics: Mapping[str, object] | None, age_hours: float | None, cfg: Signals) -> tuple[float, str | None]:
    """log10 of likes + reposts + replies + quotes; fast engagement (per hour) counts for more."""
    total = engagement_total(metrics)
    if total < 5:
        return 0.0, None
    points = min(cfg.engagement_max, cfg.engagement_points_per_decade * math.log10(total))
    reason = f"{human_count(total)} likes/reposts/replies"
    if age_hours is not None and age_hours > 0:
        per_hour = total / max(age_hours, 0.25)
        if per_hour >= 50:
            points = min(cfg.engagement_max, points * 1.5)
            reason += f" ({human_count(per_hour)}/h)"
    return points, reason


def repeat_contact(prior_contacts: int, cfg: Signals) -> tuple[float, str | None]:
    if prior_contacts <= 0:
        return 0.0, None
    points = min(cfg.repeat_max, cfg.repeat_points * prior_contacts)
    return points, f"{ordinal(prior_contacts + 1)} message in 24 h"


def incident(text_lower: str, category: str, open_incidents: Sequence[str], cfg: Signals) -> tuple[float, str | None]:
    """An open incident the mention names (or any, for an outage report) makes it more urgent."""
    for name in open_incidents:
        if name and name.lower() in text_lower:
            return cfg.incident_points, f"about open incident '{name}'"
    if open_incidents and category == "outage":
        return cfg.incident_points, f"outage report while incident '{open_incidents[0]}' is open"
    return 0.0, None
