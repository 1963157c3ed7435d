"""A scripted care team in the sandbox Slack: people who claim, relabel and resolve alerts as they arrive.

Used by `outreach-monitor demo` (and handy in tests): it reads the sandbox channels like a person
would, and acts only through Slack's own path — a button pressed over Socket Mode, a modal filled in
and submitted — so what it changes is what a real click would change.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from monitor.demo_alerts import urgency
from monitor.sandbox.slack_api import SlackWorkspace

log = logging.getLogger(__name__)

# who does what, in turn, to each new top-level alert that has buttons
SCRIPT: tuple[tuple[str, str], ...] = (
    ("U0ANN", "claim"),
    ("U0BOB", "relabel"),
    ("U0ANN", "claim"),
    ("U0CAT", "resolve"),
)


@dataclass
class Teammate:
    slack: SlackWorkspace
    pause_s: float = 0.5  # between two actions: people are not instant
    done: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def _alerts(self) -> list[dict[str, Any]]:
        out = []
        for m in self.slack.all_messages():
            top = m.get("thread_ts") in (None, m["ts"])
            buttons = [e["action_id"] for b in m.get("blocks") or [] if b.get("type") == "actions"
                       for e in b.get("elements") or []]
            if top and "mention_claim" in buttons and m["ts"] not in self._seen:
                out.append(m)
        return out

    async def run(self, stop: asyncio.Event) -> None:
        turn = 0
        while not stop.is_set():
            if not self.slack.socket.connected.is_set():
                await asyncio.sleep(0.2)
                continue
            for alert in self._alerts():
                self._seen.add(alert["ts"])
                user, what = SCRIPT[turn % len(SCRIPT)]
                turn += 1
                if what != "claim" and urgency(alert) == "critical":
                    what = "claim"  # nobody relabels a safety report "high, delivery" or closes it unread
                try:
                    await self.act(user, what, alert)
                    self.done[what] += 1
                except (KeyError, TimeoutError, ConnectionError) as e:
                    self.errors.append(f"{what} on {alert['ts']}: {e}")
                if stop.is_set():
                    return
                await asyncio.sleep(self.pause_s)
            await asyncio.sleep(0.2)

    async def act(self, user: str, what: str, alert: dict[str, Any]) -> None:
        channel, ts = alert["channel"], alert["ts"]
        if what == "relabel":
            before = set(self.slack.views)
            await self.slack.socket.click(user, channel, ts, "mention_relabel")
            for _ in range(50):  # the app opens the modal right after its ack
                opened = set(self.slack.views) - before
                if opened:
                    break
                await asyncio.sleep(0.05)
            else:
                raise TimeoutError("the relabel modal did not open")
            await self.slack.socket.submit_view(user, opened.pop(), {"urgency": {"pick_urgency": "high"},
                                                                     "category": {"pick_category": "delivery"}})
        else:
            await self.slack.socket.click(user, channel, ts, f"mention_{what}")
