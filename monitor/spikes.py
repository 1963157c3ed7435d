"""Complaint spikes: per service, more complaints and outage reports than its usual for this hour of the week.

Every `window` seconds (aligned to the clock) the last finished window is judged, per service:

    count     complaint or outage mentions (from triage) naming the service (its terms, or attached
              to one of its incidents) in the window
    expected  the same hour of the week over the previous `weeks` weeks, scaled to the window; while
              the history is shorter than a week: the average rate over what there is (flat fallback)
    grade     none      count < min_count, or P(X ≥ count | Poisson(expected)) ≥ p_possible
              possible  P < p_possible
              likely    P < p_likely

A grade other than "none" is a failing reading of the check `spike:<service>` with the failure
threshold k (`sustained`): the health state machine then opens an INTERNAL incident after k windows
in a row (Slack only: nothing is said in public until a check, a status page or a person confirms,
which turns the same incident public) and resolves it after k quiet windows — with the same
persistence, flap handling and maintenance muting as any check.
"""
from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import structlog
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.health import Tracker, Watched
from monitor.models import HealthReading
from monitor.storage.dialect import insert_for
from monitor.storage.schema import cursors, incidents, mentions

log = structlog.get_logger("spikes")

Grade = Literal["none", "possible", "likely"]
WEEK = 7 * 86400.0


@dataclass(frozen=True)
class SpikeRule:
    window: float = 900.0  # seconds per window
    sustained: int = 2  # windows in a row (k)
    min_count: int = 5
    p_possible: float = 1e-3
    p_likely: float = 1e-6
    weeks: int = 4  # how far back the hour-of-week baseline looks
    floor: float = 0.5  # expected is never below this (a service nobody ever complains about)
    lag: float = 60.0  # a window is judged this long after it ends: posts reach us after they are written


def poisson_sf(count: int, mean: float) -> float:
    """P(X ≥ count) for X ~ Poisson(mean)."""
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    # 1 - CDF(count-1), summed in log space so a large mean does not underflow term by term
    log_terms = [-mean + k * math.log(mean) - math.lgamma(k + 1) for k in range(count)]
    top = max(log_terms)
    cdf = math.exp(top) * sum(math.exp(t - top) for t in log_terms)
    return max(0.0, 1.0 - cdf)


def grade(count: int, expected: float, rule: SpikeRule) -> tuple[Grade, float]:
    p = poisson_sf(count, max(expected, rule.floor))
    if count < rule.min_count:
        return "none", p
    if p < rule.p_likely:
        return "likely", p
    if p < rule.p_possible:
        return "possible", p
    return "none", p


def matches(text: str, terms: Sequence[str]) -> bool:
    low = text.lower()
    return any(t and re.search(rf"(?<!\w){re.escape(t.lower())}(?!\w)", low) for t in terms)


@dataclass
class SpikeDetector:
    engine: AsyncEngine
    tracker: Tracker
    terms: dict[str, list[str]]  # service -> words that name it
    rule: SpikeRule = SpikeRule()
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        for service in self.terms:
            self.tracker.watch(self.check(service), Watched(service, self.rule.sustained, self.rule.sustained,
                                                            label=f"complaint spike detector ({service})",
                                                            internal=True))

    @staticmethod
    def check(service: str) -> str:
        return f"spike:{service}"

    async def count(self, service: str, start: float, end: float) -> int:
        complaint = or_(mentions.c.complaint.is_(True), mentions.c.category == "outage")
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(mentions.c.text, mentions.c.incident_id).where(
                mentions.c.created_at >= start, mentions.c.created_at < end, complaint,
                mentions.c.is_own.is_(False)))).all()
            mine = set((await conn.execute(select(incidents.c.id).where(incidents.c.service == service)))
                       .scalars().all()) if rows else set()
        return sum(1 for text, iid in rows if iid in mine or matches(text, self.terms[service]))

    async def expected(self, service: str, start: float) -> float:
        """The hour-of-week baseline for the window starting at `start`, or the flat fallback."""
        w = self.rule.window
        async with self.engine.connect() as conn:
            first = (await conn.execute(select(func.min(mentions.c.created_at)))).scalar_one()
        if first is None:
            return 0.0
        weeks = [k for k in range(1, self.rule.weeks + 1) if start - k * WEEK >= first]
        if weeks:
            counts = [await self.count(service, start - k * WEEK, start - k * WEEK + w) for k in weeks]
            # the same hour of those weeks, so also the hour around the window (less noise than one window)
            return sum(counts) / len(counts)
        span = start - first
        if span < w:
            return 0.0
        return await self.count(service, first, start) / span * w

    async def run(self) -> list[str]:
        """Judge every finished window not judged yet (one per call normally); returns the actions taken."""
        w = self.rule.window
        end = math.floor((self.clock() - self.rule.lag) / w) * w
        actions = []
        for service in self.terms:
            last = await self._last_judged(service)
            if last is not None and last >= end:
                continue
            start = end - w
            count, expected = await self.count(service, start, end), await self.expected(service, start)
            g, p = grade(count, expected, self.rule)
            when = datetime.fromtimestamp(start, UTC).strftime("%a %H:%M UTC")
            span = f"{w / 60:.0f} min" if w >= 120 else f"{w:.0f} s"
            detail = (f"{count} complaints about {service} in {span} from {when}, "
                      f"usual {expected:.1f} (P={p:.1e}): {g}")
            outcomes = await self.tracker.apply([HealthReading(self.check(service), g == "none",
                                                               datetime.fromtimestamp(end, UTC), detail)])
            await self._judged(service, end)
            if g != "none":
                log.info("spike.window", service=service, count=count, expected=round(expected, 2), grade=g)
            actions += [o.action for o in outcomes]
        return actions

    async def _last_judged(self, service: str) -> float | None:
        async with self.engine.connect() as conn:
            v = (await conn.execute(select(cursors.c.value).where(
                and_(cursors.c.source == "spikes", cursors.c.stream == service)))).scalar_one_or_none()
        return float(v) if v is not None else None

    async def _judged(self, service: str, end: float) -> None:
        # After the reading is applied: a crash in between judges this window once more at restart,
        # which can only lengthen a streak by one window (documented, accepted).
        async with self.engine.begin() as conn:
            ins = insert_for(conn, cursors).values(source="spikes", stream=service, value=repr(end),
                                                   updated_at=self.clock())
            await conn.execute(ins.on_conflict_do_update(index_elements=["source", "stream"],
                                                         set_={"value": ins.excluded.value,
                                                               "updated_at": ins.excluded.updated_at}))
