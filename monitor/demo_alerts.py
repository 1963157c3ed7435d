"""The demo's window on Slack: a few of the alerts it posted, as the care team would read them.

Block Kit is rendered to plain terminal lines (header, the post, the facts, the reasons, the
buttons); pure functions, so they are tested without a terminal.
"""
from __future__ import annotations

import re
from typing import Any

_LINK = re.compile(r"<([^|>]+)\|([^>]+)>|<([^>]+)>")
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&"}


def pick(messages: list[dict[str, Any]], channel_names: dict[str, str], *, limit: int = 3) -> list[dict[str, Any]]:
    """The alerts worth showing: a critical one first, then the most urgent others, one per post.
    Operators' messages and thread replies are left out (the team reads alerts in the channel)."""
    alerts = [m for m in messages if _header(m) and not m.get("thread_ts")
              and channel_names.get(m.get("channel", ""), "") != "care-ops"]
    rank = {"critical": 0, "high": 1, "normal": 2, "low": 3}
    alerts.sort(key=lambda m: (rank.get(urgency(m), 9), float(m.get("ts", 0))))
    return alerts[:limit]


def render(message: dict[str, Any], channel: str) -> list[str]:
    """One Slack message as terminal lines, starting with the channel it went to."""
    lines = [f"── #{channel} " + "─" * max(0, 60 - len(channel))]
    for block in message.get("blocks") or []:
        kind = block.get("type")
        if kind == "header":
            lines.append(_text(block.get("text")).upper())
        elif kind == "section":
            if block.get("text"):
                lines += _text(block["text"]).splitlines()
            # a field is "*label*\nvalue": one "label: value" line each
            lines += [_text(f).replace("\n", ": ", 1) for f in block.get("fields") or []]
        elif kind == "context":
            lines.append(" · ".join(_text(e) for e in block.get("elements") or []))
        elif kind == "actions":
            lines.append("  ".join(f"[ {_text(e.get('text'))} ]" for e in block.get("elements") or []))
    if len(lines) == 1:
        lines.append(_plain(str(message.get("text", ""))))
    return lines


def _header(m: dict[str, Any]) -> str:
    for block in m.get("blocks") or []:
        if block.get("type") == "header":
            return _text(block.get("text"))
    return ""


def urgency(m: dict[str, Any]) -> str:
    """The urgency an alert's header shows ('critical', 'high', …), or ''."""
    words = re.findall(r"[a-z]+", _header(m).lower())
    return next((w for w in words if w in ("critical", "high", "normal", "low")), "")


def _text(obj: Any) -> str:
    if not isinstance(obj, dict):
        return ""
    return _plain(str(obj.get("text", "")))


def _link(m: re.Match[str]) -> str:
    target, label, bare = m.group(1), m.group(2), m.group(3)
    if target is None:
        return bare
    if target.startswith("!"):  # <!date^…|fallback>: Slack shows the date in the reader's zone
        return label
    return f"{label} ({target})"


def _plain(text: str) -> str:
    """Slack mrkdwn as a terminal shows it: links as `label (url)`, no emphasis marks, emoji names kept."""
    text = _LINK.sub(_link, text)
    text = re.sub(r"(?<!\w)[*_~](\S(?:.*?\S)?)[*_~](?!\w)", r"\1", text)
    for entity, char in _ENTITIES.items():
        text = text.replace(entity, char)
    return text
