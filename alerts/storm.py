"""Storm control: when a channel gets a burst, alerts collapse into one storm thread with a live counter.

Pure pieces: the rule, the decision for one alert, and the storm messages. A burst is counted per
channel in a fixed window; once `burst` alerts went to a channel within `window_s`, the next
non-critical ones are not posted one by one. They join the channel's open storm: one parent message
("Storm in #care: 57 mentions since 10:02"), kept current with `chat.update`, and every
`summary_every_s` a summary of the newest in its thread. A critical alert always gets its own message.

Mentions about an open incident (with a Slack thread) collapse the same way, whatever the burst:
into one counter message in the incident's thread, with the periodic summaries there too.

| urgency  | alerts in window | open ticket thread | open incident | →                        |
|----------|------------------|--------------------|---------------|--------------------------|
| critical | any              | any                | any           | own message              |
| other    | any              | yes                | any           | the ticket's thread      |
| other    | any              | no                 | yes           | the incident's thread    |
| other    | < burst          | no                 | no            | own message              |
| other    | ≥ burst          | no                 | no            | the storm                |
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from alerts.escape import escape_mrkdwn, escape_truncated, truncate_plain

Route = Literal["own", "thread", "incident", "storm"]
NEWEST_SHOWN = 5


@dataclass(frozen=True)
class StormRule:
    burst: int = 20  # alerts to one channel within window_s before the next ones collapse
    window_s: float = 60.0
    summary_every_s: float = 60.0
    quiet_after_s: float = 180.0  # a storm with no new member for this long is over


def route(urgency: str, *, alerts_in_window: int, in_ticket_thread: bool, rule: StormRule | None,
          in_open_incident: bool = False) -> Route:
    if urgency == "critical":
        return "own"
    if in_ticket_thread:
        return "thread"
    if rule is not None and in_open_incident:
        return "incident"
    if rule is not None and alerts_in_window >= rule.burst:
        return "storm"
    return "own"


def window(start: float | None, count: int, now: float, rule: StormRule) -> tuple[float, int]:
    """The current counting window (start, alerts so far): a new one once window_s has passed."""
    if start is None or now - start >= rule.window_s:
        return now, 0
    return start, count


@dataclass(frozen=True)
class StormMember:
    urgency: str
    category: str
    author: str
    text: str
    url: str = ""


def _hhmm(epoch: float) -> str:
    fallback = datetime.fromtimestamp(epoch, timezone.utc).strftime("%H:%M UTC")
    return f"<!date^{int(epoch)}^{{time}}|{fallback}>"


def _line(m: StormMember) -> str:
    who = f"@{truncate_plain(m.author, 60)}" if m.author else "someone"
    return (f"• *{escape_mrkdwn(m.urgency)}* {escape_mrkdwn(m.category.replace('_', ' '))} · "
            f"{escape_mrkdwn(who)}: {escape_truncated(' '.join(m.text.split()), 160)}")


def storm_parent(*, channel_label: str, members: int, started_at: float, last_at: float,
                 newest: list[StormMember], closed: bool, incident_id: int | None = None) -> dict[str, Any]:
    """The storm's one message (in the channel, or in the incident's thread): the live counter and the newest."""
    if incident_id is not None:
        state = f"Mentions about incident #{incident_id}" + (" (over)" if closed else "")
    else:
        state = ("Storm over" if closed else "Storm") + f" in {escape_mrkdwn(channel_label)}"
    head = (f":cyclone: {state}: *{members}* mention{'s' if members != 1 else ''} "
            f"collapsed since {_hhmm(started_at)} (latest {_hhmm(last_at)})")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": head, "verbatim": True}}]
    if newest:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "verbatim": True,
                                                   "text": "*Newest*\n" + "\n".join(_line(m) for m in newest)}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "verbatim": True, "text":
                   "Critical mentions are still posted on their own; summaries of the rest follow in this thread."}]})
    text = f"{state}: {members} mentions collapsed"
    return {"text": truncate_plain(text, 300), "blocks": blocks}


def storm_summary(*, new_members: int, total: int, newest: list[StormMember]) -> dict[str, Any]:
    """A periodic reply in the storm's thread: how many more since the last one, and the newest."""
    head = f"*{new_members}* more mention{'s' if new_members != 1 else ''} ({total} in this storm). Newest:"
    body = "\n".join(_line(m) for m in newest) or "_(none)_"
    return {"text": f"{new_members} more mentions ({total} in this storm)",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"{head}\n{body}", "verbatim": True}}]}
