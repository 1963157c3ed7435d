"""The public-reply policy as tables: when to answer (decide) and when an approved reply may go (gate)."""
from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from outreach.policy import Candidate, History, QuietHours, ReplyConfig, decide, gate

NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC).timestamp()
H = 3600.0
CFG = ReplyConfig(categories={"billing": "approve", "outage": "auto", "praise": "off"}, auto_allowed=["outage"],
                  partners=["@GlobexAir"], cooldown_hours=24, max_age_hours=24)
FRESH = History(thread_answered=False, author_last_reply_at=None)


def cand(category: str = "delivery", *, user: str = "anna", at: float = NOW - 60, own: bool = False,
         bot: bool = False) -> Candidate:
    return Candidate(user, "1", category, at, is_own=own, is_bot=bot)


DECIDE = [
    ("the default is a dry run", cand(), FRESH, "dry_run"),
    ("approve waits for a person", cand("billing"), FRESH, "hold"),
    ("auto only where allowed", cand("outage"), FRESH, "auto"),
    ("off is off", cand("praise"), FRESH, "none"),
    ("never our own account", cand(user="AcmeHelp"), FRESH, "none"),
    ("never our own post", cand(own=True), FRESH, "none"),
    ("never a partner or competitor", cand("billing", user="globexair"), FRESH, "none"),
    ("never a bot", cand("billing", bot=True), FRESH, "none"),
    ("never spam", cand("spam"), FRESH, "none"),
    ("never an old post", cand("billing", at=NOW - 25 * H), FRESH, "none"),
    ("one reply per thread", cand("billing"), History(True, None), "none"),
    ("cool-down per author", cand("billing"), History(False, NOW - 23 * H), "none"),
    ("... over after it", cand("billing"), History(False, NOW - 25 * H), "hold"),
]


@pytest.mark.parametrize(("story", "c", "h", "action"), DECIDE, ids=[d[0] for d in DECIDE])
def test_decide(story, c, h, action) -> None:
    d = decide(c, h, CFG, now=NOW, own_handles=frozenset({"acmehelp"}))
    assert d.action == action, d.reason
    assert d.reason


QUIET = ReplyConfig(hourly_cap=2, quiet_hours=QuietHours(start=time(22), end=time(7), tz="Europe/Paris"))
GATE = [
    ("free to go", dict(now=NOW, paused=False, sent_last_hour=[]), None),
    ("paused holds", dict(now=NOW, paused=True, sent_last_hour=[]), (60.0, "paused")),
    ("the cap holds until the oldest send is an hour old",
     dict(now=NOW, paused=False, sent_last_hour=[NOW - 600, NOW - 1200]), (2400.0, "hourly cap")),
    ("sends older than an hour do not count", dict(now=NOW, paused=False, sent_last_hour=[NOW - 4000, NOW - 5]),
     None),
    # 23:00 UTC is midnight in Paris: quiet until 07:00 Paris = 06:00 UTC, 7 h later
    ("quiet hours hold until they end (local time)",
     dict(now=datetime(2026, 11, 30, 23, 0, tzinfo=UTC).timestamp(), paused=False, sent_last_hour=[]),
     (7 * H, "quiet hours")),
    ("outside quiet hours", dict(now=datetime(2026, 11, 30, 20, 0, tzinfo=UTC).timestamp(), paused=False,
                                 sent_last_hour=[]), None),
]


@pytest.mark.parametrize(("story", "kw", "want"), GATE, ids=[g[0] for g in GATE])
def test_gate(story, kw, want) -> None:
    got = gate(cfg=QUIET, **kw)
    if want is None:
        assert got is None
    else:
        assert got is not None and got[0] == pytest.approx(want[0]) and want[1] in got[1]


def test_auto_needs_the_operator_to_allow_it() -> None:
    with pytest.raises(ValueError, match="auto_allowed"):
        ReplyConfig(categories={"complaint": "auto"})
    with pytest.raises(ValueError, match="default: auto"):
        ReplyConfig(default="auto")
