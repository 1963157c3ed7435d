"""What the end-to-end tests share: waiting for a condition, and a daemon config file over the sandbox."""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

from monitor.sandbox.stack import SandboxStack

# A condition is re-checked each time the sandbox answers a request (the daemon acted); this is only
# the longest gap between checks for a condition that changes with no traffic (a job finishing).
BACKSTOP_S = 0.5
# Generous: a passing test never waits this long, and a busy two-core CI machine can be slow.


async def wait_for(
    stack: SandboxStack, cond: Callable[[], Awaitable[bool] | bool], *, timeout: float = 45.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        ok = cond()
        if not isinstance(ok, bool):
            ok = await ok
        if ok:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or cond}")
        await stack.activity(min(remaining, BACKSTOP_S))


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path
