"""Urgency to Slack channel."""
from __future__ import annotations

import pytest

from alerts.routing import channel_for, joins_ticket_thread

CHANNELS: dict[str, str | None] = {"critical": "#care-urgent", "high": "#care-urgent", "normal": " #care ",
                                   "low": None, "ignore": ""}


@pytest.mark.parametrize(
    "urgency, channel",
    [("critical", "#care-urgent"), ("high", "#care-urgent"), ("normal", "#care"), ("low", None),
     ("ignore", None), ("unheard-of", None)],
)
def test_channel_for(urgency: str, channel: str | None) -> None:
    assert channel_for(urgency, CHANNELS) == channel


def test_nothing_configured_means_no_alert() -> None:
    assert channel_for("critical", {}) is None


@pytest.mark.parametrize("urgency, channel, thread_channel, thread_urgency, joins", [
    ("normal", "slack:#care", "slack:#care-urgent", "high", True),  # quieter follow-up: the ticket's thread
    ("high", "slack:#care-urgent", "slack:#care-urgent", "high", True),  # same channel: always the thread
    ("critical", "slack:#care-urgent", "slack:#care-urgent", "normal", True),
    ("high", "slack:#care-urgent", "slack:#care", "normal", False),  # a lift: its own message where it is seen
    ("critical", "slack:#care-critical", "slack:#care-urgent", "high", False),
    ("high", "slack:#care-urgent", "slack:#care-critical", "critical", True),
    ("normal", "slack:#care", "slack:#care-urgent", "", False),  # an unknown thread urgency ranks last
])
def test_joins_ticket_thread(urgency, channel, thread_channel, thread_urgency, joins) -> None:
    assert joins_ticket_thread(urgency, channel, thread_channel=thread_channel, thread_urgency=thread_urgency) is joins
