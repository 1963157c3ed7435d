"""The digest's charts as PNG bytes, drawn with matplotlib's Agg backend (no display needed).

Each chart is drawn from the digest data alone, so a page, an e-mail and a Slack post of one
digest show the same pictures, and a stored digest can be drawn again at any time.
"""
from __future__ import annotations

import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

# Figures are made with the object API on an Agg canvas, never through pyplot: no display is
# needed, nothing global is touched, so charts can be drawn in a worker thread.

BLUE, RED, GREEN, GREY = "#2f6db5", "#c0392b", "#27ae60", "#9aa5b1"
_DPI = 100


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    return buf.getvalue()


def _figure(title: str) -> tuple[Figure, Any]:
    fig = Figure(figsize=(7.2, 3.0))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.set_title(title, loc="left", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def volume(d: dict[str, Any]) -> bytes:
    days = d["volume"]["by_day"]
    fig, ax = _figure("Mentions per day (complaints in red)")
    x = range(len(days))
    ax.bar(x, [r["count"] for r in days], color=BLUE, label="mentions")
    ax.bar(x, [r["complaints"] for r in days], color=RED, width=0.5, label="complaints")
    ax.set_xticks(list(x), [r["day"].rsplit(" ", 1)[0] for r in days], fontsize=8, rotation=0 if len(days) <= 10 else 45)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False, fontsize=8)
    return _png(fig)


def sentiment(d: dict[str, Any]) -> bytes:
    days = d["sentiment"]["by_day"]
    fig, ax = _figure("Tone per day (share of scored mentions)")
    x = list(range(len(days)))
    pos = [r["positive"] / r["scored"] * 100 if r["scored"] else 0 for r in days]
    neg = [r["negative"] / r["scored"] * 100 if r["scored"] else 0 for r in days]
    ax.bar(x, pos, color=GREEN, label="positive")
    ax.bar(x, [-n for n in neg], color=RED, label="negative")
    ax.axhline(0, color=GREY, linewidth=0.8)
    ax.set_ylim(-100, 100)
    ax.set_ylabel("% of mentions")
    ax.set_xticks(x, [r["day"].rsplit(" ", 1)[0] for r in days], fontsize=8, rotation=0 if len(days) <= 10 else 45)
    ax.legend(frameon=False, fontsize=8, loc="upper right")
    return _png(fig)


def breakdown(d: dict[str, Any]) -> bytes:
    cats = [c for c in d["volume"]["by_category"] if c["count"] or c["previous"]][:10][::-1]
    fig, ax = _figure(f"Mentions by category, vs {d['period']['versus']}")
    y = range(len(cats))
    ax.barh([i + 0.2 for i in y], [c["count"] for c in cats], height=0.4, color=BLUE, label="this period")
    ax.barh([i - 0.2 for i in y], [c["previous"] for c in cats], height=0.4, color=GREY, label=d["period"]["versus"])
    ax.set_yticks(list(y), [c["name"] for c in cats], fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    fig.set_figheight(max(2.2, 0.35 * len(cats) + 1))
    return _png(fig)


def share_of_voice(d: dict[str, Any]) -> bytes:
    voices = d["share_of_voice"]["voices"]
    fig, ax = _figure("Share of voice (% of all mentions)")
    names = [v["name"] for v in voices]
    ax.bar(names, [v["share"] or 0 for v in voices], color=[BLUE] + [GREY] * (len(voices) - 1))
    ax.set_ylim(0, 100)
    return _png(fig)


def draw(d: dict[str, Any]) -> dict[str, bytes]:
    """Every chart the digest has data for, by name (also the file name: `<name>.png`)."""
    out: dict[str, bytes] = {}
    if d["volume"]["status"] == "ok":
        out["volume"] = volume(d)
        out["categories"] = breakdown(d)
    if d["sentiment"]["status"] == "ok":
        out["sentiment"] = sentiment(d)
    if d["share_of_voice"]["status"] == "ok":
        out["share_of_voice"] = share_of_voice(d)
    return out


CAPTIONS = {
    "volume": "Mentions per day",
    "categories": "Mentions by category",
    "sentiment": "Tone per day",
    "share_of_voice": "Share of voice",
}
