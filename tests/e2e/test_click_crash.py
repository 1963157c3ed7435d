"""A teammate clicks Claim, and the daemon is killed (SIGKILL) between the click and its effect.

The daemon runs as a real subprocess with its bolt app on the sandbox's Socket Mode websocket. The
click is acked once the claim is committed; the `chat.update` that shows it hangs in the sandbox and
the daemon is killed while it is in flight. The restarted daemon finds the update in its outbox and
sends it: the alert shows the claim, the claim was made once, and the hung call changed nothing.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys

from helpers import wait_for, write_config
from sqlalchemy import select

from monitor.sandbox.core import Fault
from monitor.sandbox.stack import SandboxStack
from monitor.storage.engine import create_engine
from monitor.storage.schema import outbox, ticket_actions


async def _start(config_path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "--config", str(config_path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _card(stack: SandboxStack, channel: str, ts: str) -> str:
    msg = next(m for m in stack.slack.messages(channel) if m["ts"] == ts)
    return msg["blocks"][1]["elements"][0]["text"]


async def test_killed_between_the_click_and_the_message_update(tmp_path) -> None:
    stack = SandboxStack(slack_rate_per_channel=None)
    await stack.start()
    stack.x.add_user("acme", "Acme", followers=250_000, verified=True)
    stack.x.add_user("anna_k", "Anna", followers=900)
    stack.x.post("anna_k", "@acme I was charged twice for one order, please refund")
    db_url = f"sqlite:///{tmp_path / 'click.db'}"
    path = write_config(tmp_path / "click.yaml",
                        stack.config(brand="acme", db_url=db_url, x_interval=0.3, slack_min_interval=0))
    engine = create_engine(db_url)
    proc = await _start(path)
    try:
        await wait_for(stack, lambda: len(stack.slack.all_messages()) == 1 and stack.slack.socket.connected.is_set(),
                       timeout=30, what="the alert, and the cockpit connected")
        (alert,) = stack.slack.all_messages()
        stack.slack.faults.add("/api/chat.update", Fault("hang", delay=3.0))

        envelope = await stack.slack.socket.click("U0ANN", alert["channel"], alert["ts"], "mention_claim")
        assert envelope.acked  # acked only after the claim was committed
        await wait_for(stack, lambda: bool(stack.slack.recorder.matching("/api/chat.update")),
                       what="the chat.update in flight")
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        assert "Unclaimed" in _card(stack, alert["channel"], alert["ts"])  # the effect had not happened

        proc = await _start(path)
        await wait_for(stack, lambda: "Claimed by <@U0ANN>" in _card(stack, alert["channel"], alert["ts"]),
                       timeout=30, what="the restarted daemon updating the alert")
        async with engine.connect() as conn:
            claims = (await conn.execute(select(ticket_actions.c.by).where(ticket_actions.c.action == "claim"))).all()
            updates = (await conn.execute(select(outbox.c.status, outbox.c.attempts)
                                          .where(outbox.c.kind == "slack.update"))).all()
        assert [tuple(c) for c in claims] == [("U0ANN",)]
        assert [tuple(u) for u in updates] == [("sent", 2)]  # the killed attempt, then the one that landed
        assert stack.slack.updates == 1  # the hung call changed nothing; the retry did
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await engine.dispose()
        await stack.stop()
