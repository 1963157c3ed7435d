"""Messages for the operators' channel: the program telling people about itself."""
from __future__ import annotations

from alerts.escape import escape_mrkdwn


def build_source_paused(source: str, error: str) -> dict[str, object]:
    """A source stopped because its credentials or config no longer work; nothing is seen from it until fixed."""
    text = (
        f":warning: Source *{escape_mrkdwn(source)}* is paused and sees nothing until fixed: "
        f"{escape_mrkdwn(error)[:500]}\nFix the credentials or config, then run `outreach-monitor check` "
        "and send the daemon SIGHUP (or restart it)."
    )
    return {
        "text": f"Source {source} is paused: {error[:200]}",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }
