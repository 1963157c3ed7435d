"""Numbers and times written for people: "12,345", "+12% vs last week", "Mon 30 Nov, 09:00"."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def count(n: int | float | None) -> str:
    if n is None:
        return "—"
    return f"{int(round(n)):,}"


def plural(n: int, word: str) -> str:
    return f"{count(n)} {word}{'' if n == 1 else 's'}"


def compact(n: int | float) -> str:
    """Reach for a table cell: 980, 12.3k, 4.5M."""
    n = float(n)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            v = n / limit
            return f"{v:.1f}{suffix}".replace(".0" + suffix, suffix) if v < 100 else f"{v:.0f}{suffix}"
    return f"{int(n):,}"


def change_pct(now: float, before: float) -> float | None:
    """Relative change in percent; None when there is nothing to compare with."""
    if before == 0:
        return None
    return (now - before) / before * 100.0


def change(now: float, before: float, versus: str) -> str:
    """'+12% vs last week', '−3% vs last week', 'new vs last week' (nothing before), 'no change …'."""
    pct = change_pct(now, before)
    if pct is None:
        return f"none {versus} either" if now == 0 else f"new (none {versus})"
    if round(pct) == 0:
        return f"no change vs {versus}"
    sign = "+" if pct > 0 else "−"
    return f"{sign}{abs(pct):,.0f}% vs {versus}"


def points(now: float | None, before: float | None, versus: str) -> str:
    """A change of a score (sentiment −1..1) in points, not percent: '+0.12 vs last week'."""
    if now is None or before is None:
        return ""
    d = now - before
    if abs(d) < 0.005:
        return f"no change vs {versus}"
    return f"{'+' if d > 0 else '−'}{abs(d):.2f} vs {versus}"


def share(part: float, whole: float) -> str:
    return "—" if whole == 0 else f"{part / whole * 100:.0f}%"


def when(ts: float, tz: ZoneInfo, *, with_time: bool = True) -> str:
    d = datetime.fromtimestamp(ts, tz)
    return d.strftime("%a %-d %b %Y, %H:%M") if with_time else d.strftime("%a %-d %b %Y")


def day(ts: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%a %-d %b")


def duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 90:
        return f"{s} s"
    m = s // 60
    if m < 90:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m:02d} min" if m else f"{h} h"
    d, h = divmod(h, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def period_label(start: float, end: float, tz: ZoneInfo) -> str:
    a, b = datetime.fromtimestamp(start, tz), datetime.fromtimestamp(end - 1, tz)
    if a.date() == b.date():
        return a.strftime("%a %-d %b %Y")
    if a.year == b.year:
        return f"{a.strftime('%-d %b')} – {b.strftime('%-d %b %Y')}"
    return f"{a.strftime('%-d %b %Y')} – {b.strftime('%-d %b %Y')}"
