"""Which Slack channel hears about a mention of a given urgency (the operator's `slack.channels`)."""
from __future__ import annotations

from collections.abc import Mapping


def channel_for(urgency: str, channels: Mapping[str, str | None]) -> str | None:
    """The configured channel for `urgency`, or None: no alert (left out, null or blank in the config)."""
    channel = channels.get(urgency)
    if channel is None or not channel.strip():
        return None
    return channel.strip()


# most urgent first; an unknown urgency ranks below every known one
_RANK = {u: i for i, u in enumerate(("critical", "high", "normal", "low", "ignore"))}


def joins_ticket_thread(urgency: str, channel: str, *, thread_channel: str, thread_urgency: str) -> bool:
    """Whether a later mention of a ticket goes into the ticket's thread (in the thread's channel).

    One thread per ticket, wherever the mention's own urgency would route it — except a mention MORE
    urgent than the thread's alert whose urgency routes elsewhere: it gets its own message in its own
    (more urgent) channel, and that message is the ticket's thread from then on (a lift, never hidden in
    a quieter channel's thread).
    """
    if channel == thread_channel:
        return True
    return _RANK.get(urgency, len(_RANK)) >= _RANK.get(thread_urgency, len(_RANK))
