"""The cockpit's own Slack messages and modals, as pure builders: escalations, the relabel and edit-reply
modals, and the `/outreach status` answer. Stranger-written text is escaped here as in every alert.
"""
from __future__ import annotations

import json
import re
from typing import Any

from alerts.escape import escape_mrkdwn, escape_truncated, truncate_plain
from alerts.mention_alert import MentionView
from monitor.models import URGENCIES

RELABEL_CALLBACK = "outreach_relabel"
EDIT_REPLY_CALLBACK = "outreach_edit_reply"
URGENCY_BLOCK, URGENCY_ACTION = "urgency", "pick_urgency"
CATEGORY_BLOCK, CATEGORY_ACTION = "category", "pick_category"
REPLY_BLOCK, REPLY_ACTION = "reply", "reply_text"
CATEGORIES = ("outage", "security", "safety", "legal", "billing", "delivery", "churn", "question", "suggestion",
              "praise", "spam", "other")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,20}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _plain(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate_plain(text, limit), "emoji": True}


def group_mention(group: str | None) -> str:
    return f"<!subteam^{group}>" if group and _GROUP_ID.match(group) else ""


def user_mention(user: str | None) -> str:
    return f"<@{user}>" if user and _USER_ID.match(user) else escape_mrkdwn(user or "someone")


def escalation_message(m: MentionView, *, level: int, by: str | None, group: str | None,
                       in_thread: bool) -> dict[str, Any]:
    """Level 1: re-announced in the ticket's thread with the on-call group; level 2: escalated."""
    ticket = f"ticket #{m.ticket_id}" if m.ticket_id is not None else f"mention {m.mention_id}"
    who = f"@{m.author_username}" if m.author_username else "someone"
    snippet = escape_truncated(" ".join(m.text.split()), 300)
    ping = group_mention(group)
    if level <= 1:
        head = f":rotating_light: {ping + ' ' if ping else ''}Still unacknowledged: {m.urgency} {ticket} from " \
               f"{escape_mrkdwn(who)}. Please claim or acknowledge it."
    elif by:
        head = f":warning: {user_mention(by)} escalated {ticket} ({m.urgency}, {escape_mrkdwn(who)})" \
               f"{' — ' + ping if ping and not in_thread else ''}"
    else:
        head = f":warning: {ping + ' ' if ping else ''}Escalated: {m.urgency} {ticket} from {escape_mrkdwn(who)} " \
               "has had no acknowledgement."
    blocks: list[dict[str, Any]] = [{"type": "section", "text": _mrkdwn(head)}]
    if not in_thread:
        blocks.append({"type": "section", "text": _mrkdwn(f">{snippet}" if snippet else "_(no text)_")})
    return {"text": truncate_plain(re.sub(r"[*:]", "", head), 300), "blocks": blocks}


def relabel_modal(m: MentionView, *, channel: str, ts: str) -> dict[str, Any]:
    """The modal a teammate picks the right urgency and category in. private_metadata says what for."""
    def select(block: str, action: str, label: str, values: tuple[str, ...], current: str) -> dict[str, Any]:
        options = [{"text": _plain(v.replace("_", " ").capitalize()), "value": v} for v in values]
        element: dict[str, Any] = {"type": "static_select", "action_id": action, "options": options}
        initial = next((o for o in options if o["value"] == current), None)
        if initial is not None:
            element["initial_option"] = initial
        return {"type": "input", "block_id": block, "label": _plain(label), "element": element, "optional": True}

    categories = CATEGORIES if m.category in CATEGORIES else (*CATEGORIES, m.category) if m.category else CATEGORIES
    return {
        "type": "modal", "callback_id": RELABEL_CALLBACK,
        "private_metadata": json.dumps({"mention_id": m.mention_id, "channel": channel, "ts": ts}),
        "title": _plain("Relabel", 24), "submit": _plain("Save"), "close": _plain("Cancel"),
        "blocks": [
            {"type": "section", "text": _mrkdwn(f">{escape_truncated(' '.join(m.text.split()), 500)}")},
            select(URGENCY_BLOCK, URGENCY_ACTION, "Urgency", URGENCIES, m.urgency),
            select(CATEGORY_BLOCK, CATEGORY_ACTION, "Category", categories, m.category),
        ],
    }


def relabel_choice(view: dict[str, Any]) -> tuple[dict[str, Any], str | None, str | None]:
    """(private metadata, urgency, category) from a submitted relabel modal; None where nothing was picked."""
    meta = json.loads(view.get("private_metadata") or "{}")
    values = (view.get("state") or {}).get("values") or {}

    def picked(block: str, action: str) -> str | None:
        option = ((values.get(block) or {}).get(action) or {}).get("selected_option") or {}
        return option.get("value")

    urgency = picked(URGENCY_BLOCK, URGENCY_ACTION)
    category = picked(CATEGORY_BLOCK, CATEGORY_ACTION)
    return meta, urgency if urgency in URGENCIES else None, category


