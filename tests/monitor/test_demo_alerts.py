"""The demo shows a few alerts as the care team reads them: Block Kit rendered to terminal lines."""
from __future__ import annotations

from datetime import UTC, datetime

from alerts.mention_alert import MentionView, build_mention_alert
from monitor import demo_alerts
from monitor.models import Author, Mention, Verdict


def alert(urgency: str, text: str, ts: str) -> dict:
    m = Mention(source="x", external_id=ts.replace(".", ""), text=text, author=Author("1", "maria", "Maria", 3400),
                created_at=datetime(2026, 11, 30, 22, 0, tzinfo=UTC), url="https://x.com/maria/status/1")
    v = Verdict(urgency, "safety" if urgency == "critical" else "delivery", True, True, -0.8, 90, 0.9,
                ("matched 'caught fire' (safety)",))
    return {**build_mention_alert(MentionView.from_models(7, m, v, ticket_id=3)), "ts": ts, "channel": "C1"}


def test_the_critical_alert_comes_first_and_operators_messages_are_left_out() -> None:
    ops = {"text": "source x paused", "blocks": [{"type": "header", "text": {"type": "plain_text",
                                                                           "text": "Critical: source paused"}}],
           "ts": "1.0", "channel": "C9"}
    msgs = [alert("normal", "late again", "2.0"), alert("critical", "it caught fire", "3.0"), ops,
            alert("high", "lost my bag", "4.0"), alert("low", "meh", "5.0")]
    shown = demo_alerts.pick(msgs, {"C1": "care-urgent", "C9": "care-ops"})
    assert [m["ts"] for m in shown] == ["3.0", "4.0", "2.0"]


def test_an_alert_reads_like_slack_shows_it() -> None:
    lines = demo_alerts.render(alert("critical", "the charger caught fire & burned my son's hand", "3.0"),
                               "care-urgent")
    text = "\n".join(lines)
    assert lines[0].startswith("── #care-urgent")
    assert "CRITICAL" in lines[1] and "SAFETY" in lines[1]
    assert "the charger caught fire & burned my son's hand" in text  # entities decoded, text whole
    assert "matched 'caught fire' (safety)" in text
    assert "[ Claim ]" in text and "<!date" not in text and "*" not in text
