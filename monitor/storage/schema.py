"""The tables, as SQLAlchemy Core. Alembic owns how they come to exist (see migrations/).

Times are UTC epoch seconds (floats): they compare the same way on SQLite and PostgreSQL and
need no time-zone handling in the hot path.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# BIGINT on PostgreSQL, INTEGER on SQLite (where only INTEGER PRIMARY KEY is the rowid alias).
Id = BigInteger().with_variant(Integer(), "sqlite")

mentions = Table(
    "mentions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("external_id", String(64), nullable=False),
    Column("stream", String(128), nullable=False, default=""),
    Column("author_id", String(64), nullable=False),
    Column("author_username", String(128), nullable=False, default=""),
    Column("author_name", String(256), nullable=False, default=""),
    Column("author_followers", Integer, nullable=False, default=0),
    Column("text", Text, nullable=False),
    Column("url", String(512), nullable=False, default=""),
    Column("conversation_id", String(64), nullable=False, default=""),
    Column("in_reply_to", String(64), nullable=False, default=""),
    Column("quoted_id", String(64), nullable=False, default="", server_default=""),
    Column("lang", String(16), nullable=False, default=""),
    Column("metrics", JSON, nullable=True),
    Column("is_own", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("fetched_at", Float, nullable=False),
    # triage verdict (NULL for our own posts, which are never triaged)
    Column("urgency", String(16), nullable=True),
    Column("category", String(32), nullable=True),
    Column("complaint", Boolean, nullable=True),
    Column("actionable", Boolean, nullable=True),
    Column("sentiment", Float, nullable=True),
    Column("score", Integer, nullable=True),
    Column("confidence", Float, nullable=True),
    Column("reasons", JSON, nullable=True),
    Column("ticket_id", Id, nullable=True),
    UniqueConstraint("source", "external_id", name="uq_mentions_source_external_id"),
)
Index("ix_mentions_created_at", mentions.c.created_at)
# covers created_at: repeat contact ("3rd message in 24 h") is counted from the index alone
Index("ix_mentions_author", mentions.c.source, mentions.c.author_id, mentions.c.created_at)
Index("ix_mentions_source_fetched", mentions.c.source, mentions.c.fetched_at)  # the quiet-source watchdog

cursors = Table(
    "cursors",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("stream", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
    Column("updated_at", Float, nullable=False),
)

# One ticket per conversation root, so a thread lands on one ticket.
tickets = Table(
    "tickets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("root_key", String(200), nullable=False, unique=True),
    Column("source", String(64), nullable=False),
    Column("author_id", String(64), nullable=False, default=""),
    Column("status", String(16), nullable=False, default="open"),
    Column("urgency", String(16), nullable=True),
    Column("opened_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),  # e.g. "slack.message"
    Column("target", String(200), nullable=False, default=""),  # channel, address, …
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),  # pending | sent | dead | held
    Column("attempts", Integer, nullable=False, default=0),
    # set before a delivery attempt and cleared after a definite answer: a row still in doubt
    # after a crash is reconciled with the outside world before it is sent again
    Column("in_doubt", Boolean, nullable=False, default=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_until", Float, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("result", String(200), nullable=True),  # the outside id, e.g. a Slack message ts
    Column("created_at", Float, nullable=False),
    Column("sent_at", Float, nullable=True),
)
Index("ix_outbox_due", outbox.c.status, outbox.c.next_attempt_at)

leases = Table(
    "leases",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", Float, nullable=False),
)

# The team's corrections of triage verdicts (used to train the local model).
feedback = Table(
    "feedback",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("mention_id", Id, nullable=True),
    Column("text", Text, nullable=False),
    Column("urgency", String(16), nullable=True),
    Column("category", String(32), nullable=True),
    Column("by", String(128), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
)
Index("ix_feedback_mention", feedback.c.mention_id)

# What the care team did about a ticket from Slack (the cockpit): who has it, who acknowledged it,
# how far it was escalated. Changed only by conditional UPDATEs, so two clicks make one change.
ticket_handling = Table(
    "ticket_handling",
    metadata,
    Column("ticket_id", Id, primary_key=True),
    Column("claimed_by", String(64), nullable=True),  # Slack user id
    Column("claimed_at", Float, nullable=True),
    Column("acknowledged_by", String(64), nullable=True),
    Column("acknowledged_at", Float, nullable=True),
    Column("escalation_level", Integer, nullable=False, default=0),  # 0 none, 1 re-announced, 2 escalation channel
    Column("escalated_at", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
)

# Every action that took effect, with who and when; `dedupe` makes a repeated submission one row.
ticket_actions = Table(
    "ticket_actions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ticket_id", Id, nullable=False),
    Column("action", String(32), nullable=False),  # claim | acknowledge | relabel | spam | resolve | escalate | …
    Column("detail", String(500), nullable=False, default=""),
    Column("by", String(64), nullable=False),  # Slack user id, or "escalation" for the timer
    Column("at", Float, nullable=False),
    Column("dedupe", String(200), nullable=True, unique=True),
)
Index("ix_ticket_actions_ticket", ticket_actions.c.ticket_id, ticket_actions.c.at)

# Authors the team marked as spam: stored as before, never alerted again.
suppressed_authors = Table(
    "suppressed_authors",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("author_id", String(64), primary_key=True),
    Column("username", String(128), nullable=False, default=""),
    Column("by", String(64), nullable=False),
    Column("at", Float, nullable=False),
)

# Operators' switches (e.g. "replies_paused", the kill switch for the public voice).
switches = Table(
    "switches",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("by", String(64), nullable=False, default=""),
    Column("updated_at", Float, nullable=False),
)

# Storm control: alerts per channel in the current window, and the storms that collapsed a burst.
alert_rate = Table(
    "alert_rate",
    metadata,
    Column("channel", String(200), primary_key=True),
    Column("window_start", Float, nullable=False),
    Column("alerts", Integer, nullable=False),
)

alert_storms = Table(
    "alert_storms",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(200), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("last_member_at", Float, nullable=False),
    Column("members", Integer, nullable=False, default=0),
    Column("summarised", Integer, nullable=False, default=0),  # members covered by the last summary
    Column("closed_at", Float, nullable=True),
)
Index("ix_alert_storms_open", alert_storms.c.channel, alert_storms.c.closed_at)

alert_storm_members = Table(
    "alert_storm_members",
    metadata,
    Column("storm_id", Id, primary_key=True),
    Column("mention_id", Id, primary_key=True),
    Column("urgency", String(16), nullable=False, default=""),
    Column("at", Float, nullable=False),
)
