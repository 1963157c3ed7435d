"""Prometheus metrics. One registry per daemon, so tests and the demo can run several in one process."""
from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# The `*_created` series (one timestamp per counter and label set) double what /metrics serves and
# nobody graphs them. The switch is process-wide in prometheus_client.
disable_created_metrics()


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.fetched = Counter("om_mentions_fetched_total", "Items returned by sources", ["source"], registry=r)
        self.stored = Counter("om_mentions_stored_total", "New mentions stored", ["source"], registry=r)
        self.duplicates = Counter("om_mentions_duplicate_total", "Items already stored", ["source"], registry=r)
        self.requests = Counter("om_source_requests_total", "API requests spent", ["source"], registry=r)
        self.source_errors = Counter("om_source_errors_total", "Failed polls", ["source", "kind"], registry=r)
        self.quarantined = Counter("om_quarantined_total", "Items that could not be stored, kept in the quarantine",
                                   ["source"], registry=r)
        self.bad_items = Counter("om_source_bad_items_total", "Malformed items skipped", ["source"], registry=r)
        self.source_up = Gauge("om_source_up", "1 when the last poll succeeded", ["source"], registry=r)
        self.source_lag = Gauge("om_source_lag_seconds", "Seconds since the last successful poll", ["source"], registry=r)
        self.rate_remaining = Gauge("om_source_rate_limit_remaining", "Requests left in the window", ["source"], registry=r)
        self.verdicts = Counter("om_triage_verdicts_total", "Triage verdicts", ["urgency"], registry=r)
        self.poll_seconds = Histogram("om_poll_duration_seconds", "Fetch and store, per poll", ["source"], registry=r)
        self.outbox_pending = Gauge("om_outbox_pending", "Outbox rows waiting for delivery", registry=r)
        self.outbox_dead = Gauge("om_outbox_dead", "Outbox rows given up on", registry=r)
        self.outbox_oldest = Gauge("om_outbox_oldest_pending_seconds", "Age of the oldest pending row", registry=r)
        self.storage_up = Gauge("om_storage_up", "1 while the database answers", registry=r)
        self.delivered = Counter("om_outbox_delivered_total", "Rows delivered", ["kind"], registry=r)
        # per stream: a stream that keeps failing while its source works must not be invisible
        self.stream_up = Gauge("om_stream_up", "1 when the stream's last poll succeeded", ["source", "stream"],
                               registry=r)
        self.stream_errors = Counter("om_stream_errors_total", "Failed polls of one stream", ["source", "stream", "kind"],
                                     registry=r)
        self.partial_errors = Counter("om_stream_partial_errors_total",
                                      "Things the platform left out beside the data it sent (X: errors next to data)",
                                      ["source", "stream"], registry=r)
        self.stream_lag = Gauge("om_stream_lag_seconds", "Seconds since the stream's last successful poll",
                                ["source", "stream"], registry=r)
        self.stream_interval = Gauge("om_stream_poll_interval_seconds", "The planner's current poll interval",
                                     ["source", "stream"], registry=r)
        self.rate_limited = Counter("om_source_rate_limited_total", "Requests the platform refused with 429",
                                    ["source"], registry=r)
        self.gaps = Counter("om_source_gaps_total", "Ranges the platform could no longer return", ["source", "stream"],
                            registry=r)
        self.gap_seconds = Counter("om_source_gap_seconds_total", "Seconds of posts that may be missing",
                                   ["source", "stream"], registry=r)
        self.source_paused = Gauge("om_source_paused", "1 while the source is paused (auth or config)", ["source"],
                                   registry=r)
        self.source_quiet = Gauge("om_source_quiet", "1 while the source brings no mentions though it usually does",
                                  ["source"], registry=r)
        # the budget, per pool (X: per endpoint; Reddit: the client)
        self.budget_spent = Counter("om_budget_requests_total", "Requests spent", ["source", "pool"], registry=r)
        self.budget_limit = Gauge("om_budget_window_limit", "Requests allowed in the pool's tightest window",
                                  ["source", "pool"], registry=r)
        self.budget_used = Gauge("om_budget_window_used", "Requests spent in the pool's tightest window",
                                 ["source", "pool"], registry=r)
        self.budget_remaining = Gauge("om_budget_server_remaining", "What the platform's rate-limit headers say is left",
                                      ["source", "pool"], registry=r)
        self.budget_refused = Counter("om_budget_refused_total", "Times the pool was refused or found spent",
                                      ["source", "pool"], registry=r)
        self.reads = Gauge("om_budget_post_reads_month", "Posts read this month (X bills them)", ["source"], registry=r)
        self.reads_cap = Gauge("om_budget_post_reads_cap", "Monthly cap on posts read", ["source"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
