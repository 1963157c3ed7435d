"""Urgency to Slack channel."""
from __future__ import annotations

import pytest

from alerts.routing import channel_for

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
