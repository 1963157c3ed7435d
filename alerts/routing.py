"""Which Slack channel hears about a mention of a given urgency (the operator's `slack.channels`)."""
from __future__ import annotations

from collections.abc import Mapping


def channel_for(urgency: str, channels: Mapping[str, str | None]) -> str | None:
    """The configured channel for `urgency`, or None: no alert (left out, null or blank in the config)."""
    channel = channels.get(urgency)
    if channel is None or not channel.strip():
        return None
    return channel.strip()
