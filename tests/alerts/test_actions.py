"""The decisions behind the alert buttons and the escalation timer, as tables."""
from __future__ import annotations

import pytest

from alerts.actions import EscalationRule, Handling, decide, escalation_due

T = Handling(ticket_id=7)
ANN, BOB = "U0ANN", "U0BOB"


@pytest.mark.parametrize(
    "action, state, user, changes, note",
    [
        ("claim", T, ANN, {"claimed_by": ANN, "acknowledged_by": ANN}, "You claimed ticket #7."),
        ("claim", Handling(7, acknowledged_by=BOB), ANN, {"claimed_by": ANN}, "You claimed ticket #7."),
        ("claim", Handling(7, claimed_by=ANN), ANN, {}, "You already have ticket #7."),
        ("claim", Handling(7, claimed_by=BOB), ANN, {}, "ticket #7 is already claimed by <@U0BOB>."),
        ("claim", Handling(7, status="solved"), ANN, {}, "ticket #7 is already resolved."),
        ("acknowledge", T, ANN, {"acknowledged_by": ANN}, "Acknowledged ticket #7."),
        ("acknowledge", Handling(7, acknowledged_by=BOB), ANN, {},
         "ticket #7 was already acknowledged by <@U0BOB>."),
        ("acknowledge", Handling(7, status="closed"), ANN, {}, "ticket #7 is already resolved."),
        ("escalate", T, ANN, {"escalation_level": 2}, "Escalated ticket #7."),
        ("escalate", Handling(7, escalation_level=1), ANN, {"escalation_level": 2}, "Escalated ticket #7."),
        ("escalate", Handling(7, escalation_level=2), ANN, {}, "ticket #7 is already escalated."),
        ("resolve", T, ANN, {"status": "solved"}, "Resolved ticket #7."),
        ("resolve", Handling(7, claimed_by=BOB), ANN, {"status": "solved"}, "Resolved ticket #7."),
        ("resolve", Handling(7, status="solved"), ANN, {}, "ticket #7 is already resolved."),
        ("spam", T, ANN, {"suppress": True, "status": "solved"},
         "Marked as spam: this author will not be alerted on again; ticket #7 resolved."),
        ("spam", Handling(7, status="solved"), ANN, {"suppress": True},
         "Marked as spam: this author will not be alerted on again; ticket #7 resolved."),
        ("spam", Handling(7, author_suppressed=True), ANN, {},
         "This author is already marked as spam; ticket #7 is open."),
    ],
)
def test_decide(action, state, user, changes, note) -> None:
    d = decide(action, state, user)
    assert d.changes == changes
    assert d.note == note
    assert d.effective is bool(changes)


def test_the_same_click_twice_changes_once() -> None:
    for action in ("claim", "acknowledge", "escalate", "resolve", "spam"):
        state = T
        first = decide(action, state, ANN)
        assert first.effective
        after = Handling(7, status=first.changes.get("status", "open"),
                         claimed_by=first.changes.get("claimed_by"),
                         acknowledged_by=first.changes.get("acknowledged_by"),
                         escalation_level=first.changes.get("escalation_level", 0),
                         author_suppressed=bool(first.changes.get("suppress")))
        assert not decide(action, after, ANN).effective, action
        assert not decide(action, after, BOB).effective, action


RULE = EscalationRule(reannounce_after_s=600, channel_after_s=1800)


@pytest.mark.parametrize(
    "state, urgency, age, expected",
    [
        (T, "critical", 599, None),
        (T, "critical", 600, 1),
        (T, "critical", 1800, 2),  # a timer that was down jumps straight to the channel
        (Handling(7, escalation_level=1), "critical", 900, None),
        (Handling(7, escalation_level=1), "critical", 1800, 2),
        (Handling(7, escalation_level=2), "critical", 99999, None),
        (Handling(7, acknowledged_by=ANN), "critical", 1800, None),
        (Handling(7, claimed_by=ANN), "critical", 1800, None),
        (Handling(7, status="solved"), "critical", 1800, None),
        (T, "high", 1800, None),
        (T, None, 1800, None),
    ],
)
def test_escalation_due(state, urgency, age, expected) -> None:
    assert escalation_due(state, urgency=urgency, critical_since=1000.0, now=1000.0 + age, rule=RULE) == expected
