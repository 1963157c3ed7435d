"""The contracts every connector meets, and the small error vocabulary they translate into.

Each connector maps its own library's exceptions into these at exactly one place, so the
pipeline and the daemon only ever reason about four kinds of failure.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from monitor.models import Batch, Cursor, HealthReading, Mention


class SourceError(Exception):
    """Base of every error a connector may raise."""


class TransientError(SourceError):
    """429, 5xx, timeout, dropped connection: keep the cursor, back off, try later."""

    def __init__(self, message: str, *, retry_after: float | None = None, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.rate_limited = rate_limited  # a 429: counted apart, because it means the budget was overspent


class AuthError(SourceError):
    """401/403: the credentials no longer work. Stop this source and tell the operator."""


class ConfigError(SourceError):
    """The configuration cannot work (bad query, unknown account). Fail at start with the YAML path."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class BadPayload(SourceError):
    """The upstream sent something malformed. Skip the item, keep going, count it."""


def most_serious(errors: list[SourceError]) -> SourceError:
    """The error a fetch that got nothing should raise when several streams failed differently:
    auth before config before transient; among transient ones, the longest wait."""
    for kind in (AuthError, ConfigError, TransientError):
        found = [e for e in errors if isinstance(e, kind)]
        if found:
            if kind is TransientError:  # wait for the slowest window to reopen
                return max(found, key=lambda e: getattr(e, "retry_after", None) or 0.0)
            return found[0]
    return errors[0]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A rate window as the platform's headers last described it (for the budget planner and /healthz)."""

    limit: int
    remaining: int
    reset: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class Gap:
    """Posts on `stream` between `start` and `end` (epoch seconds) may never be seen: the cursor was
    older than the platform lets us reach (X search: 7 days; a Reddit listing: about 1000 items).
    The daemon says so, with this time range, rather than pretend nothing was said."""

    stream: str
    start: float
    end: float


@runtime_checkable
class Source(Protocol):
    name: ClassVar[str]  # the YAML `type:`

    # What the latest fetch could not do, and what the budget planner and /healthz read:
    last_errors: list[tuple[str, SourceError]]  # (stream, error) for streams that failed or were not asked
    gaps: list[Gap]  # time ranges the platform can no longer return
    requests_by_pool: dict[str, int]  # API calls since start, per rate pool (endpoint)
    rate_limits: dict[str, RateLimit]  # per pool, as the latest headers said
    reads_total: int  # posts read since start (what X bills against its monthly cap)

    async def check(self) -> None: ...

    def streams(self) -> list[str]: ...  # the names of its streams (each has its own cursor)

    # Only `streams` when given: the budget planner decides which are due.
    async def fetch(self, cursors: dict[str, Cursor], *, streams: Sequence[str] | None = None) -> Batch: ...

    async def close(self) -> None: ...


class Probe(Protocol):
    async def probe(self) -> list[HealthReading]: ...


class Replier(Protocol):
    async def reply(self, to: Mention, text: str, *, key: str) -> str: ...
