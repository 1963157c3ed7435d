"""What /healthz says about a source and each of its streams: state, lag, failures, spend.

Plain data kept by the Poller; `as_dict` is the JSON the operator reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from monitor import watchdog


@dataclass
class StreamHealth:
    state: str = "starting"  # starting | ok | failing
    last_success_at: float | None = None
    failing_since: float | None = None
    failures_in_row: int = 0
    errors: int = 0
    fetched: int = 0
    partial_errors: int = 0  # things the platform left out beside the data it sent (X's partial `errors`)
    last_error: str = ""
    alerted: bool = False  # the operators were told it keeps failing

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "state": self.state,
            "lag_s": None if self.last_success_at is None else round(now - self.last_success_at, 1),
            "failures_in_row": self.failures_in_row,
            "errors": self.errors,
            "fetched": self.fetched,
            "partial_errors": self.partial_errors,
            "last_error": self.last_error,
        }


@dataclass
class SourceHealth:
    state: str = "starting"  # starting | ok | failing | paused
    last_success_at: float | None = None
    last_attempt_at: float | None = None
    last_error: str = ""
    failures_in_row: int = 0
    backoff_until: float = 0.0
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    requests: int = 0
    rate_limited: int = 0
    errors: int = 0
    bad_items: int = 0
    gaps: int = 0
    quarantined: int = 0  # items that could not be stored, kept in the quarantine table
    rate_limit_remaining: int | None = None
    skipped_no_lease: int = 0
    paused_at: float | None = None
    quiet: watchdog.QuietState = field(default_factory=watchdog.QuietState)
    by_urgency: dict[str, int] = field(default_factory=dict)
    streams: dict[str, StreamHealth] = field(default_factory=dict)
    rate_limits: dict[str, dict[str, float | int]] = field(default_factory=dict)  # pool -> limit/remaining/reset

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "state": self.state,
            "last_success_at": self.last_success_at,
            "lag_s": None if self.last_success_at is None else round(now - self.last_success_at, 1),
            "failures_in_row": self.failures_in_row,
            "last_error": self.last_error,
            "fetched": self.fetched,
            "stored": self.stored,
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "errors": self.errors,
            "gaps": self.gaps,
            "quarantined": self.quarantined,
            "quiet": self.quiet.quiet,
            "rate_limit_remaining": self.rate_limit_remaining,
            "rate_limits": {
                pool: {"limit": r["limit"], "remaining": r["remaining"], "reset_in_s": round(max(0.0, r["reset"] - now), 1)}
                for pool, r in self.rate_limits.items()
            },
            "streams": {n: s.as_dict(now) for n, s in self.streams.items()},
        }
