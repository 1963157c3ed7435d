"""What the operator reads: one info line per alert delivered, /metrics without `_created` series."""
from __future__ import annotations

from structlog.testing import capture_logs

from monitor import outbox
from monitor.delivery import OutboxItem
from monitor.dispatcher import Dispatcher
from monitor.metrics import Metrics
from monitor.outbox import NewEffect


def test_metrics_have_no_created_series() -> None:
    m = Metrics()
    m.fetched.labels("x").inc()
    m.poll_seconds.labels("x").observe(0.2)
    text = m.render().decode()
    assert "om_mentions_fetched_total" in text and "om_poll_duration_seconds_bucket" in text
    assert "_created" not in text


class Recorder:
    kind = "slack.message"
    min_interval = 0.0

    async def deliver(self, item: OutboxItem) -> str:
        return f"ts-{item.key}"

    async def reconcile(self, item: OutboxItem) -> str | None:
        return None

    def pace_key(self, item: OutboxItem) -> str | None:
        return item.target


async def test_one_info_line_per_alert_delivered(engine) -> None:
    async with engine.begin() as conn:
        await outbox.enqueue(conn, [NewEffect(k, "slack.message", channel, {"text": k})
                                    for k, channel in (("a1", "#care"), ("a2", "#care-urgent"))], now=1000.0)
    dispatcher = Dispatcher(engine, {"slack.message": Recorder()}, worker="w", clock=lambda: 1000.0)
    with capture_logs() as logs:
        await dispatcher.run_once()
    delivered = [e for e in logs if e["event"] == "outbox.delivered"]
    assert sorted(e["key"] for e in delivered) == ["a1", "a2"]
    assert all(e["log_level"] == "info" and e["lane"].startswith("slack:#care") and e["result"].startswith("ts-")
               for e in delivered)