def edit_reply_modal(reply_id: int, text: str, *, channel: str, ts: str) -> dict[str, Any]:
    return {
        "type": "modal", "callback_id": EDIT_REPLY_CALLBACK,
        "private_metadata": json.dumps({"reply_id": reply_id, "channel": channel, "ts": ts}),
        "title": _plain("Edit the reply", 24), "submit": _plain("Approve"), "close": _plain("Cancel"),
        "blocks": [{"type": "input", "block_id": REPLY_BLOCK, "label": _plain("Public reply"),
                    "element": {"type": "plain_text_input", "action_id": REPLY_ACTION, "multiline": True,
                                "max_length": 280, "initial_value": text[:280]}}],
    }


def edited_reply(view: dict[str, Any]) -> tuple[dict[str, Any], str]:
    meta = json.loads(view.get("private_metadata") or "{}")
    values = (view.get("state") or {}).get("values") or {}
    return meta, str(((values.get(REPLY_BLOCK) or {}).get(REPLY_ACTION) or {}).get("value") or "")


def status_text(status: dict[str, Any]) -> str:
    """`/outreach status`: what a teammate asks when they sit down (open incidents, queues, sources, replies)."""
    lines = [f"*outreach-monitor* — {status.get('health', 'unknown')}"]
    replies = "paused :double_vertical_bar:" if status.get("replies_paused") else "on"
    lines.append(f"• Public replies: {replies}; {status.get('replies_waiting', 0)} waiting for approval")
    t = status.get("tickets", {})
    lines.append(f"• Tickets: {t.get('open', 0)} open, {t.get('unclaimed', 0)} unclaimed, "
                 f"{t.get('critical_unacknowledged', 0)} critical unacknowledged")
    incidents = status.get("incidents") or []
    names = ", ".join(escape_mrkdwn(str(n)) for n in incidents[:5]) + (" …" if len(incidents) > 5 else "")
    lines.append(f"• Open incidents: {len(incidents)}" + (f" ({names})" if incidents else ""))
    o = status.get("outbox", {})
    age = o.get("oldest_pending_age_s")
    lines.append(f"• Slack queue: {o.get('pending', 0)} waiting"
                 f"{f' (oldest {age:.0f}s)' if isinstance(age, (int, float)) else ''}, {o.get('dead', 0)} dead")
    for name, s in (status.get("sources") or {}).items():
        lines.append(f"• Source {escape_mrkdwn(name)}: {s.get('state')}"
                     f"{', lag ' + str(s.get('lag_s')) + 's' if s.get('lag_s') is not None else ''}")
    return "\n".join(lines)


def reply_heading(status: str, ticket_id: int, *, subject: str | None = None, decided_by: str | None = None,
                  ref: str | None = None) -> str:
    """What a public reply's Slack message says it is and where it stands, in mrkdwn: the draft in the
    ticket's thread (outreach.replies) and every later refresh of it (reply_message) say it the same way.
    `decided_by` is the teammate who approved or skipped it; "policy" (or none) is the reply policy's automatic approval."""
    what = escape_mrkdwn(subject) if subject else f"Reply for ticket #{ticket_id}"
    who = user_mention(decided_by) if decided_by else "someone"
    if status == "approved" and decided_by in (None, "policy"):
        return f"{what} will be posted automatically"
    return {
        "held": f"{what} waits for approval",
        "approved": f":white_check_mark: {what} approved by {who}; it is posted once",
        "sent": f":white_check_mark: {what} posted" + (f" ({escape_mrkdwn(ref)})" if ref else ""),
        "skipped": f":no_entry_sign: {what} skipped by {who}; nothing is posted",
        "dry_run": f"{what} (dry run: not posted)" if subject else f"Draft reply for ticket #{ticket_id} (dry run: not posted)",
    }.get(status, f"{what}: {escape_mrkdwn(status)}")


def reply_message(reply_id: int, ticket_id: int, text: str, status: str, decided_by: str | None,
                  ref: str | None = None, *, subject: str | None = None) -> dict[str, Any]:
    """A public reply's message in Slack after someone acted on it; buttons only while it still waits.

    `text` is the brand's words (a template or a teammate's edit), shown quoted and escaped. `subject`
    says what the reply is (outreach.reply_subject: an incident's acknowledgement, a status post);
    a ticket's reply by default.
    """
    from alerts.actions import REPLY_APPROVE, REPLY_EDIT, REPLY_SKIP

    head = reply_heading(status, ticket_id, subject=subject, decided_by=decided_by, ref=ref)
    quoted = "\n".join("> " + escape_mrkdwn(line) for line in text.splitlines()) or "> _(empty)_"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": _mrkdwn(f"*{head}*\n{quoted}"[:3000])},
        {"type": "context", "elements": [_mrkdwn(f"reply {reply_id}")]},
    ]
    if status == "held":
        blocks.append({"type": "actions", "block_id": f"reply_actions:{reply_id}", "elements": [
            {"type": "button", "action_id": REPLY_APPROVE, "value": str(reply_id), "style": "primary",
             "text": _plain("Approve")},
            {"type": "button", "action_id": REPLY_EDIT, "value": str(reply_id), "text": _plain("Edit")},
            {"type": "button", "action_id": REPLY_SKIP, "value": str(reply_id), "text": _plain("Skip")},
        ]})
    return {"text": truncate_plain(re.sub(r"[*:]", "", head), 300), "blocks": blocks}
