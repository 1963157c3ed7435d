"""Delivers a mention alert: the Block Kit message is built at delivery, from the stored view.

The pipeline only writes the `MentionView` into the outbox (cheap, on the ingest hot path); this
handler renders it with `build_mention_alert` when it is sent (at most about one a second per
channel anyway) and hands the message to the Slack handler, which owns the wire and its errors.
"""
from __future__ import annotations

from dataclasses import replace

from alerts.mention_alert import MentionView, build_mention_alert
from alerts.slack_delivery import SlackDelivery
from monitor.delivery import OutboxItem, Receipt

KIND = "slack.mention"


class MentionAlertDelivery:
    kind = KIND

    def __init__(self, slack: SlackDelivery) -> None:
        self.slack = slack

    @property
    def min_interval(self) -> float:
        return self.slack.min_interval

    async def deliver(self, item: OutboxItem) -> Receipt:
        message = build_mention_alert(MentionView.from_payload(item.payload))
        return await self.slack.deliver(replace(item, payload=message))

    async def reconcile(self, item: OutboxItem) -> Receipt | None:
        return await self.slack.reconcile(item)
