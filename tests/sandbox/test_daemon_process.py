"""The child-process wrapper the crash test and the reliability matrix rely on: ready means ready, and
a child is always reaped."""
from __future__ import annotations

import os

import pytest
import yaml

from monitor.sandbox.daemon_process import DaemonFailed, DaemonProcess
from monitor.sandbox.stack import SandboxStack

pytestmark = pytest.mark.slow


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_start_waits_for_readiness_and_kill_reaps(tmp_path) -> None:
    stack = SandboxStack(slack_rate_per_channel=None)
    await stack.start()
    try:
        path = tmp_path / "d.yaml"
        path.write_text(yaml.safe_dump(stack.config(brand="acme", db_url=f"sqlite:///{tmp_path / 'd.db'}")))
        async with DaemonProcess(path) as daemon:
            await daemon.start()
            assert daemon.running and daemon.http_port
            assert daemon.seen("daemon.starting"), "readiness came before start-up finished"
            pid = daemon.pid
            assert await daemon.kill() == -9
        assert not _alive(pid)
    finally:
        await stack.stop()


async def test_a_daemon_that_dies_before_readiness_fails_with_its_log_and_is_reaped(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"storage": {"url": "sqlite:///x.db"}, "no_such_section": 1}))
    async with DaemonProcess(path) as daemon:
        with pytest.raises(DaemonFailed, match="exited with"):
            await daemon.start(ready_timeout=60)
    assert not daemon.running and daemon.proc is not None and daemon.proc.returncode not in (None, 0)
    assert daemon.tail, "the error should carry the daemon's last lines"


async def test_leaving_the_block_kills_and_reaps_a_running_daemon(tmp_path) -> None:
    stack = SandboxStack(slack_rate_per_channel=None)
    await stack.start()
    try:
        path = tmp_path / "d.yaml"
        path.write_text(yaml.safe_dump(stack.config(brand="acme", db_url=f"sqlite:///{tmp_path / 'd.db'}")))
        with pytest.raises(ZeroDivisionError):
            async with DaemonProcess(path) as daemon:
                await daemon.start()
                pid = daemon.pid
                1 / 0
        assert not _alive(pid) and daemon.proc is not None and daemon.proc.returncode == -9
    finally:
        await stack.stop()
