"""`outreach-monitor check`: a broken file names the YAML path; a good one is tried against the sandbox."""
from __future__ import annotations

import asyncio
import sys

import pytest
from helpers import write_config


async def check(path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "check", "--config", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode, out.decode()


@pytest.fixture
async def stack(stack):
    stack.reddit.add_subreddit("acme")
    return stack


async def test_everything_usable_exits_0(stack, tmp_path) -> None:
    cfg = stack.config(brand="acme", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}", reddit=True)
    code, out = await check(write_config(tmp_path / "ok.yaml", cfg))
    assert code == 0, out
    for line in ("configuration is valid", "source x", "source reddit", "slack"):
        assert line in out


async def test_a_revoked_token_is_reported_and_exits_1(stack, tmp_path) -> None:
    cfg = stack.config(brand="acme", db_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    cfg["sources"][0]["bearer_token"] = "revoked-token"
    code, out = await check(write_config(tmp_path / "bad-token.yaml", cfg))
    assert code == 1
    assert "✗ source x: AuthError" in out
    assert "revoked-token" not in out  # a secret is never printed


async def test_a_broken_file_names_the_field_and_exits_2(tmp_path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("sources:\n  - type: x\n    bearer_token: t\n    handles: acme\n    interval: soon\n")
    code, out = await check(path)
    assert code == 2
    assert "sources[0].handles" in out and "sources[0].interval" in out
