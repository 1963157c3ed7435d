"""The whole sandbox at once: X, Reddit and Slack servers on 127.0.0.1, and a config that points at them.

Used by `outreach-monitor demo`, `outreach-monitor sandbox`, the end-to-end tests and the
benchmarks, so they all exercise the same wiring an operator's YAML would.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.sandbox.core import Server
from monitor.sandbox.reddit_api import RedditWorld, make_reddit_app
from monitor.sandbox.scenario import Scenario
from monitor.sandbox.slack_api import SlackWorkspace, make_slack_app
from monitor.sandbox.x_api import XWorld, make_x_app

X_BEARER = "sandbox-bearer"
SLACK_TOKEN = "xoxb-sandbox-token"
REDDIT_CLIENT = ("sandbox-app", "sandbox-secret")
REDDIT_BOT = ("acme_care", "sandbox-password")
CHANNELS = {"critical": "#care-urgent", "high": "#care-urgent", "normal": "#care"}


def brand_query(brand: str) -> str:
    """One search stream for mentions of the brand by others AND the brand's replies (one request, not two)."""
    return f"({brand} -is:retweet -from:{brand}) OR (from:{brand} is:reply)"


class Listenable(Protocol):
    """A sandbox server that calls back on traffic (core.Recorder, smtp.SandboxSMTP)."""

    def listen(self, on_traffic: Callable[[], None], /) -> None: ...


@dataclass
class SandboxStack:
    clock: Callable[[], float] = time.time
    slack_rate_per_channel: float | None = 1.0
    ports: dict[str, int] = field(default_factory=dict)  # fixed ports for `outreach-monitor sandbox`

    def __post_init__(self) -> None:
        self.x = XWorld(self.clock, bearer_token=X_BEARER)
        self.slack = SlackWorkspace(token=SLACK_TOKEN, rate_per_channel=self.slack_rate_per_channel, wall=self.clock)
        self.slack.add_channel("care-escalations")
        self.reddit = RedditWorld(clock=self.clock)
        self.reddit.add_app(*REDDIT_CLIENT)
        self.reddit.add_user(*REDDIT_BOT)
        # set whenever any of the three answers a request: tests wait on traffic instead of on time
        self._activity = asyncio.Event()
        for recorder in (self.x.recorder, self.reddit.recorder, self.slack.recorder):
            recorder.listen(self._activity.set)
        self._servers = {
            "x": Server(make_x_app(self.x), port=self.ports.get("x", 0)),
            "reddit": Server(make_reddit_app(self.reddit), port=self.ports.get("reddit", 0)),
            "slack": Server(make_slack_app(self.slack), port=self.ports.get("slack", 0)),
        }

    async def start(self) -> dict[str, str]:
        for s in self._servers.values():
            await s.start()
        return self.urls

    def watch(self, server: Listenable) -> None:
        """Count another sandbox server's traffic as activity: a helpdesk's recorder, or the SMTP sandbox
        (each accepted message), that a test started beside the stack."""
        server.listen(self._activity.set)

    async def activity(self, timeout: float) -> None:
        """Return once any sandbox server has answered a request since the last call, or after `timeout`."""
        try:
            await asyncio.wait_for(self._activity.wait(), timeout)
        except TimeoutError:
            pass
        self._activity.clear()

    async def wait_until(
        self,
        cond: Callable[[], Awaitable[bool] | bool],
        *,
        timeout: float,
        what: str,
        alive: Callable[[], bool] | None = None,
        backstop: float = 0.5,
    ) -> float:
        """Re-check `cond` whenever the sandbox answers a request (at least every `backstop` s) until it
        holds; returns the seconds it took. `timeout` is a failure bound, not an expectation: past it,
        TimeoutError. `alive()` turning false (the daemon died) fails at once instead of waiting."""
        t0 = time.monotonic()
        while True:
            ok = cond()
            if not isinstance(ok, bool):
                ok = await ok
            if ok:
                return time.monotonic() - t0
            if alive is not None and not alive():
                raise RuntimeError(f"the daemon exited while waiting for {what}")
            remaining = t0 + timeout - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"not done after {timeout:.0f}s: {what}")
            await self.activity(min(remaining, backstop))

    async def stop(self) -> None:
        for s in self._servers.values():
            await s.stop()

    @property
    def urls(self) -> dict[str, str]:
        return {
            "x": self._servers["x"].url,
            "reddit": self._servers["reddit"].url,
            "slack": self._servers["slack"].url + "/api/",
        }

    def load(self, scenario: Scenario, start_at: float | None = None) -> dict[str, str]:
        """Schedule the scenario's posts on every platform; returns post keys to platform ids."""
        for sub in {p.extra["subreddit"] for p in scenario.posts if p.platform == "reddit" and "subreddit" in p.extra}:
            self.reddit.add_subreddit(sub)
        return {**self.x.schedule(scenario, start_at), **self.reddit.schedule(scenario, start_at)}

    def config(
        self,
        *,
        brand: str,
        db_url: str,
        x_interval: float = 2.0,
        queries: list[str] | None = None,
        reddit: bool = False,
        reddit_interval: float = 3.0,
        slack_min_interval: float = 1.0,
        http_port: int = 0,
        overrides: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A configuration (as parsed YAML) for a daemon that talks to this sandbox."""
        cfg: dict[str, Any] = {
            "brand": {"name": brand.title(), "own_handles": [brand]},
            "storage": {"url": db_url},
            "sources": [
                {
                    "type": "x",
                    "name": "x",
                    "bearer_token": X_BEARER,
                    "api_base": self.urls["x"],
                    "handles": [brand],
                    # what people say, and the brand's own replies (a reply is a ticket's response,
                    # whether we or a person on X wrote it: monitor/ticket_resolver.py)
                    "queries": queries if queries is not None else [brand_query(brand)],
                    "interval": x_interval,
                    "timeout": 5,
                }
            ],
            "slack": {
                "token": SLACK_TOKEN,
                "api_base": self.urls["slack"],
                "channels": CHANNELS,
                "operators_channel": "#care-ops",
                "min_interval_per_channel": slack_min_interval,
                # the cockpit: buttons over Socket Mode, the sandbox's user groups, an escalation channel
                "app_token": self.slack.app_token,
                "approvers_group": "S0APPROVERS",
                "oncall_group": "S0ONCALL",
                "escalation": {"channel": "#care-escalations"},
            },
            "outbox": {"base_backoff": 0.5, "max_backoff": 10, "poll_interval": 0.2},
            # public replies off unless a test or the demo turns them on (`overrides={"tickets": …}`):
            # their drafts would be Slack messages every other test would have to count
            "tickets": {"replies": {"default": "off"}},
            "server": {"host": "127.0.0.1", "port": http_port},
            "failover_seconds": 10,
        }
        if reddit:
            cfg["sources"].append(
                {
                    "type": "reddit",
                    "name": "reddit",
                    "client_id": REDDIT_CLIENT[0],
                    "client_secret": REDDIT_CLIENT[1],
                    "username": REDDIT_BOT[0],
                    "password": REDDIT_BOT[1],
                    "api_base": self.urls["reddit"],
                    "www_base": self.urls["reddit"],
                    "queries": [brand],
                    "subreddits": [brand],
                    "interval": reddit_interval,
                    "timeout": 5,
                    "retry_pause": 0.2,
                }
            )
        for key, value in (overrides or {}).items():
            cfg[key] = value
        return cfg
