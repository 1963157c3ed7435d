"""The period a digest covers, the one it is compared with, and the days it is drawn by (brand time)."""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNIT = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class PeriodError(ValueError):
    pass


def parse_span(text: str) -> float | None:
    """'7d' → 604800 seconds; None when `text` is not a span."""
    m = _SPAN.match(text)
    return float(m.group(1)) * _UNIT[m.group(2)] if m else None


def parse_instant(text: str, tz: ZoneInfo, *, now: float) -> float:
    """'7d' (that long before now), '2026-11-23' (midnight, brand time), or an ISO date-time."""
    span = parse_span(text)
    if span is not None:
        return now - span
    try:
        d = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(f"{text!r} is neither a span like 7d / 24h nor a date like 2026-11-23") from None
    if d.tzinfo is None:
        d = d.replace(tzinfo=tz)
    return d.timestamp()


@dataclass(frozen=True, slots=True)
class Period:
    start: float
    end: float
    tz: ZoneInfo

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def previous(self) -> Period:
        return Period(self.start - self.seconds, self.start, self.tz)

    @property
    def versus(self) -> str:
        """How the comparison reads: 'last week', 'the day before', 'the previous 3 days'."""
        days = self.seconds / 86400
        if abs(days - 7) < 0.01:
            return "last week"
        if abs(days - 1) < 0.01:
            return "the day before"
        if abs(days - round(days)) < 0.01:
            return f"the previous {round(days)} days"
        return "the previous period"

    def day_starts(self) -> list[float]:
        """Local midnights (brand time) from the one at or before `start` up to `end`."""
        first = datetime.fromtimestamp(self.start, self.tz).date()
        out = []
        d = first
        while True:
            ts = datetime.combine(d, time(0), self.tz).timestamp()
            if ts >= self.end:
                break
            out.append(ts)
            d += timedelta(days=1)
        return out


class DayIndex:
    """Which local day (index into `starts`) an instant falls in: a bisect, not a tz conversion per row."""

    def __init__(self, starts: list[float]) -> None:
        self.starts = starts

    def __call__(self, ts: float) -> int:
        return max(0, bisect.bisect_right(self.starts, ts) - 1)


def period_from(since: str, until: str | None, tz: ZoneInfo, *, now: float) -> Period:
    end = now if until is None else parse_instant(until, tz, now=now)
    span = parse_span(since)
    start = end - span if span is not None else parse_instant(since, tz, now=now)
    if start >= end:
        raise PeriodError(f"the period is empty: --since {since} is not before --until {until or 'now'}")
    return Period(start, end, tz)
