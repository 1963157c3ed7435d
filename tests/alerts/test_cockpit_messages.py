"""The cockpit's messages and modals: pure builders, escaped, within Block Kit's limits."""
from __future__ import annotations

import json

import pytest

from alerts.cockpit_messages import (
    escalation_message,
    group_mention,
    relabel_choice,
    relabel_modal,
    reply_heading,
    reply_message,
    status_text,
)
from alerts.mention_alert import MentionView
from alerts.storm import StormMember, StormRule, route, storm_parent, storm_summary, window
from outreach.replies import draft_message

HOSTILE = "<!channel> refund me <@U123> <https://evil.example|click>"
VIEW = MentionView(mention_id=5, source="x", external_id="1", text=HOSTILE, urgency="critical", category="safety",
                   author_username="eve", ticket_id=9)


@pytest.mark.parametrize("level, by, in_thread, expect", [
    (1, None, True, "Still unacknowledged: critical ticket #9"),
    (2, "U0ANN", False, "<@U0ANN> escalated ticket #9"),
    (2, None, True, "Escalated: critical ticket #9 from @eve has had no acknowledgement."),
])
def test_escalation_messages(level, by, in_thread, expect) -> None:
    msg = escalation_message(VIEW, level=level, by=by, group="S0ONCALL", in_thread=in_thread)
    blob = json.dumps(msg)
    assert expect in msg["blocks"][0]["text"]["text"]
    assert "<!channel>" not in blob and "<@U123>" not in blob and "<https://evil" not in blob
    assert ("<!subteam^S0ONCALL>" in blob) is (level == 1 or not in_thread or by is None)


def test_group_mentions_only_for_real_group_ids() -> None:
    assert group_mention("S0ONCALL") == "<!subteam^S0ONCALL>"
    assert group_mention("here> <!channel") == "" and group_mention(None) == ""


def test_relabel_modal_round_trip() -> None:
    modal = relabel_modal(VIEW, channel="C1", ts="1.2")
    assert len(modal["title"]["text"]) <= 24 and HOSTILE not in json.dumps(modal)
    submitted = dict(modal, state={"values": {
        "urgency": {"pick_urgency": {"selected_option": {"value": "low"}}},
        "category": {"pick_category": {"selected_option": {"value": "spam"}}}}})
    assert relabel_choice(submitted) == ({"mention_id": 5, "channel": "C1", "ts": "1.2"}, "low", "spam")
    bogus = dict(modal, state={"values": {"urgency": {"pick_urgency": {"selected_option": {"value": "urgent!"}}}}})
    assert relabel_choice(bogus)[1:] == (None, None)


@pytest.mark.parametrize("status, buttons, words", [
    ("held", 3, "waits for approval"),
    ("approved", 0, "approved by <@U0CAT>"),
    ("skipped", 0, "skipped by <@U0CAT>"),
    ("sent", 0, "posted"),
])
def test_reply_message_has_buttons_only_while_it_waits(status, buttons, words) -> None:
    msg = reply_message(3, 9, "Sorry <!here>!", status, "U0CAT")
    actions = [b for b in msg["blocks"] if b["type"] == "actions"]
    assert sum(len(b["elements"]) for b in actions) == buttons
    assert words in msg["blocks"][0]["text"]["text"] and "<!here>" not in json.dumps(msg)


@pytest.mark.parametrize("status, decided_by, subject, heading", [
    ("held", None, None, "Reply for ticket #9 waits for approval"),
    ("approved", "policy", None, "Reply for ticket #9 will be posted automatically"),
    ("approved", None, "Status post", "Status post will be posted automatically"),
    ("approved", "U0CAT", None, ":white_check_mark: Reply for ticket #9 approved by <@U0CAT>; it is posted once"),
    ("skipped", "U0CAT", "Acknowledgement", ":no_entry_sign: Acknowledgement skipped by <@U0CAT>; nothing is posted"),
    ("dry_run", None, None, "Draft reply for ticket #9 (dry run: not posted)"),
    ("dry_run", None, "Status post", "Status post (dry run: not posted)"),
    ("sent", "U0CAT", None, ":white_check_mark: Reply for ticket #9 posted"),
])
def test_a_reply_reads_the_same_as_a_draft_and_after_every_refresh(status, decided_by, subject, heading) -> None:
    assert reply_heading(status, 9, subject=subject, decided_by=decided_by) == heading
    refreshed = reply_message(3, 9, "Sorry!", status, decided_by, subject=subject)["blocks"][0]["text"]["text"]
    assert refreshed.startswith(f"*{heading}*")
    if status in ("held", "approved", "dry_run") and decided_by in (None, "policy"):  # what a draft can be
        drafted = draft_message(3, 9, "Sorry!", status, "why", subject=subject)["blocks"][0]["text"]["text"]
        assert drafted.startswith(f"*{heading}*")


