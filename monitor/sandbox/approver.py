"""A scripted reply approver for the demo: a member of the approvers group who approves the held replies
shown in Slack, by clicking their Approve button (the real Socket Mode path, as a person would)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from monitor.sandbox.slack_api import SlackWorkspace

APPROVER = "U0CAT"  # in the sandbox's reply-approvers group
APPROVE = "reply_approve"


@dataclass
class Approver:
    slack: SlackWorkspace
    user: str = APPROVER
    pause_s: float = 0.5
    clicked: int = 0
    errors: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def _drafts(self) -> list[dict[str, Any]]:
        return [m for m in self.slack.all_messages() if m["ts"] not in self._seen and any(
            e.get("action_id") == APPROVE for b in m.get("blocks") or [] if b.get("type") == "actions"
            for e in b.get("elements") or [])]

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.slack.socket.connected.is_set():
                for m in self._drafts():
                    self._seen.add(m["ts"])
                    try:
                        await self.slack.socket.click(self.user, m["channel"], m["ts"], APPROVE)
                        self.clicked += 1
                    except (KeyError, TimeoutError, ConnectionError) as e:
                        self.errors.append(f"approve on {m['ts']}: {e}")
                    await asyncio.sleep(self.pause_s)
            await asyncio.sleep(0.2)
