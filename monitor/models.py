"""The plain data that crosses module boundaries.

Frozen dataclasses, no I/O: connectors build them, triage reads them, storage persists them.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Urgency = Literal["critical", "high", "normal", "low", "ignore"]
URGENCIES: tuple[Urgency, ...] = ("critical", "high", "normal", "low", "ignore")

# ── storable at the edge ──────────────────────────────────────────────────────────────────────
# Every connector builds Author and Mention, so this is the one place text from outside is made
# storable: a lone surrogate (an emoji cut in half) cannot be encoded as UTF-8 on either backend, and
# PostgreSQL refuses NUL in text. Both become U+FFFD; the raw payload stays in `Mention.raw` (kept in
# the quarantine if storing still fails). Keys and names longer than their column are bounded.
REPLACEMENT = "\ufffd"
MAX_COUNT = 2**63 - 1  # BIGINT
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` with lone surrogates and NUL characters replaced by U+FFFD (a valid pair is joined)."""
    if text.isascii():
        return text.replace("\x00", REPLACEMENT) if "\x00" in text else text
    if not _UNSTORABLE.search(text):
        return text
    # UTF-16 with surrogatepass joins split pairs back into one character; what is left alone is replaced
    joined = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _UNSTORABLE.sub(REPLACEMENT, joined)


def bounded(text: str, limit: int) -> str:
    """`text` when it fits in `limit` characters, else a readable head and a hash of the whole: the same
    input always gives the same value, and two long inputs with one head stay apart."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{text[:limit - 13]}~{digest}"


def _clean(value: object, limit: int | None = None, *, key: bool = True) -> object:
    if not isinstance(value, str):
        return value  # not ours to guess: a wrong type is stored or quarantined as it is
    value = storable(value)
    if limit is None or len(value) <= limit:
        return value
    return bounded(value, limit) if key else value[:limit]


def _count(value: object) -> object:
    return max(0, min(value, MAX_COUNT)) if isinstance(value, int) and not isinstance(value, bool) else value


# (field, column width, a key that is hashed when cut rather than a name that is just cut); the column
# widths of monitor/storage/schema.py (mentions.*)
_AUTHOR_FIELDS = (("id", 64, True), ("username", 128, True), ("name", 256, False))
_MENTION_FIELDS = (("external_id", 64, True), ("stream", 128, True), ("url", 512, True),
                   ("conversation_id", 64, True), ("in_reply_to", 64, True), ("quoted_id", 64, True),
                   ("text", 1 << 62, False), ("lang", 16, False))


def _fit(obj: object, spec: tuple[tuple[str, int, bool], ...]) -> None:
    for name, limit, key in spec:
        value = getattr(obj, name)
        # the common case first, cheaply: short ASCII without NUL is stored as it is (on the ingest hot path)
        if value.__class__ is str and len(value) <= limit and value.isascii() and "\x00" not in value:
            continue
        fixed = _clean(value, limit, key=key)
        if fixed is not value:
            object.__setattr__(obj, name, fixed)  # frozen: only the edge may fix a value, once, when built


@dataclass(frozen=True, slots=True)
class Author:
    id: str
    username: str = ""
    name: str = ""
    followers: int = 0
    verified: bool = False
    is_bot: bool = False

    def __post_init__(self) -> None:
        _fit(self, _AUTHOR_FIELDS)
        if self.followers.__class__ is int and not 0 <= self.followers <= MAX_COUNT:
            object.__setattr__(self, "followers", _count(self.followers))


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

    def __post_init__(self) -> None:
        _fit(self, _MENTION_FIELDS)  # `raw` is kept as it came
        if self.metrics and not all(k.isascii() for k in self.metrics if isinstance(k, str)):
            object.__setattr__(self, "metrics", {_clean(k): v for k, v in self.metrics.items()})


def withheld_in(m: Mention) -> str | None:
    """The countries where the platform withholds the post ("DE,FR"), as the connector found them."""
    codes = m.raw.get("withheld_in") if isinstance(m.raw, dict) else None
    return ",".join(codes)[:256] if codes else None


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
    # per stream: things the platform said it left out beside the data (X's `errors` next to `data`:
    # an author or a referenced post it will not show); the items themselves are stored
    partial_errors: dict[str, int] = field(default_factory=dict)


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
