"""The plain data that crosses module boundaries.

Frozen dataclasses, no I/O: connectors build them, triage reads them, storage persists them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Urgency = Literal["critical", "high", "normal", "low", "ignore"]
URGENCIES: tuple[Urgency, ...] = ("critical", "high", "normal", "low", "ignore")


@dataclass(frozen=True, slots=True)
class Author:
    id: str
    username: str = ""
    name: str = ""
    followers: int = 0
    verified: bool = False
    is_bot: bool = False


@dataclass(frozen=True, slots=True)
class Mention:
    """One thing someone said, as a source saw it."""

    source: str  # the configured source name, e.g. "x"
    external_id: str  # the id on the platform; unique per source
    text: str
    author: Author
    created_at: datetime
    stream: str = ""  # which query or feed of the source found it
    url: str = ""
    conversation_id: str = ""  # thread root on the platform, for tickets
    in_reply_to: str = ""
    quoted_id: str = ""
    lang: str = ""
    metrics: dict[str, int] = field(default_factory=dict)
    is_own: bool = False  # written by one of the brand's own accounts: stored, never triaged
    is_repost: bool = False
    # Deleted by its author or removed by a moderator ("[deleted]" author, "[removed]" text): stored
    # as what it is, never triaged, alerted, answered or counted as a customer.
    removed: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a source's stream stopped. Saved in the same transaction as the items it covers."""

    stream: str
    value: str


@dataclass(frozen=True, slots=True)
class Batch:
    mentions: list[Mention]
    cursors: list[Cursor]  # the new cursor per stream, only for streams whose paging completed
    requests: int = 0  # API calls this fetch spent
    rate_limit_remaining: int | None = None
    rate_limit_reset: float | None = None  # epoch seconds
    skipped_bad: int = 0  # malformed items dropped (BadPayload), counted not fatal


@dataclass(frozen=True, slots=True)
class Verdict:
    urgency: Urgency
    category: str
    complaint: bool
    actionable: bool
    sentiment: float  # -1 .. 1
    score: int  # 0 .. 100
    confidence: float  # 0 .. 1
    reasons: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "urgency": self.urgency,
            "category": self.category,
            "complaint": self.complaint,
            "actionable": self.actionable,
            "sentiment": round(self.sentiment, 3),
            "score": self.score,
            "confidence": round(self.confidence, 3),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class HealthReading:
    check: str
    ok: bool
    at: datetime
    detail: str = ""
    latency_ms: float | None = None
