"""Prometheus metrics. One registry per daemon, so tests and the demo can run several in one process."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.fetched = Counter("om_mentions_fetched_total", "Items returned by sources", ["source"], registry=r)
        self.stored = Counter("om_mentions_stored_total", "New mentions stored", ["source"], registry=r)
        self.duplicates = Counter("om_mentions_duplicate_total", "Items already stored", ["source"], registry=r)
        self.requests = Counter("om_source_requests_total", "API requests spent", ["source"], registry=r)
        self.source_errors = Counter("om_source_errors_total", "Failed polls", ["source", "kind"], registry=r)
        self.bad_items = Counter("om_source_bad_items_total", "Malformed items skipped", ["source"], registry=r)
        self.source_up = Gauge("om_source_up", "1 when the last poll succeeded", ["source"], registry=r)
        self.source_lag = Gauge("om_source_lag_seconds", "Seconds since the last successful poll", ["source"], registry=r)
        self.rate_remaining = Gauge("om_source_rate_limit_remaining", "Requests left in the window", ["source"], registry=r)
        self.verdicts = Counter("om_triage_verdicts_total", "Triage verdicts", ["urgency"], registry=r)
        self.poll_seconds = Histogram("om_poll_duration_seconds", "Fetch and store, per poll", ["source"], registry=r)
        self.outbox_pending = Gauge("om_outbox_pending", "Outbox rows waiting for delivery", registry=r)
        self.outbox_dead = Gauge("om_outbox_dead", "Outbox rows given up on", registry=r)
        self.outbox_oldest = Gauge("om_outbox_oldest_pending_seconds", "Age of the oldest pending row", registry=r)
        self.delivered = Counter("om_outbox_delivered_total", "Rows delivered", ["kind"], registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
