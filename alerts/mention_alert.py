"""The Slack message the care team gets for one mention: what was said, by whom, why it matters, what to do.

`build_mention_alert` is pure: `MentionView` in, `{"text", "blocks"}` out, ready for
`chat.postMessage`. Everything that came from a stranger (the post, their name and handle, even
triage reasons that quote matched words) is escaped with `alerts.escape`, and every text is cut to
Block Kit's limits so Slack never refuses the message as `invalid_blocks`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from typing import Any

from alerts.escape import (
    escape_mrkdwn,
    escape_truncated,
    quote_block,
    safe_link,
    safe_url,
    slack_len,
    truncate_plain,
)
from monitor.models import Author, Mention, Verdict

# Stable ids the interactivity handler dispatches on; every button's `value` is the mention id.
ACTION_CLAIM = "mention_claim"
ACTION_APPROVE_REPLY = "mention_approve_reply"
ACTION_RELABEL = "mention_relabel"
ACTION_ESCALATE = "mention_escalate"
ACTION_OPEN = "mention_open"  # a link button; Slack still sends an interaction that must be acked
ACTION_ACK = "mention_ack"
ACTION_RESOLVE = "mention_resolve"
ACTION_SPAM = "mention_spam"
ACTIONS_BLOCK_PREFIX = "mention_actions:"

POST_LIMIT = 1500  # of the 3000 a section allows: enough to read, short enough to scan in a channel
FALLBACK_SNIPPET = 140
MAX_REASONS = 8
REASON_LIMIT = 200

_URGENCY_ICON = {
    "critical": ":rotating_light:",
    "high": ":red_circle:",
    "normal": ":large_yellow_circle:",
    "low": ":white_circle:",
    "ignore": ":zzz:",
}
_SOURCE_LABEL = {"x": "X", "reddit": "Reddit", "hackernews": "Hacker News"}


@dataclass(frozen=True, slots=True)
class MentionView:
    """What an alert shows about one stored mention and its verdict (as the pipeline stores it)."""

    mention_id: int
    source: str
    external_id: str
    text: str
    urgency: str
    category: str
    author_username: str = ""
    author_name: str = ""
    author_followers: int = 0
    url: str = ""
    created_at: float = 0.0  # epoch seconds
    score: int = 0
    confidence: float = 0.0
    sentiment: float = 0.0
    reasons: tuple[str, ...] = field(default_factory=tuple)
    ticket_id: int | None = None

    def to_payload(self) -> dict[str, Any]:
        # shallow on purpose: every field is a plain value, and dataclasses.asdict's deep copy was a
        # fifth of the ingest hot path
        d = {name: getattr(self, name) for name in _FIELD_NAMES}
        d["reasons"] = list(self.reasons)
        return d

    @classmethod
    def from_payload(cls, d: dict[str, Any]) -> MentionView:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        kwargs["reasons"] = tuple(kwargs.get("reasons") or ())
        return cls(**kwargs)

    @classmethod
    def from_models(cls, mention_id: int, m: Mention, v: Verdict, *, ticket_id: int | None = None) -> MentionView:
        a: Author = m.author
        return cls(
            mention_id=mention_id, source=m.source, external_id=m.external_id, text=m.text,
            urgency=v.urgency, category=v.category, author_username=a.username, author_name=a.name,
            author_followers=a.followers, url=m.url, created_at=m.created_at.timestamp(), score=v.score,
            confidence=v.confidence, sentiment=v.sentiment, reasons=tuple(v.reasons), ticket_id=ticket_id,
        )


_FIELD_NAMES = tuple(f.name for f in fields(MentionView))
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")


@dataclass(frozen=True, slots=True)
class TicketCard:
    """The live state of the mention's ticket, shown on the alert and kept current with `chat.update`."""

    status: str = "open"
    mentions: int = 1
    urgency: str | None = None  # the ticket's urgency now (relabelled, or the highest of its mentions)
    category: str | None = None  # when the team relabelled it
    relabelled_by: str | None = None
    claimed_by: str | None = None
    acknowledged_by: str | None = None
    escalation_level: int = 0
    replied: bool = False  # the brand has answered in public (our reply or a person on the platform)
    spam: bool = False

    @property
    def resolved(self) -> bool:
        return self.status in ("solved", "closed", "resolved")


