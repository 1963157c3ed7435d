"""What the team sees in Slack about an incident: the opening message (the thread's root) and each update
in its thread. Pure builders: `{"text", "blocks"}` payloads for the "slack.message" outbox kind.

Slack is internal, so the team sees everything: the check that failed and its detail, whether the
incident is internal (a complaint spike nobody confirmed: customers hear nothing yet) or public.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alerts.escape import escape_mrkdwn, escape_truncated

# the buttons of an incident's first message (value: the incident id) and the status each one asks for
ACTION_ACK, ACTION_IDENTIFIED, ACTION_MONITORING, ACTION_RESOLVE = (
    "incident_ack", "incident_identified", "incident_monitoring", "incident_resolve")
BUTTONS: dict[str, str] = {ACTION_ACK: "acknowledge", ACTION_IDENTIFIED: "identified",
                           ACTION_MONITORING: "monitoring", ACTION_RESOLVE: "resolved"}

_ICON = {"investigating": ":rotating_light:", "identified": ":mag:", "monitoring": ":eyes:",
         "resolved": ":white_check_mark:"}


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M UTC")


def _payload(text: str, fallback: str, context: str = "") -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}}]
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context[:2900]}]})
    # the fallback (notifications) is mrkdwn too: titles and messages in it come from outside
    return {"text": escape_truncated(fallback, 300), "blocks": blocks}


def build_opened(incident_id: int, *, service: str, title: str, public: bool, opened_by: str, note: str,
                 at: float) -> dict[str, Any]:
    who = "internal: customers are told nothing until a check, a status page or a person confirms" \
        if not public else "customers affected are notified on the cadence"
    text = (f":rotating_light: *Incident #{incident_id}* — {escape_mrkdwn(title)}\n"
            f"Service *{escape_mrkdwn(service)}* · investigating since {_when(at)} · {who}")
    context = f"opened by {escape_mrkdwn(opened_by)}" + (f" · {escape_mrkdwn(note)}" if note else "")
    label = "Possible incident" if not public else "Incident"
    payload = _payload(text, f"{label} #{incident_id}: {title} ({service})", context)
    payload["blocks"].append(buttons(incident_id))
    return payload


def buttons(incident_id: int) -> dict[str, Any]:
    """A person runs the incident from its first message (monitor/incident_desk.py handles the clicks)."""
    labels = ((ACTION_ACK, "Acknowledge"), (ACTION_IDENTIFIED, "Identified"), (ACTION_MONITORING, "Monitoring"),
              (ACTION_RESOLVE, "Resolve"))
    return {"type": "actions", "block_id": f"incident_actions:{incident_id}", "elements": [
        {"type": "button", "action_id": a, "value": str(incident_id), "text": {"type": "plain_text", "text": t}}
        | ({"style": "primary"} if a == ACTION_RESOLVE else {}) for a, t in labels]}


def build_update(incident_id: int, *, status: str, message: str, by: str, note: str, at: float) -> dict[str, Any]:
    if message:
        text = f"{_ICON.get(status, ':information_source:')} *{escape_mrkdwn(status)}* — {escape_mrkdwn(message)}"
        context = f"{_when(at)} · {escape_mrkdwn(by)}" + (f" · {escape_mrkdwn(note)}" if note else "")
        return _payload(text, f"Incident #{incident_id} {status}: {message}", context)
    # a note for the team only (another signal about the same incident): customers are not told
    text = f":memo: {escape_mrkdwn(note)}"
    return _payload(text, f"Incident #{incident_id}: {note}", f"{_when(at)} · {escape_mrkdwn(by)} · team only")
