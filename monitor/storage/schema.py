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
    false,
)

metadata = MetaData()

# BIGINT on PostgreSQL, INTEGER on SQLite (where only INTEGER PRIMARY KEY is the rowid alias).
Id = BigInteger().with_variant(Integer(), "sqlite")
# Counts from the platforms (followers) pass 2^31: BIGINT on PostgreSQL; SQLite's INTEGER is 64-bit already.
Count = BigInteger().with_variant(Integer(), "sqlite")

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
    Column("author_followers", Count, nullable=False, default=0),
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
    # deleted by its author or removed by a moderator: stored as is, never triaged or counted as a customer
    Column("removed", Boolean, nullable=False, default=False, server_default=false()),
    Column("withheld", String(256), nullable=True),  # X: country codes where the post is withheld ("DE,FR")
    UniqueConstraint("source", "external_id", name="uq_mentions_source_external_id"),
)
Index("ix_mentions_created_at", mentions.c.created_at)
# covers created_at: repeat contact ("3rd message in 24 h") is counted from the index alone
Index("ix_mentions_author", mentions.c.source, mentions.c.author_id, mentions.c.created_at)
Index("ix_mentions_source_fetched", mentions.c.source, mentions.c.fetched_at)  # the quiet-source watchdog

CURSOR_VALUE_MAX = 256  # a longer cursor is refused before it is written (monitor/quarantine.py)

cursors = Table(
    "cursors",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("stream", String(128), primary_key=True),
    Column("value", String(CURSOR_VALUE_MAX), nullable=False),
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
    # issue 10: the ticket follows the customer (monitor/ticket_resolver.py) and has a lifecycle
    # (monitor/ticket_lifecycle.py). Times are when things happened on the platform, so response
    # times are the customer's wait, not our polling delay.
    Column("conversation_id", String(64), nullable=True),  # the thread it was opened in
    Column("category", String(32), nullable=True),
    Column("last_customer_at", Float, nullable=True),
    Column("last_response_at", Float, nullable=True),
    Column("first_response_at", Float, nullable=True),
    Column("first_response_ref", String(64), nullable=True),  # the brand post (or our reply) that answered
    Column("reply_ref", String(64), nullable=True),  # our public reply's id, when we sent one
    Column("solved_at", Float, nullable=True),
    Column("closed_at", Float, nullable=True),
    Column("handoff", String(16), nullable=True),  # "dm" | "link": the conversation moved private
    Column("handoff_at", Float, nullable=True),
    # when it became critical (opening, a later mention, a relabel): the escalation timer starts here
    Column("critical_since", Float, nullable=True),
    Column("helpdesk_id", String(64), nullable=True),  # its mirror in Zendesk/Freshdesk (monitor/helpdesk_sync.py)
)
Index("ix_tickets_author", tickets.c.source, tickets.c.author_id, tickets.c.status)

# Which ticket a customer's messages in a conversation join: (source, conversation, author) → ticket.
# A returning customer's new thread points at their open ticket; a stranger in someone's thread gets
# a row of their own only when they open a ticket.
ticket_threads = Table(
    "ticket_threads",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("conversation_id", String(64), primary_key=True),
    Column("author_id", String(64), primary_key=True),
    Column("ticket_id", Id, nullable=False),
)
Index("ix_ticket_threads_ticket", ticket_threads.c.ticket_id)

# What happened to a ticket, when: opened, joined, reopened, responded, first_response, pending,
# solved, closed, sla_breach, handoff, reply_sent. The digest's care figures are read from here.
ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ticket_id", Id, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("at", Float, nullable=False),
    Column("ref", String(64), nullable=True),  # the mention's external id, the reply's id, the SLA name
    Column("detail", String(200), nullable=True),
)
Index("ix_ticket_events_ticket", ticket_events.c.ticket_id)
Index("ix_ticket_events_kind_at", ticket_events.c.kind, ticket_events.c.at)