def test_status_text() -> None:
    text = status_text({"health": "ok", "replies_paused": True, "replies_waiting": 2,
                        "tickets": {"open": 4, "unclaimed": 3, "critical_unacknowledged": 1},
                        "incidents": ["bookings"], "outbox": {"pending": 7, "dead": 0, "oldest_pending_age_s": 12.4},
                        "sources": {"x": {"state": "ok", "lag_s": 1.5}}})
    assert text.splitlines() == [
        "*outreach-monitor* — ok",
        "• Public replies: paused :double_vertical_bar:; 2 waiting for approval",
        "• Tickets: 4 open, 3 unclaimed, 1 critical unacknowledged",
        "• Open incidents: 1 (bookings)",
        "• Slack queue: 7 waiting (oldest 12s), 0 dead",
        "• Source x: ok, lag 1.5s",
    ]


RULE = StormRule(burst=3, window_s=60)


@pytest.mark.parametrize("urgency, in_window, in_thread, expected", [
    ("critical", 99, False, "own"),
    ("critical", 99, True, "own"),
    ("high", 2, False, "own"),
    ("high", 3, False, "storm"),
    ("normal", 0, True, "thread"),
    ("normal", 99, True, "thread"),  # route() alone; alert_flow sends a ticket's follow-up to the storm in a burst
])
def test_storm_route(urgency, in_window, in_thread, expected) -> None:
    assert route(urgency, alerts_in_window=in_window, in_ticket_thread=in_thread, rule=RULE) == expected
    assert route(urgency, alerts_in_window=in_window, in_ticket_thread=False, rule=None) == "own"


@pytest.mark.parametrize("urgency, in_window, in_thread, expected", [
    ("critical", 0, False, "own"),  # critical: on its own, incident or not
    ("high", 0, False, "incident"),  # no burst needed
    ("normal", 99, False, "incident"),  # the incident's thread, not the channel's storm
    ("normal", 0, True, "thread"),  # a customer's ticket thread comes first
])
def test_storm_route_for_a_mention_about_an_open_incident(urgency, in_window, in_thread, expected) -> None:
    assert route(urgency, alerts_in_window=in_window, in_ticket_thread=in_thread, rule=RULE,
                 in_open_incident=True) == expected
    # storm control off: nothing collapses
    assert route(urgency, alerts_in_window=in_window, in_ticket_thread=in_thread, rule=None,
                 in_open_incident=True) in ("own", "thread")


def test_storm_window_and_messages() -> None:
    assert window(None, 0, 100.0, RULE) == (100.0, 0)
    assert window(100.0, 5, 159.0, RULE) == (100.0, 5)
    assert window(100.0, 5, 160.0, RULE) == (160.0, 0)
    newest = [StormMember("high", "delivery", "ann", HOSTILE)]
    parent = storm_parent(channel_label="#care", members=57, started_at=1e9, last_at=1e9 + 60, newest=newest,
                          closed=False)
    assert "*57* mentions collapsed" in parent["blocks"][0]["text"]["text"]
    summary = storm_summary(new_members=12, total=57, newest=newest)
    assert summary["text"] == "12 more mentions (57 in this storm)"
    for msg in (parent, summary):
        assert "<!channel>" not in json.dumps(msg) and "<@U123>" not in json.dumps(msg)
    about = storm_parent(channel_label="#care-ops", members=1, started_at=1e9, last_at=1e9, newest=newest,
                         closed=True, incident_id=4)
    assert about["text"] == "Mentions about incident #4 (over): 1 mentions collapsed"
    assert "*1* mention collapsed" in about["blocks"][0]["text"]["text"]
