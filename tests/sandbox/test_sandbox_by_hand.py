"""The sandbox is usable by hand: `sandbox --write-config F` writes a config `check` accepts, and its
scenario keeps producing traffic for as long as it runs."""
from __future__ import annotations

import asyncio
import sys

import pytest

from monitor.config import load_config
from monitor.sandbox.clock import ManualClock
from monitor.sandbox.stack import SandboxStack
from monitor.sandbox.texts import shared_data_dir
from monitor.sandbox.traffic import keep_playing


async def test_write_config_then_check_accepts_it(tmp_path) -> None:
    path = tmp_path / "sandbox.yaml"
    sandbox = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "sandbox", "--x-port", "0", "--slack-port", "0", "--reddit-port", "0",
        "--health-port", "0", "--smtp-port", "0", "--http-port", "0", "--write-config", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        seen = []
        async with asyncio.timeout(60):  # a failure bound: the readiness line is what is waited for
            while not seen or not seen[-1].startswith("sandbox ready"):
                line = (await sandbox.stdout.readline()).decode()
                assert line, "the sandbox exited before it was ready:\n" + "".join(seen)
                seen.append(line)
        cfg = load_config(path)  # what `run` loads: valid as written
        assert [s.name for s in cfg.sources] == ["x", "reddit"] and cfg.slack is not None
        assert cfg.sources[1].www_base == cfg.sources[1].api_base and cfg.sources[0].handles == ["acme"]
        assert "sandbox-bearer" in path.read_text() and "the sandbox's, not" in path.read_text()
        check = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "check", "--config", str(path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(check.communicate(), 60)
        assert check.returncode == 0, out.decode()
        # file, storage, x, reddit, slack; the cockpit's app token and its two user groups
        assert out.decode().count("✓") == 8
    finally:
        if sandbox.returncode is None:
            sandbox.terminate()
        await sandbox.wait()


@pytest.mark.skipif(shared_data_dir() is None, reason="needs the shared data's texts (../shared/data is absent; "
                    "the 30 built-in texts cannot make 60 distinct posts)")
async def test_the_scenario_keeps_producing_traffic_round_after_round() -> None:
    clock = ManualClock(1_760_000_000.0)
    stack = SandboxStack(clock=clock)  # not started: the worlds alone

    async def sleep(seconds: float) -> None:
        clock.now += seconds

    played = await keep_playing(stack, "acme", round_s=300, rounds=3, clock=clock, sleep=sleep)
    assert played == 3
    start = 1_760_000_000.0
    for r in range(3):  # every round brings new posts on both platforms
        x_posts = [t for t in stack.x.tweets.values() if start + 300 * r <= t.at < start + 300 * (r + 1)]
        assert len(x_posts) >= 20, r
    assert len({t.text for t in stack.x.tweets.values()}) > 60  # new texts, not the same round replayed
