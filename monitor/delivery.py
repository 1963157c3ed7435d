"""The contract between the outbox dispatcher and whatever delivers a row to the outside world.

A handler is registered per outbox `kind` (e.g. "slack.message"). It translates its library's
errors into these two at one place, so the dispatcher's retry logic is the same for every service.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

Scope = Literal["row", "lane", "service"]


class RetryLater(Exception):
    """Not delivered, and it may work later. `retry_after` in seconds if known.

    `counts`: whether this was a real attempt that brings the row nearer to giving up. A 429 or a
    refused token says nothing about the row itself (`counts=False`): it waits, however long.
    `scope`: who waits — this row, its whole lane (a rate-limited channel), or every lane of the
    service (a revoked token: no point trying the other channels).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, counts: bool = True,
                 scope: Scope = "row") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.counts = counts
        self.scope = scope


class PermanentFailure(Exception):
    """Will never work as it is (channel not found, invalid payload): dead-letter it now."""


@dataclass(frozen=True)
class Posted:
    """Where a Slack message now is, so later messages can thread under it or update it."""

    channel_id: str
    ts: str
    thread_ts: str | None = None


@dataclass(frozen=True)
class Receipt:
    """What a delivery returns when it has more to say than the outside id."""

    ref: str
    posted: Posted | None = None  # a Slack message: recorded in the message registry


@dataclass(frozen=True)
class OutboxItem:
    id: int
    key: str  # the idempotency key
    kind: str
    target: str
    payload: dict[str, Any]
    attempts: int  # attempts before this one
    in_doubt: bool  # a previous attempt may have reached the outside world
    created_at: float
    priority: int = 2
    lane: str = ""
    about: str | None = None
    thread_of: str | None = None
    parent: Posted | None = None  # the thread's first message, when `thread_of` names one already posted


def service_of(kind: str) -> str:
    """"slack.mention" → "slack": the outside service a kind talks to (its lanes share a service block)."""
    return kind.split(".", 1)[0]


def default_lane(kind: str, target: str) -> str:
    return f"{service_of(kind)}:{target}"


class DeliveryHandler(Protocol):
    kind: str

    async def deliver(self, item: OutboxItem) -> str | Receipt:
        """Deliver and return the outside id (a Slack ts, a tweet id, a ticket number), or a Receipt."""
        ...

    async def reconcile(self, item: OutboxItem) -> str | Receipt | None:
        """For an item in doubt: the outside id if an earlier attempt did land, else None.

        Raises RetryLater when the outside world cannot be asked right now.
        """
        ...

    @property
    def min_interval(self) -> float:
        """Seconds between the end of one delivery and the start of the next on the same lane."""
        ...