def build_mention_alert(m: MentionView, card: TicketCard | None = None) -> dict[str, Any]:
    """The `chat.postMessage` body (`text` fallback and `blocks`) for one mention.

    With a `card`, the alert shows the ticket's state now (who has it, how many mentions, resolved)
    and offers only the buttons that still make sense.
    """
    if card is not None and (card.urgency or card.category):
        m = replace(m, urgency=card.urgency or m.urgency, category=card.category or m.category)
    blocks: list[dict[str, Any]] = [_header(m)]
    if card is not None:
        blocks.append({"type": "context", "elements": [_mrkdwn(_card_line(m, card))]})
    blocks += [
        _section(_who(m)),
        _section(quote_block(escape_truncated(m.text, POST_LIMIT) or "_(no text)_")),
        {"type": "section", "fields": _facts(m)},
    ]
    if m.reasons:
        blocks.append(_section(_reasons(m.reasons)))
    blocks.append({"type": "context", "elements": [_mrkdwn(_footer(m))]})
    actions = _actions(m, card)
    if actions["elements"]:
        blocks.append(actions)
    return {"text": _fallback(m), "blocks": blocks}


def build_thread_reply(m: MentionView) -> dict[str, Any]:
    """A later mention of a ticket, in the ticket's thread: who and what, no buttons (the parent has them)."""
    icon = _URGENCY_ICON.get(m.urgency, ":grey_question:")
    blocks: list[dict[str, Any]] = [
        _section(f"{icon} {_who(m)}"),
        _section(quote_block(escape_truncated(m.text, POST_LIMIT) or "_(no text)_")),
        {"type": "context", "elements": [_mrkdwn(_footer(m))]},
    ]
    return {"text": _fallback(m), "blocks": blocks}


def _user(user_id: str | None) -> str:
    # ids come from Slack's own payloads; anything else is shown as plain text, never as markup
    if user_id and _SLACK_USER.match(user_id):
        return f"<@{user_id}>"
    return escape_mrkdwn(user_id or "someone")


def _card_line(m: MentionView, c: TicketCard) -> str:
    bits = [f"*Ticket #{m.ticket_id}*" if m.ticket_id is not None else "*No ticket*"]
    bits.append(f"{c.mentions} mention{'s' if c.mentions != 1 else ''}")
    if c.resolved:
        bits.append(":white_check_mark: Resolved" + (" as spam" if c.spam else ""))
    if c.claimed_by:
        bits.append(f"Claimed by {_user(c.claimed_by)}")
    elif c.acknowledged_by:
        bits.append(f"Acknowledged by {_user(c.acknowledged_by)}")
    elif not c.resolved:
        bits.append("Unclaimed")
    if c.escalation_level >= 2:
        bits.append(":warning: Escalated")
    if c.relabelled_by:
        bits.append(f"Relabelled by {_user(c.relabelled_by)}")
    if c.replied:
        bits.append("Answered")
    return " · ".join(bits)


# -- pieces ----------------------------------------------------------------------------------------


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: Slack must not auto-link channel names or parse mentions in what we show
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate_plain(text, limit), "emoji": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _source_label(source: str) -> str:
    return _SOURCE_LABEL.get(source.lower(), source)


def _category_label(category: str) -> str:
    return category.replace("_", " ").strip().capitalize() or "Uncategorised"


def _header(m: MentionView) -> dict[str, Any]:
    icon = _URGENCY_ICON.get(m.urgency, ":grey_question:")
    title = f"{icon} {m.urgency.capitalize()} · {_category_label(m.category)} · {_source_label(m.source)}"
    return {"type": "header", "text": _plain(title, 150)}


def _who(m: MentionView) -> str:
    handle = f"@{truncate_plain(m.author_username, 100)}" if m.author_username else "someone"
    link = safe_link(m.url, handle) if m.url else ""
    # a monstrous URL goes without a link here (the Open button still has it) rather than break the limit
    who = link if link and slack_len(link) <= 2000 else escape_mrkdwn(handle)
    parts = [f"*{who}*"]
    if m.author_name and m.author_name != m.author_username:
        parts.append(escape_truncated(m.author_name, 100))
    parts.append(f"{_count(m.author_followers)} followers")
    return " · ".join(parts)


