"""Is the Socket Mode connection up? For /healthz: when it is down, every button in Slack is dead.

slack-sdk's Socket Mode client reconnects by itself and only *logs* why it cannot (a revoked
app-level token, Slack unreachable). `SocketHealth` is where that becomes state: a watcher asks the
client whether it is connected about once a second and records each change with its time; a logging
handler on the client's own logger keeps the newest failure it reported, so `/healthz` can say
"disconnected since 40 s: invalid_auth" instead of nothing.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

log = structlog.get_logger("cockpit")

WATCH_EVERY_S = 1.0
# how slack-sdk words a failure: "Failed to connect (error: The request to the Slack API failed. ...
# The server responded with: {'ok': False, 'error': 'invalid_auth'}); Retrying..."
_SLACK_ERROR = re.compile(r"'error': '([a-z_]+)'")


class _LastFailure(logging.Handler):
    def __init__(self, health: SocketHealth) -> None:
        super().__init__(logging.WARNING)
        self.health = health

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            return
        found = _SLACK_ERROR.search(message)
        self.health.last_error = found.group(1) if found else message.split("\n", 1)[0][:200]
        self.health.answered.set()  # emitted on the event loop's thread (the client is asyncio)


class SocketHealth:
    """The connection's state for /healthz: connected or not, since when, and the newest failure."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.connected = False
        self.since = clock()
        self.last_error: str | None = None
        self.connections = 0  # connections made (more than one: it reconnected)
        self.logger = logging.getLogger(f"outreach.socket_mode.{id(self)}")  # one per daemon in a process
        self.logger.propagate = False  # slack-sdk's tracebacks on every retry stay out of the log
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(_LastFailure(self))
        self._task: asyncio.Task[None] | None = None
        self.answered = asyncio.Event()  # the first attempt connected or failed: start() need not wait longer

    def observe(self, connected: bool) -> None:
        if connected == self.connected:
            return
        self.connected, self.since = connected, self.clock()
        self.answered.set()
        if connected:
            self.connections += 1
            log.info("cockpit.socket_mode_up", note="buttons, modals and /outreach are live")
        else:
            log.warning("cockpit.socket_mode_down", reason=self.last_error or "connection lost",
                        note="buttons, modals and /outreach do nothing until it is back")

    def watch(self, is_connected: Callable[[], Awaitable[bool]]) -> None:
        async def loop() -> None:
            while True:
                try:
                    self.observe(await is_connected())
                except Exception as e:  # never let the watcher die: /healthz would lie
                    self.last_error = f"{type(e).__name__}: {e}"[:200]
                    self.observe(False)
                await asyncio.sleep(WATCH_EVERY_S)

        self._task = asyncio.create_task(loop(), name="socket-mode-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def as_dict(self, now: float) -> dict[str, Any]:
        return {"connected": self.connected, "since_s": round(now - self.since, 1),
                "last_error": None if self.connected else self.last_error, "connections": self.connections}

    def problem(self, now: float) -> str | None:
        if self.connected:
            return None
        why = f": {self.last_error}" if self.last_error else ""
        return (f"Slack Socket Mode is disconnected since {round(now - self.since)} s{why} — buttons, modals and "
                f"/outreach do nothing (check slack.app_token)")
