"""The contract between the outbox dispatcher and whatever delivers a row to the outside world.

A handler is registered per outbox `kind` (e.g. "slack.message"). It translates its library's
errors into these two at one place, so the dispatcher's retry logic is the same for every service.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class RetryLater(Exception):
    """Not delivered, and it may work later (429, 5xx, timeout). `retry_after` in seconds if known."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentFailure(Exception):
    """Will never work as it is (channel not found, invalid payload): dead-letter it now."""


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


class DeliveryHandler(Protocol):
    kind: str

    async def deliver(self, item: OutboxItem) -> str:
        """Deliver and return the outside id (a Slack ts, a tweet id, a ticket number)."""
        ...

    async def reconcile(self, item: OutboxItem) -> str | None:
        """For an item in doubt: the outside id if an earlier attempt did land, else None.

        Raises RetryLater when the outside world cannot be asked right now.
        """
        ...

    def pace_key(self, item: OutboxItem) -> str | None:
        """Items with the same pace key are spaced by the handler's `min_interval` (e.g. one Slack channel)."""
        ...

    @property
    def min_interval(self) -> float: ...
