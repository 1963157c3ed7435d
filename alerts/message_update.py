"""Delivers `slack.update` rows: a message already in Slack is re-rendered from the state NOW.

The row only says which message to refresh — a clicked alert (channel id and ts in the payload),
or the parent of a thread (`thread_of`, resolved by the outbox from the message registry into
`item.parent`) — and what it shows (a ticket's alert, a storm's counter). The content is rendered
when the row is delivered, so an update that waited behind a backlog or a crash still shows what
is true, and `chat.update` twice shows the same thing: there is nothing to reconcile after a crash.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from alerts.slack_delivery import SlackDelivery
from monitor.delivery import OutboxItem

KIND = "slack.update"
NOTHING = "nothing-to-update"  # the message never made it to Slack (dead-lettered): it renders itself if retried

# the message to refresh (channel id, ts) and its new content; None when there is none
Render = Callable[[OutboxItem], Awaitable[tuple[str, str, dict[str, Any]] | None]]


class MessageUpdateDelivery:
    kind = KIND

    def __init__(self, slack: SlackDelivery, render: Render) -> None:
        self.slack = slack
        self.render = render

    @property
    def min_interval(self) -> float:
        return self.slack.min_interval

    async def deliver(self, item: OutboxItem) -> str:
        found = await self.render(item)
        if found is None:
            return NOTHING
        channel, ts, message = found
        return await self.slack.update(channel, ts, message)

    async def reconcile(self, item: OutboxItem) -> str | None:
        return None  # chat.update is idempotent: just send it again


class RenderedPostDelivery:
    """Posts a message whose content is rendered at delivery (a storm's parent: its counter now)."""

    def __init__(self, kind: str, slack: SlackDelivery, render: Callable[[OutboxItem], Awaitable[dict[str, Any]]]):
        self.kind = kind
        self.slack = slack
        self.render = render

    @property
    def min_interval(self) -> float:
        return self.slack.min_interval

    async def deliver(self, item: OutboxItem) -> Any:
        from dataclasses import replace

        return await self.slack.deliver(replace(item, payload=await self.render(item)))

    async def reconcile(self, item: OutboxItem) -> Any:
        return await self.slack.reconcile(item)
