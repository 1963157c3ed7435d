"""What each kind of public reply is called in Slack, from its thread key alone (before and after a click)."""
from __future__ import annotations

import pytest

from outreach.incident_replies import ack_key, follow_up_key
from outreach.reply_subject import subject
from outreach.status_posts import status_key


@pytest.mark.parametrize("key, ticket, username, source, expected", [
    ("x:1790000000000000001", 7, "carla", "x", "Reply for ticket #7"),
    ("reddit:t3_abc", 12, "u1", "reddit", "Reply for ticket #12"),
    (ack_key(3, "x", "42"), 9, "carla", "x", "Acknowledgement of @carla for incident #3"),
    (ack_key(3, "x", "42"), 9, "", "x", "Acknowledgement of the customer for incident #3"),
    (follow_up_key(ack_key(3, "x", "42")), 9, "carla", "x", "Follow-up to @carla: incident #3 is resolved"),
    (status_key(5, "identified"), 0, "", "x", "Status post on X for incident #5 (identified)"),
    (status_key(5, "resolved"), 0, "", "reddit", "Status post on Reddit for incident #5 (resolved)"),
])
def test_subject_by_thread_key(key, ticket, username, source, expected) -> None:
    assert subject(key, ticket, username=username, source=source) == expected
