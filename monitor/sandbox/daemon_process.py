"""The real daemon as a child process (`python -m monitor run`), for crash tests and the reliability matrix.

What a caller may rely on:
- `start()` returns only once the daemon logged `daemon.started` (migrated, jobs registered,
  dispatcher and web server up), so a kill after it never lands in start-up by accident; it
  raises `DaemonFailed` with the daemon's last log lines if the process exits first.
- The child is always reaped: `kill()`, `terminate()` and `reap()` wait for it, and `async with`
  kills and reaps whatever happened inside the block.
- Its stderr (one JSON event a line) is read continuously, so a chatty daemon never blocks on a full
  pipe; callers can wait for any event by name (`wait_event`), and `tail` keeps the last lines for
  error messages. `log_path` also keeps every line in a file.

The only bounds on time here are failure bounds (a daemon that never becomes ready), never the
moment something is expected to happen.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

READY_EVENT = "daemon.started"


class DaemonFailed(RuntimeError):
    """The daemon exited, or never became ready, when it should have been running."""


class DaemonProcess:
    def __init__(self, config_path: str | Path, *, env: Mapping[str, str] | None = None,
                 log_path: str | Path | None = None, name: str = "daemon") -> None:
        self.config_path = Path(config_path)
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.log_path = Path(log_path) if log_path else None
        self.name = name
        self.proc: asyncio.subprocess.Process | None = None
        self.tail: deque[str] = deque(maxlen=40)
        self.ready: dict[str, Any] | None = None  # the daemon.started event (instance, http_port)
        self._seen: dict[str, list[dict[str, Any]]] = {}
        self._waiters: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        self._reader: asyncio.Task[None] | None = None
        self._log: IO[str] | None = None

    # ── life ─────────────────────────────────────────────────────────────────────────────
    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def http_port(self) -> int | None:
        return None if self.ready is None else self.ready.get("http_port")

    async def start(self, *, ready_timeout: float = 120.0) -> DaemonProcess:
        """Spawn the daemon and wait for its readiness line. `ready_timeout` only bounds a daemon that hangs."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self.ready = None
        self._seen.clear()
        if self.log_path is not None and self._log is None:
            self._log = self.log_path.open("a", encoding="utf-8")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "--config", str(self.config_path),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )
        self._reader = asyncio.create_task(self._read(self.proc), name=f"{self.name}-stderr")
        try:
            self.ready = await self.wait_event(READY_EVENT, timeout=ready_timeout)
        except BaseException:
            await self.reap()
            raise
        return self

    async def kill(self) -> int:
        """kill -9, then reap. Returns the exit code (-9)."""
        return await self._signal_and_wait(signal.SIGKILL)

    async def terminate(self, *, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait up to `timeout` for a clean exit; returns its code, or None if it had to be killed."""
        if not self.running:
            return self.proc.returncode if self.proc else None
        assert self.proc is not None
        self.signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            await self.kill()
            return None
        await self._finish_reader()
        return code

    async def reap(self) -> None:
        """Whatever state it is in: make sure the child is gone and waited for."""
        if self.proc is not None and self.proc.returncode is None:
            self.signal(signal.SIGKILL)
        if self.proc is not None:
            await self.proc.wait()
        await self._finish_reader()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def __aenter__(self) -> DaemonProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.reap()

    def signal(self, sig: int) -> None:
        """Send `sig` to the child if it has not been reaped yet (SIGHUP, SIGTERM, SIGKILL).

        By pid, never through Popen: Popen.send_signal() first polls, and that poll can reap a child
        that is already dead (killed from elsewhere, e.g. mid-delivery) before asyncio's child
        watcher does; the watcher then finds no child and reports exit code 255 instead of -9.
        Signalling a dead but unreaped child is harmless; a reaped one raises ProcessLookupError."""
        assert self.proc is not None, "not started"
        if self.proc.returncode is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    async def _signal_and_wait(self, sig: int) -> int:
        self.signal(sig)
        code = await self.proc.wait()  # type: ignore[union-attr]
        await self._finish_reader()
        return code

    async def _finish_reader(self) -> None:
        if self._reader is not None:
            await self._reader  # ends at EOF, which the child's exit brings
            self._reader = None

    # ── its log ──────────────────────────────────────────────────────────────────────────
    def seen(self, event: str) -> list[dict[str, Any]]:
        """Every occurrence of `event` in this life of the daemon, oldest first."""
        return list(self._seen.get(event, ()))

    async def wait_event(self, event: str, *, timeout: float = 120.0) -> dict[str, Any]:
        """The next (or an already logged) `event` of this life; DaemonFailed if the daemon exits first."""
        if self._seen.get(event):
            return self._seen[event][-1]
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((event, fut))
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            raise DaemonFailed(f"{self.name}: no {event!r} within {timeout:.0f}s; last log lines:\n"
                               + "\n".join(self.tail)) from None
        finally:
            if (event, fut) in self._waiters:
                self._waiters.remove((event, fut))
            if fut.done() and not fut.cancelled():
                fut.exception()  # retrieved: asyncio must not warn about it

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            text = line.decode("utf-8", "replace").rstrip("\n")
            self.tail.append(text)
            if self._log is not None:
                self._log.write(text + "\n")
            try:
                record = json.loads(text)
            except ValueError:
                continue  # a library's plain line
            if not isinstance(record, dict) or "event" not in record:
                continue
            self._seen.setdefault(record["event"], []).append(record)
            for name, fut in list(self._waiters):
                if name == record["event"] and not fut.done():
                    fut.set_result(record)
        code = await proc.wait()
        for name, fut in self._waiters:  # the daemon is gone: nothing it was expected to log will come
            if not fut.done():
                fut.set_exception(DaemonFailed(
                    f"{self.name} exited with {code} before logging {name!r}; last log lines:\n" + "\n".join(self.tail)))
