"""/healthz's delivery verdict (monitor/delivery_health.py): never "ok" while alerts are not flowing,
"down" (503) when they do not reach the team where it matters."""
from __future__ import annotations

import pytest

from monitor.delivery_health import DOWN_AFTER_S, STALE_URGENT_S, BlockFact, judge

NOW = 10_000.0
URGENT, CARE, OPS = "slack:#care-urgent", "slack:#care", "slack:#care-ops"
LONG = NOW - DOWN_AFTER_S - 1  # a block that began long enough ago
JUST = NOW - 1  # one that just began


def b(lane: str, since: float, reason: str = "Slack answered chat.postMessage with HTTP 500") -> BlockFact:
    return BlockFact(lane, reason, since)


@pytest.mark.parametrize(("blocks", "waiting", "urgent_age", "down", "problem"), [
    ([], {CARE}, None, False, None),  # nothing blocked: ok
    ([b(CARE, JUST)], {CARE}, None, False, "delivery to slack:#care since 1 s"),  # a fresh block: degraded
    ([b(CARE, LONG)], {CARE, URGENT}, None, False, "delivery to slack:#care"),  # others still send: degraded
    ([b(CARE, LONG)], {CARE}, None, True, "every lane with alerts is blocked"),  # Slack down for all waiting
    ([b(CARE, LONG), b(OPS, JUST)], {CARE, OPS}, None, True, "every lane with alerts is blocked"),
    ([b(CARE, JUST), b(OPS, JUST)], {CARE, OPS}, None, False, "delivery to slack:#care-ops"),
    ([b(URGENT, LONG)], {URGENT, CARE}, None, True, "critical alerts are not reaching slack:#care-urgent"),
    ([b(URGENT, JUST)], {URGENT, CARE}, None, False, "delivery to slack:#care-urgent"),  # one 429 does not flap
    ([b("service:slack", JUST, "invalid_auth")], {CARE}, None, True, "Slack refuses the bot token"),  # at once
    ([], {URGENT}, STALE_URGENT_S + 1, True, "a critical or high alert has waited"),
    ([], {URGENT}, STALE_URGENT_S - 1, False, None),
])
def test_the_delivery_verdict(blocks, waiting, urgent_age, down, problem) -> None:  # type: ignore[no-untyped-def]
    v = judge(blocks, waiting=waiting, critical={URGENT}, urgent_age=urgent_age, now=NOW)
    assert v.down is down
    if problem is None:
        assert v.problems == []
    else:
        assert any(problem in p for p in v.problems), v.problems
        assert v.problems, "a blocked lane is never 'ok'"


def test_how_long_a_block_may_last_before_down_is_configurable() -> None:
    blocks = [b(URGENT, NOW - 3)]
    assert not judge(blocks, waiting={URGENT}, critical={URGENT}, urgent_age=None, now=NOW).down
    assert judge(blocks, waiting={URGENT}, critical={URGENT}, urgent_age=None, now=NOW, down_after=2).down
