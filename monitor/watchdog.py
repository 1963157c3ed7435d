"""The quiet-source watchdog: a source that usually brings mentions and suddenly brings none is an
alert, because silence must never be mistaken for "nobody talks about us".

`step(state, activity, rule, now) -> (state, action)` is pure; its truth table:

    quiet  polling  silent  expected>=min  │ quiet'  action
    ───────────────────────────────────────┼──────────────────────────
    no     no       any     any            │ no      none        a failing or paused source is alerted as such
    no     yes      no      any            │ no      none
    no     yes      yes     no             │ no      none        too little traffic to tell silence from a slow hour
    no     yes      yes     yes            │ yes     went_quiet  (once: the state remembers it)
    yes    any      yes     any            │ yes     none
    yes    any      no      any            │ no      recovered   (once)

`silent` means no mention was stored for `rule.after` seconds (or none ever). `expected` is how many
the baseline predicts for such a span.

The baseline comes from the mentions table (the same span of the day on each of the previous
days, up to `rule.baseline`; a table younger than a day: its average rate), not from in-memory
counters, because: it survives restarts (a daemon restarted into a quiet spell still knows what is
usual); with several daemons only the lease holder polls a source, so another daemon's counters
would read zero and cry wolf; and the table is the same truth the digests count. A check is a few
range COUNTs (one per baseline day), on its own schedule (an index on mentions(source, fetched_at)
keeps them cheap on a large table).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.storage.schema import mentions

Action = Literal["none", "went_quiet", "recovered"]


@dataclass(frozen=True, slots=True)
class QuietRule:
    after: float  # seconds without a mention that make a source "quiet"
    min_expected: float = 5.0  # mentions the baseline must expect in `after` (P(0) = e^-5 < 1%)
    baseline: float = 7 * 86400.0  # how far back "usual" is measured


@dataclass(frozen=True, slots=True)
class Activity:
    last_seen_at: float | None  # when the newest mention of the source was stored
    expected: float  # mentions the baseline expects in `rule.after` seconds
    polling: bool  # the source polls without failing (failures have their own alerts)


@dataclass(frozen=True, slots=True)
class QuietState:
    quiet: bool = False
    since: float | None = None  # last_seen_at when it went quiet: names the episode (alert keys)


def step(state: QuietState, activity: Activity, rule: QuietRule, now: float) -> tuple[QuietState, Action]:
    silent = activity.last_seen_at is None or now - activity.last_seen_at >= rule.after
    if state.quiet:
        if silent:
            return state, "none"
        return QuietState(False, None), "recovered"
    if not activity.polling or not silent or activity.expected < rule.min_expected:
        return state, "none"
    return QuietState(True, activity.last_seen_at), "went_quiet"


# ── the baseline, from the mentions table ────────────────────────────────────────────────────
DAY = 86400.0


async def read_activity(engine: AsyncEngine, source: str, rule: QuietRule, now: float, *, polling: bool) -> Activity:
    """Newest stored mention, and how many the baseline expects in the last `rule.after` seconds.

    The baseline is the same span of the day on the previous days the table covers (up to
    `rule.baseline`), averaged: a brand that is quiet every night is not "quiet" at 3 a.m. A table
    younger than a day falls back to the average rate over what it has.
    """
    theirs = (mentions.c.source == source) & (mentions.c.is_own.is_(False))
    async with engine.connect() as conn:
        last, first = (await conn.execute(
            select(func.max(mentions.c.fetched_at), func.min(mentions.c.fetched_at)).where(theirs))).one()
        if first is None:
            return Activity(None, 0.0, polling)
        days = [k for k in range(1, int(rule.baseline // DAY) + 1) if now - k * DAY - rule.after >= first]
        if days:
            counts = []
            for k in days:
                end = now - k * DAY
                counts.append((await conn.execute(select(func.count()).where(
                    theirs, mentions.c.fetched_at >= end - rule.after, mentions.c.fetched_at < end))).scalar_one())
            return Activity(last, sum(counts) / len(counts), polling)
        end = now - rule.after  # the span being judged is not part of its own baseline
        count = (await conn.execute(select(func.count()).where(
            theirs, mentions.c.fetched_at >= end - rule.baseline, mentions.c.fetched_at < end))).scalar_one()
    # Less than a day of history: the average rate over what there is (an hour at least, so one
    # early burst does not make every later hour look like a silence).
    span = max(end - first, min(rule.after, 3600.0))
    return Activity(last, count / span * rule.after if count else 0.0, polling)
