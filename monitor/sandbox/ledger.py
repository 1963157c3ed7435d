"""What a run did, counted from both sides: the daemon's database and what reached the sandbox.

Used by the crash test and the reliability matrix (benchmarks/reliability.py) so both count
"stored", "lost" and "duplicates" the same way:

- stored / lost: of the posts the sandbox published (their platform ids), how many are in `mentions`;
- duplicates: posts stored more than once, plus Slack messages posted more than once for one
  outbox key (the idempotency key travels in the message metadata);
- alerts: the outbox rows for mention alerts, how many reached Slack, how many are still pending,
  and how many were given up on (dead or dropped).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.sandbox.slack_api import SlackWorkspace
from monitor.storage.schema import mentions, outbox

MENTION_ALERT = "slack.mention"


@dataclass(frozen=True)
class Tally:
    expected: int
    stored: int
    lost: int
    duplicates: int
    alerts: int  # outbox rows for mention alerts (one per alert decided)
    alerts_delivered: int  # of those, found in Slack
    alerts_pending: int
    alerts_given_up: int  # dead or dropped: the team never saw them
    slack_messages: int  # every message the sandbox Slack holds, operators' included
    outbox_status: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def slack_keys(slack: SlackWorkspace) -> Counter[str]:
    """How many times each outbox key was posted to Slack."""
    keys: Counter[str] = Counter()
    for m in slack.all_messages():
        key = ((m.get("metadata") or {}).get("event_payload") or {}).get("key")
        if key:
            keys[key] += 1
    return keys


async def tally(engine: AsyncEngine, slack: SlackWorkspace, expected_ids: Iterable[str]) -> Tally:
    expected = set(expected_ids)
    async with engine.connect() as conn:
        stored_ids = Counter(r[0] for r in await conn.execute(select(mentions.c.external_id)))
        rows = (await conn.execute(select(outbox.c.key, outbox.c.kind, outbox.c.status))).all()
        by_status = dict((await conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))).all())
    keys = slack_keys(slack)
    alert_rows = [(k, s) for k, kind, s in rows if kind == MENTION_ALERT]
    stored = sum(1 for i in expected if stored_ids.get(i))
    return Tally(
        expected=len(expected),
        stored=stored,
        lost=len(expected) - stored,
        duplicates=sum(n - 1 for n in stored_ids.values() if n > 1) + sum(n - 1 for n in keys.values() if n > 1),
        alerts=len(alert_rows),
        alerts_delivered=sum(1 for k, _ in alert_rows if keys.get(k)),
        alerts_pending=sum(1 for _, s in alert_rows if s == "pending"),
        alerts_given_up=sum(1 for k, s in alert_rows if s in ("dead", "dropped") and not keys.get(k)),
        slack_messages=sum(keys.values()),
        outbox_status={str(k): int(v) for k, v in by_status.items()},
    )


async def settled(engine: AsyncEngine, expected_ids: Iterable[str]) -> bool:
    """Every expected post stored and nothing left pending in the outbox."""
    expected = list(expected_ids)
    async with engine.connect() as conn:
        stored = 0
        for i in range(0, len(expected), 500):  # IN lists stay small for both backends
            chunk = expected[i:i + 500]
            stored += (await conn.execute(
                select(func.count()).select_from(mentions).where(mentions.c.external_id.in_(chunk)))).scalar_one()
        pending = (await conn.execute(select(func.count()).where(outbox.c.status == "pending"))).scalar_one()
    return stored >= len(expected) and pending == 0
