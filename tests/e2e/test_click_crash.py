"""A teammate clicks Claim, and the daemon is killed (SIGKILL) between the click and its effect.

The daemon runs as a real subprocess with its bolt app on the sandbox's Socket Mode websocket. The
click's database work is committed before the ack, and the message update goes through the outbox,
so there are two moments to kill it at — each one caught from inside the sandbox as it happens (no
race with the clock, whatever the machine's load):

- after the ack, with the `chat.update` that shows the claim in flight: the sandbox kills the daemon
  the instant that request arrives and drops it. The restarted daemon finds the update in its outbox
  and sends it.
- after the commit, before the ack reached Slack: the sandbox kills the daemon as its ack arrives and
  never takes it, so the clicker sees an error (as in Slack). The claim is in the database; the
  restarted daemon shows it on the alert, and the teammate clicking again does not claim twice.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from helpers import wait_for, write_config
from sqlalchemy import select

from monitor.sandbox.core import Fault, Recorded
from monitor.sandbox.daemon_process import DaemonProcess
from monitor.sandbox.slack_socket import Envelope
from monitor.sandbox.stack import SandboxStack
from monitor.storage.engine import create_engine
from monitor.storage.schema import outbox, ticket_actions

UPDATE = "/api/chat.update"
CLICK_ACK_TIMEOUT = 30.0  # this test is about what survives a kill, not about Slack's three seconds


def _card(stack: SandboxStack, channel: str, ts: str) -> str:
    msg = next(m for m in stack.slack.messages(channel) if m["ts"] == ts)
    return msg["blocks"][1]["elements"][0]["text"]


async def _ready(daemon: DaemonProcess) -> None:
    await daemon.start()
    await daemon.wait_event("cockpit.socket_mode_up")  # its buttons are live


async def _the_alert(stack: SandboxStack, daemon: DaemonProcess) -> dict:
    await _ready(daemon)
    await wait_for(stack, lambda: len(stack.slack.all_messages()) == 1, what="the alert")
    (alert,) = stack.slack.all_messages()
    return alert


async def _alerted(tmp_path: Path) -> tuple[SandboxStack, Path, str]:
    stack = SandboxStack(slack_rate_per_channel=None)
    await stack.start()
    stack.x.add_user("acme", "Acme", followers=250_000, verified=True)
    stack.x.add_user("anna_k", "Anna", followers=900)
    stack.x.post("anna_k", "@acme I was charged twice for one order, please refund")
    db_url = f"sqlite:///{tmp_path / 'click.db'}"
    path = write_config(tmp_path / "click.yaml",
                        stack.config(brand="acme", db_url=db_url, x_interval=0.3, slack_min_interval=0))
    return stack, path, db_url


async def _claims_and_updates(db_url: str) -> tuple[list[tuple], list[tuple]]:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            claims = (await conn.execute(select(ticket_actions.c.by).where(ticket_actions.c.action == "claim"))).all()
            updates = (await conn.execute(select(outbox.c.status, outbox.c.attempts)
                                          .where(outbox.c.kind == "slack.update"))).all()
    finally:
        await engine.dispose()
    return [tuple(c) for c in claims], [tuple(u) for u in updates]


async def _updates_settled(stack: SandboxStack, db_url: str) -> tuple[list[tuple], list[tuple]]:
    """Once Slack shows the claim, the daemon still has to record its update as sent (and an update
    queued for the alert in the same moment finds it done): wait for the outbox, not for Slack."""
    async def all_sent() -> bool:
        _, updates = await _claims_and_updates(db_url)
        return bool(updates) and all(status == "sent" for status, _ in updates)

    await wait_for(stack, all_sent, what="every message update recorded as sent")
    return await _claims_and_updates(db_url)


async def test_killed_between_the_click_and_the_message_update(tmp_path) -> None:
    stack, path, db_url = await _alerted(tmp_path)
    try:
        async with DaemonProcess(path, name="first life") as first:
            alert = await _the_alert(stack, first)

            def kill_on_update(rec: Recorded) -> None:
                if rec.path == UPDATE and first.running:
                    os.kill(first.pid, signal.SIGKILL)  # while Slack holds the call: it is in flight
            stack.slack.recorder.listen_received(kill_on_update)
            stack.slack.faults.add(UPDATE, Fault("drop"))  # and that call changes nothing

            envelope = await stack.slack.socket.click("U0ANN", alert["channel"], alert["ts"], "mention_claim",
                                                      timeout=CLICK_ACK_TIMEOUT)
            assert envelope.acked  # acked only after the claim was committed
            assert await first.proc.wait() == -signal.SIGKILL  # type: ignore[union-attr]
        assert "Unclaimed" in _card(stack, alert["channel"], alert["ts"])  # the effect had not happened

        async with DaemonProcess(path, name="second life") as second:
            await _ready(second)
            await wait_for(stack, lambda: "Claimed by <@U0ANN>" in _card(stack, alert["channel"], alert["ts"]),
                           what="the restarted daemon updating the alert")
            claims, updates = await _updates_settled(stack, db_url)
            assert claims == [("U0ANN",)]
            # the killed attempt, then the one that landed (and, if the alert's own row was not yet marked
            # sent when Anna clicked, its thread's update, which found this one and did nothing)
            assert ("sent", 2) in updates and all(u == ("sent", 2) or u[1] <= 1 for u in updates)
            assert stack.slack.updates == 1  # the dropped call changed nothing; the retry did
            assert await second.terminate(timeout=30) == 0
    finally:
        await stack.stop()


async def test_killed_after_the_claim_committed_but_before_its_ack(tmp_path) -> None:
    stack, path, db_url = await _alerted(tmp_path)
    try:
        async with DaemonProcess(path, name="first life") as first:
            alert = await _the_alert(stack, first)
            lift = stack.slack.faults.hold(UPDATE, Fault("drop"))  # whatever it sends after its ack is lost

            def kill_on_ack(envelope: Envelope) -> bool:
                if first.running:
                    os.kill(first.pid, signal.SIGKILL)
                return True  # the ack never reaches Slack
            stack.slack.socket.ack_hooks.append(kill_on_ack)

            with pytest.raises(ConnectionError):  # Slack tells the clicker it did not work
                await stack.slack.socket.click("U0ANN", alert["channel"], alert["ts"], "mention_claim",
                                               timeout=CLICK_ACK_TIMEOUT)
            assert await first.proc.wait() == -signal.SIGKILL  # type: ignore[union-attr]
            stack.slack.socket.ack_hooks.remove(kill_on_ack)
        claims, _ = await _claims_and_updates(db_url)
        assert claims == [("U0ANN",)]  # committed before the ack: the claim stands
        assert "Unclaimed" in _card(stack, alert["channel"], alert["ts"])

        async with DaemonProcess(path, name="second life") as second:
            await _ready(second)
            # the teammate, told it failed, clicks Claim again on the alert as it still looks (its update is
            # still held): told it is theirs already, nothing claimed twice
            again = await stack.slack.socket.click("U0ANN", alert["channel"], alert["ts"], "mention_claim",
                                                   timeout=CLICK_ACK_TIMEOUT)
            assert again.acked
            await wait_for(stack, lambda: any("already" in str(r) for r in stack.slack.socket.responses),
                           what="the clicker told it is already theirs")
            lift()
            await wait_for(stack, lambda: "Claimed by <@U0ANN>" in _card(stack, alert["channel"], alert["ts"]),
                           what="the restarted daemon showing the claim")
            claims, updates = await _updates_settled(stack, db_url)
            assert claims == [("U0ANN",)]
            assert await second.terminate(timeout=30) == 0
    finally:
        await stack.stop()