# Public replies: at most ONE per thread (the unique thread_key), whatever the policy said.
# status: dry_run | held | approved | sent | skipped. The outbox row exists from approval on.
replies = Table(
    "replies",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("thread_key", String(200), nullable=False, unique=True),  # "<source>:<conversation>"
    Column("ticket_id", Id, nullable=False),
    Column("mention_id", Id, nullable=False),  # the post answered
    Column("source", String(64), nullable=False),
    Column("author_id", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("lang", String(16), nullable=False, default="en"),
    Column("policy", String(16), nullable=False),  # off | dry-run | approve | auto, when decided
    Column("status", String(16), nullable=False),
    Column("private", Boolean, nullable=False, default=False),  # moves the conversation to DMs / a link
    Column("text", Text, nullable=False),
    Column("reason", String(200), nullable=True),  # why held / skipped
    Column("outbox_key", String(200), nullable=True),
    Column("ref", String(64), nullable=True),  # the posted reply's id
    Column("created_at", Float, nullable=False),
    Column("decided_at", Float, nullable=True),
    Column("decided_by", String(128), nullable=True),
    Column("sent_at", Float, nullable=True),
)
Index("ix_replies_status", replies.c.status, replies.c.created_at)
Index("ix_replies_author", replies.c.source, replies.c.author_id, replies.c.created_at)

# The spend ledger: each request charged to its source's pool when it is made (replies today).
spend = Table(
    "spend",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("pool", String(32), nullable=False),  # e.g. "tweets" (X's POST /2/tweets), "comment"
    Column("requests", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("what", String(200), nullable=False),  # the outbox key it was spent for
)
Index("ix_spend_source_at", spend.c.source, spend.c.at)

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
    # 0 critical, 1 high and operators' messages, 2 normal, 3 low: within a lane the lowest goes first
    Column("priority", Integer, nullable=False, default=2, server_default="2"),
    # what is paced together (one Slack channel): "<service>:<target>"; claimed one row at a time per lane
    Column("lane", String(200), nullable=False, default="", server_default=""),
    Column("about", String(64), nullable=True),  # "ticket:7", "incident:3", "mention:42"
    Column("thread_of", String(64), nullable=True),  # post in the thread of the first message about this
)
Index("ix_outbox_due", outbox.c.status, outbox.c.next_attempt_at)
Index("ix_outbox_lane", outbox.c.status, outbox.c.lane, outbox.c.priority, outbox.c.next_attempt_at)
Index("ix_outbox_about", outbox.c.about)

# Pacing and blocks shared by every daemon on the database: one row per lane ("slack:#care") and per
# service ("service:slack", blocked while the token is refused).
delivery_lanes = Table(
    "delivery_lanes",
    metadata,
    Column("lane", String(200), primary_key=True),
    Column("next_at", Float, nullable=False, default=0.0),  # the lane's next send may start then
    Column("blocked_until", Float, nullable=False, default=0.0),
    Column("blocked_reason", Text, nullable=True),
    Column("blocked_since", Float, nullable=True),
    Column("holder", String(128), nullable=True),  # who is sending on it now (until next_at)
)

# The message registry: which Slack message is about which ticket, incident or mention. Written in
# the transaction that marks its outbox row sent, so threads, updates and buttons can find it.
slack_messages = Table(
    "slack_messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("outbox_key", String(200), nullable=False, unique=True),
    Column("lane", String(200), nullable=False),
    Column("channel_id", String(64), nullable=False),
    Column("ts", String(32), nullable=False),
    Column("thread_ts", String(32), nullable=True),  # set when the message is a reply in a thread
    Column("about", String(64), nullable=True),
    Column("posted_at", Float, nullable=False),
    UniqueConstraint("channel_id", "ts", name="uq_slack_messages_channel_ts"),
)
Index("ix_slack_messages_about", slack_messages.c.about, slack_messages.c.lane)

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

# ── service health and incidents (issue 11) ──────────────────────────────────────────────────
# One row per health check (or per Alertmanager alert, statuspage component, delay): the state of
# monitor.health_state.step(), written in the same transaction as what its action did, so a
# restarted daemon neither pages again nor forgets an open incident.
alert_states = Table(
    "alert_states",
    metadata,
    Column("check", String(200), primary_key=True),
    Column("service", String(64), nullable=False),
    Column("status", String(16), nullable=False, default="up"),  # up | down | degraded
    Column("failures", Integer, nullable=False, default=0),
    Column("successes", Integer, nullable=False, default=0),
    Column("triggered", Boolean, nullable=False, default=False),
    Column("last_ok", Boolean, nullable=True),
    Column("changes", JSON, nullable=True),  # recent ok↔failing change times (flap detection)
    Column("since", Float, nullable=True),
    Column("incident_id", Id, nullable=True),
    Column("detail", Text, nullable=False, default=""),  # the last reading's detail (internal: never public)
    Column("updated_at", Float, nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("service", String(64), nullable=False),
    Column("title", String(256), nullable=False),
    Column("status", String(16), nullable=False),  # investigating | identified | monitoring | resolved
    Column("impact", String(16), nullable=False, default="major"),  # minor (degraded) | major | critical
    # internal: Slack only (a complaint spike nobody confirmed yet); public: customers are told
    Column("public", Boolean, nullable=False, default=True),
    Column("opened_by", String(200), nullable=False),  # "check:api-health", "spike", "person:ana", …
    Column("terms", JSON, nullable=True),  # words that name the service in a post (triage attaches mentions)
    Column("opened_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("resolved_at", Float, nullable=True),
    # the proactive notices' cadence: which update customers last heard about, and when
    Column("noticed_update_id", Id, nullable=True),
    Column("noticed_at", Float, nullable=True),
)
Index("ix_incidents_open", incidents.c.status, incidents.c.service)

incident_updates = Table(
    "incident_updates",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, nullable=False),
    Column("status", String(16), nullable=False),
    Column("message", Text, nullable=False),  # what customers may read (public incidents)
    Column("note", Text, nullable=False, default=""),  # what only the team reads (check names, details)
    Column("by", String(200), nullable=False),
    Column("created_at", Float, nullable=False),
)
Index("ix_incident_updates_incident", incident_updates.c.incident_id, incident_updates.c.id)
# A mention about an open incident is attached to it (monitor/ingest.py), for acknowledgements and counts.
mentions.append_column(Column("incident_id", Id, nullable=True))
Index("ix_mentions_incident", mentions.c.incident_id)

# ── digests (issue 12) ──────────────────────────────────────────────────────────────────────
# Persisted source health: when a source or stream was paused, failing, throttled, quiet, or lost a
# range (gap). `end_at` NULL = still going on. A digest's coverage ledger and /healthz read it.
coverage_events = Table(
    "coverage_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("stream", String(128), nullable=False, default=""),  # "" = the whole source
    Column("kind", String(16), nullable=False),  # paused | failing | throttled | gap | quiet
    Column("start_at", Float, nullable=False),
    Column("end_at", Float, nullable=True),
    Column("detail", Text, nullable=False, default=""),
    UniqueConstraint("source", "stream", "kind", "start_at", name="uq_coverage_events_episode"),
)
Index("ix_coverage_events_time", coverage_events.c.start_at, coverage_events.c.end_at)

# Built digests: the figures as JSON (pages, CSV, Slack and e-mail are rendered from it).
digests = Table(
    "digests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),  # e.g. "weekly:2026-11-30T09:00"
    Column("schedule", String(64), nullable=False, default=""),  # "" for one built on demand
    Column("period_start", Float, nullable=False),
    Column("period_end", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("data", JSON, nullable=False),
)
Index("ix_digests_created", digests.c.created_at)

# The last slot of each schedule that was run: a missed slot is sent once, by one daemon.
digest_runs = Table(
    "digest_runs",
    metadata,
    Column("schedule", String(64), primary_key=True),
    Column("slot_at", Float, nullable=False),  # the newest slot handled (epoch seconds)
    Column("digest_key", String(200), nullable=False, default=""),
    Column("ran_at", Float, nullable=False),
    Column("holder", String(128), nullable=False, default=""),
)

# Hourly counts kept after raw mentions are pruned, so digests of old periods still have volume,
# categories and tone. One row per (hour, source, stream, category); category "" = not triaged.
mention_rollups = Table(
    "mention_rollups",
    metadata,
    Column("hour_at", Float, primary_key=True),  # start of the UTC hour
    Column("source", String(64), primary_key=True),
    Column("stream", String(128), primary_key=True),
    Column("category", String(32), primary_key=True),
    Column("mentions", Integer, nullable=False, default=0),
    Column("own", Integer, nullable=False, default=0),
    Column("complaints", Integer, nullable=False, default=0),
    Column("positive", Integer, nullable=False, default=0),
    Column("negative", Integer, nullable=False, default=0),
    Column("sentiment_sum", Float, nullable=False, default=0.0),
    Column("sentiment_n", Integer, nullable=False, default=0),
    Column("reach", BigInteger, nullable=False, default=0),
    Column("engagement", BigInteger, nullable=False, default=0),
)

# Items a source returned that could not be stored even after the edge made their text storable
# (monitor/quarantine.py). The raw payload is JSON text with every non-ASCII character escaped, so it
# is storable whatever it holds; (source, external_id) keeps an item that is fetched again to one row.
quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("stream", String(128), nullable=False, default=""),
    Column("external_id", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("source", "external_id", name="uq_quarantine_source_external_id"),
)
Index("ix_quarantine_created_at", quarantine.c.created_at)

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
    Column("summarised_at", Float, nullable=False),
    Column("closed_at", Float, nullable=True),
    # "incident:N": mentions about an open incident, collapsed into its thread; None: a channel's burst
    Column("about", String(64), nullable=True),
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

# Subscribers added with `outreach-monitor subscribers add` (the config's `subscribers:` are not stored):
# e-mail addresses and webhook URLs only — an apprise URL or a webhook secret is a credential and stays
# in the config, from the environment.
subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # email | webhook
    Column("address", String(512), nullable=False),
    Column("services", JSON, nullable=True),  # empty or null: all
    Column("regions", JSON, nullable=True),
    Column("segments", JSON, nullable=True),
    Column("added_by", String(128), nullable=False, default="", server_default=""),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("kind", "address", name="uq_subscribers_kind_address"),
)