def _count(n: int) -> str:
    if n >= 1_000_000_000:  # counts are BIGINT: the biggest accounts pass 2^31
        return f"{n / 1_000_000_000:.1f}B"
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    return f"{n:,}"


def _sentiment(s: float) -> str:
    word = "negative" if s <= -0.05 else "positive" if s >= 0.05 else "neutral"
    return f"{s:+.2f} ({word})"


def _facts(m: MentionView) -> list[dict[str, Any]]:
    ticket = f"#{m.ticket_id}" if m.ticket_id is not None else "—"
    return [
        _mrkdwn(f"*Score · confidence*\n{m.score}/100 · {m.confidence:.0%}"),
        _mrkdwn(f"*Sentiment*\n{_sentiment(m.sentiment)}"),
        _mrkdwn(f"*Ticket*\n{ticket}"),
        _mrkdwn(f"*Posted*\n{_when(m.created_at)}"),
    ]


def _when(epoch: float) -> str:
    if epoch <= 0:
        return "unknown"
    fallback = datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    # Slack shows this in each reader's own time zone; the fallback is for clients that cannot
    return f"<!date^{int(epoch)}^{{date_short_pretty}} {{time}}|{fallback}>"


def _reasons(reasons: tuple[str, ...]) -> str:
    shown = [f"• {escape_truncated(r, REASON_LIMIT)}" for r in reasons[:MAX_REASONS]]
    if len(reasons) > MAX_REASONS:
        shown.append(f"_and {len(reasons) - MAX_REASONS} more_")
    return "*Why it was flagged*\n" + "\n".join(shown)


def _footer(m: MentionView) -> str:
    bits = [f"mention {m.mention_id}", f"{escape_truncated(_source_label(m.source), 50)} id "
            f"{escape_truncated(m.external_id, 80)}"]
    if m.ticket_id is not None:
        bits.append(f"ticket #{m.ticket_id}")
    return " · ".join(bits)


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"type": "button", "text": _plain(text, 75), "action_id": action_id, "value": value}
    if style:
        b["style"] = style
    return b


def _actions(m: MentionView, card: TicketCard | None = None) -> dict[str, Any]:
    value = str(m.mention_id)
    if card is None:  # the first post: every button
        elements = [
            _button("Claim", ACTION_CLAIM, value, "primary"),
            _button("Approve reply", ACTION_APPROVE_REPLY, value),
            _button("Relabel", ACTION_RELABEL, value),
            _button("Escalate", ACTION_ESCALATE, value, "danger"),
        ]
    elif card.resolved:
        elements = []
    else:
        elements = []
        if not card.claimed_by:
            elements.append(_button("Claim", ACTION_CLAIM, value, "primary"))
        if not card.acknowledged_by and not card.claimed_by:
            elements.append(_button("Acknowledge", ACTION_ACK, value))
        elements.append(_button("Approve reply", ACTION_APPROVE_REPLY, value))
        elements.append(_button("Relabel", ACTION_RELABEL, value))
        if card.escalation_level < 2:
            elements.append(_button("Escalate", ACTION_ESCALATE, value, "danger"))
        elements.append(_button("Resolve", ACTION_RESOLVE, value))
        elements.append(_button("Mark as spam", ACTION_SPAM, value))
    url = safe_url(m.url) if m.url else None
    if url:
        open_post = _button(f"Open on {_source_label(m.source)}", ACTION_OPEN, value)
        open_post["url"] = url
        elements.append(open_post)
    return {"type": "actions", "block_id": f"{ACTIONS_BLOCK_PREFIX}{m.mention_id}", "elements": elements}


def _fallback(m: MentionView) -> str:
    """The notification text (and what screen readers and old clients show)."""
    who = f"@{m.author_username}" if m.author_username else "someone"
    return escape_mrkdwn(
        f"{m.urgency.capitalize()} {_category_label(m.category).lower()} mention from {who} on "
        f"{_source_label(m.source)}: {truncate_plain(' '.join(m.text.split()), FALLBACK_SNIPPET)}"
    )
