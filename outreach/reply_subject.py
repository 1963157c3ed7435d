"""What a public reply is about, in the words its Slack message starts with.

Replies to tickets, acknowledgements of people complaining during an incident, their follow-ups and
the brand's status posts all live in `replies` and share the approve/edit/skip buttons. Their message
is rendered twice — when it is queued and again after a click (from the row alone) — so both take the
subject from here, from the reply's `thread_key`, and never disagree.
"""
from __future__ import annotations

PLATFORMS = {"x": "X", "reddit": "Reddit"}


def subject(thread_key: str, ticket_id: int, *, username: str = "", source: str = "x") -> str:
    from outreach.incident_replies import FOLLOW_UP, acknowledged_by
    from outreach.status_posts import is_status_post, status_of

    if is_status_post(thread_key):
        iid, state = status_of(thread_key)
        return f"Status post on {PLATFORMS.get(source, source)} for incident #{iid} ({state})"
    if thread_key.startswith("incident:"):
        iid = thread_key.split(":")[1]
        who = f"@{username}" if username else "the customer"
        if acknowledged_by(thread_key) is not None and thread_key.endswith(FOLLOW_UP):
            return f"Follow-up to {who}: incident #{iid} is resolved"
        return f"Acknowledgement of {who} for incident #{iid}"
    return f"Reply for ticket #{ticket_id}"
