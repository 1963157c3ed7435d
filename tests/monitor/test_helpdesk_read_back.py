"""The helpdesk's "solved" solves our ticket only when it is not older than what we last told it.

Seen on a busy machine: the customer wrote again, our ticket reopened and its comment (with the
reopen) was on its way; a status read that asked just then got the helpdesk's stale "solved" and
solved our ticket again while the helpdesk reopened it. A table over a real database (both backends)
with a helpdesk of our own protocol that always answers "solved".
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from connectors.helpdesk import HelpdeskConfig
from monitor.helpdesk_sync import COMMENT_KIND, HelpdeskSync
from monitor.sandbox.clock import ManualClock
from monitor.storage.schema import outbox, tickets

NOW = 1_764_000_000.0


class SaysSolved:
    kind = "zendesk"

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def status(self, ticket_id: str) -> str:
        self.asked.append(ticket_id)
        return "solved"


@pytest.mark.parametrize(("row", "ours_after"), [
    (None, "solved"),  # nothing told: their "solved" stands
    (("sent", NOW - 60), "solved"),  # told a minute before we asked: their answer is newer
    (("pending", None), "open"),  # the reopen is on its way: their "solved" is stale
    (("sent", NOW + 0.5), "open"),  # it landed after we asked: their answer may predate it
    (("dead", None), "solved"),  # given up: it is not coming (outbox list shows it)
])
async def test_their_solved_is_applied_only_when_not_stale(engine, row, ours_after) -> None:
    async with engine.begin() as conn:
        tid = (await conn.execute(tickets.insert().values(
            root_key="x:1", source="x", author_id="a1", status="open", urgency="normal", helpdesk_id="55",
            opened_at=NOW - 3600, updated_at=NOW - 10).returning(tickets.c.id))).scalar_one()
        if row is not None:
            status, sent_at = row
            await conn.execute(outbox.insert().values(
                key="helpdesk:note:x:2", kind=COMMENT_KIND, target="zendesk", lane="helpdesk:zendesk",
                payload={"ticket_id": tid, "reopen": True}, status=status, sent_at=sent_at,
                next_attempt_at=NOW, created_at=NOW - 1, thread_of=f"helpdesk:{tid}"))
    desk = SaysSolved()
    cfg = HelpdeskConfig(kind="zendesk", url="http://127.0.0.1:9", email="a@acme.test", token="t")
    sync = HelpdeskSync(cfg, engine, desk, clock=ManualClock(NOW))  # type: ignore[arg-type]
    await sync.read_back()
    assert desk.asked == ["55"]
    async with engine.connect() as conn:
        assert (await conn.execute(select(tickets.c.status).where(tickets.c.id == tid))).scalar_one() == ours_after
