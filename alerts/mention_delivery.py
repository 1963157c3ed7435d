"""Delivers a mention alert: the Block Kit message is built at delivery, from the stored view.

The pipeline only writes the `MentionView` into the outbox (cheap, on the ingest hot path); this
handler renders it with `build_mention_alert` when it is sent (at most about one a second per
channel anyway) and hands the message to the Slack handler, which owns the wire and its errors.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from alerts.mention_alert import MentionView, TicketCard, build_mention_alert, build_thread_reply
from alerts.slack_delivery import SlackDelivery
from monitor.delivery import OutboxItem, Receipt

KIND = "slack.mention"


class MentionAlertDelivery:
    kind = KIND

    def __init__(self, slack: SlackDelivery,
                 card_for: Callable[[MentionView], Awaitable[TicketCard | None]] | None = None) -> None:
        self.slack = slack
        # the ticket's state at delivery (claimed, mentions, resolved) so a late alert says what is true now
        self.card_for = card_for

    @property
    def min_interval(self) -> float:
        return self.slack.min_interval

    async def deliver(self, item: OutboxItem) -> Receipt:
        view = MentionView.from_payload(item.payload)
        if item.payload.get("in_thread") and item.parent is not None:
            message = build_thread_reply(view)  # the parent above carries the card and the buttons
        else:
            card = await self.card_for(view) if self.card_for is not None and view.ticket_id is not None else None
            message = build_mention_alert(view, card)
        return await self.slack.deliver(replace(item, payload=message))

    async def reconcile(self, item: OutboxItem) -> Receipt | None:
        return await self.slack.reconcile(item)
