"""Delivers `slack.update` rows: an alert already in Slack is re-rendered from the ticket's state NOW.

The row only says which message (channel id, ts) shows which mention of which ticket; the card
(claimed by, mention count, resolved…) is read when the row is delivered, so an update that waited
behind a backlog or a crash still shows what is true, and two updates in a row cost nothing extra.
`chat.update` is idempotent, so there is nothing to reconcile after a crash: it is simply sent again.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from alerts.mention_alert import MentionView, TicketCard, build_mention_alert
from alerts.slack_delivery import SlackDelivery
from monitor.delivery import OutboxItem, PermanentFailure

KIND = "slack.update"

# (mention id, ticket id) -> the mention as stored and its ticket's card; None if the mention is gone
LoadCard = Callable[[int, int | None], Awaitable[tuple[MentionView, TicketCard] | None]]


class MessageUpdateDelivery:
    kind = KIND

    def __init__(self, slack: SlackDelivery, load: LoadCard) -> None:
        self.slack = slack
        self.load = load

    @property
    def min_interval(self) -> float:
        return self.slack.min_interval

    def pace_key(self, item: OutboxItem) -> str | None:
        return self.slack.pace_key(item)

    async def deliver(self, item: OutboxItem) -> str:
        p: dict[str, Any] = item.payload
        channel, ts = p.get("channel"), p.get("ts")
        if not channel or not ts or p.get("mention_id") is None:
            raise PermanentFailure(f"slack.update row {item.key} names no message (channel, ts, mention_id)")
        found = await self.load(int(p["mention_id"]), p.get("ticket_id"))
        if found is None:
            raise PermanentFailure(f"mention {p['mention_id']} is no longer stored; its alert stays as it was")
        view, card = found
        return await self.slack.update(str(channel), str(ts), build_mention_alert(view, card))

    async def reconcile(self, item: OutboxItem) -> str | None:
        return None  # chat.update twice shows the same thing: just send it again
