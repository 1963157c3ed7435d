"""The outage again, with the daemon (a real subprocess) killed -9 at the worst moments and restarted:
the instant Slack receives the incident's first message (Slack answers 150 ms later: the row is left
in doubt), the instant the first e-mail is accepted, and the instant X receives the acknowledgement
of a customer complaining (X keeps it but answers late). Each subscriber must still get exactly one
first notice and one all-clear, the complainer one acknowledgement and one follow-up, the team one
thread, and the incident must end resolved."""
from __future__ import annotations

import os
import signal
from collections import Counter

import pytest
from helpers import write_config
from sqlalchemy import select

from monitor.sandbox.core import Fault, Recorded, Server
from monitor.sandbox.daemon_process import DaemonProcess
from monitor.sandbox.health_world import HealthWorld, make_health_app
from monitor.sandbox.smtp import SandboxSMTP
from monitor.storage.engine import create_engine
from monitor.storage.schema import incidents

pytestmark = pytest.mark.slow


async def test_outage_survives_kill_minus_nine(stack, tmp_path) -> None:
    from test_outage import outage_config

    world = HealthWorld(hook_secrets={"ops": "hook-secret"})
    server = Server(make_health_app(world))
    await server.start()
    world.url = server.url  # type: ignore[attr-defined]
    smtp = SandboxSMTP()
    await smtp.start()
    stack.watch(smtp)  # conditions below are re-checked on each e-mail, webhook and platform request
    stack.watch(world.recorder)
    stack.slack.add_channel("incidents")
    stack.slack.faults.add("/api/chat.postMessage", Fault("timeout", times=10**9, delay=0.15))
    db_url = f"sqlite:///{tmp_path / 'kill.db'}"
    cfg = outage_config(stack, world, smtp, db_url)
    cfg["logging"] = {"level": "info", "json": True}
    stack.x.add_user("acme", token="acme-brand-user-token")
    stack.x.add_user("carla", "Carla Diaz")
    cfg["sources"][0].update(interval=0.3, user_token="acme-brand-user-token")
    cfg["tickets"] = {"replies": {"categories": {"outage": "auto"}, "auto_allowed": ["outage"], "min_interval": 0}}
    brand = stack.x.user_by_username("acme")
    ours = lambda: [t for t in stack.x.tweets.values() if t.author_id == brand.id]  # noqa: E731
    tweeted: list[Recorded] = []
    path = write_config(tmp_path / "kill.yaml", cfg)
    log = tmp_path / "daemon.log"
    posted = lambda: len(stack.slack.recorder.matching("/api/chat.postMessage"))  # noqa: E731

    def collapsed() -> list[dict]:
        return [m for m in stack.slack.messages("#incidents")
                if "Mentions about incident #1" in m["text"] or "in this storm" in m["text"]]
    async def until(cond, what: str, d: DaemonProcess | None = None) -> None:  # type: ignore[no-untyped-def]
        """Re-checked on each request the sandbox servers answer; fails at once if the daemon `d` died."""
        await stack.wait_until(cond, timeout=60, what=what, alive=(lambda: d.running) if d else None)

    def emails() -> int:
        return len({m.message["Message-ID"] for m in smtp.messages})
    try:
        async with DaemonProcess(path, log_path=log, name="life-1") as d:
            await d.start()
            world.set_mode("checkout", "down")
            await until(lambda: posted() >= 1, "the incident's first Slack message", d)
            await d.kill()
        async with DaemonProcess(path, log_path=log, name="life-2") as d:
            await d.start()
            await until(lambda: len(smtp.messages) >= 1, "the first e-mail", d)
            await d.kill()
        async with DaemonProcess(path, log_path=log, name="life-3") as d:
            # X keeps the acknowledgement but answers late; the daemon dies the instant X receives it
            stack.x.faults.add("/2/tweets", Fault("timeout", times=1, delay=1.5))

            def kill_on_post(rec: Recorded) -> None:
                if rec.method == "POST" and rec.path == "/2/tweets" and d.running and not tweeted:
                    tweeted.append(rec)
                    os.kill(d.pid, signal.SIGKILL)

            stack.x.recorder.listen_received(kill_on_post)
            await d.start()
            complaint = stack.x.post("carla", "@acme checkout is down, I cannot pay for my order!")
            await until(lambda: bool(tweeted), "the acknowledgement reaching X")
            await d.reap()
        async with DaemonProcess(path, log_path=log, name="life-4") as d:
            await d.start()
            await until(lambda: emails() >= 2 and len(world.hooks) >= 1, "the first notice to everyone", d)
            await until(lambda: len(ours()) >= 1, "the acknowledgement kept by X", d)
            world.set_mode("checkout", "up")
            await until(lambda: emails() >= 4 and len(world.hooks) >= 2 and len(ours()) >= 2
                        and len(stack.slack.messages("#incidents")) - len(collapsed()) >= 4,
                        "the all-clear and the follow-up, and the team told of both in the thread", d)
            assert await d.terminate() == 0
    finally:
        await smtp.stop()
        await server.stop()

    # E-mail is at-least-once by nature (SMTP cannot be asked afterwards): a copy re-sent after a kill
    # carries the same Message-ID, which mail stores drop. Distinct notices: exactly one of each.
    for who in ("ana@example.net", "bo@example.net"):
        by_id = {m.message["Message-ID"]: m.message["Subject"] for m in smtp.to(who)}
        assert sorted(by_id.values()) == ["Checkout: we are investigating a problem",
                                          "Resolved: Checkout is working normally"], by_id
    copies = Counter(m.message["Message-ID"] for m in smtp.messages)
    assert all(n <= 2 for n in copies.values()), copies  # at most the one copy a kill can cause
    hooks = Counter(h.headers["Idempotency-Key"] for h in world.hooks)
    assert len(hooks) == 2
    (ack,) = [t for t in ours() if t.reply_to == complaint]
    (follow,) = [t for t in ours() if t.reply_to == ack.id]
    assert len(ours()) == 2 and "https://status.acme.test" in ack.text and "fixed" in follow.text
    slack = stack.slack.messages("#incidents")
    roots = [m for m in slack if m.get("thread_ts") in (None, m["ts"])]
    # the customer's complaint about the incident is collapsed into its thread (storm control): one
    # counter message there (and a summary, on a machine slow enough to pass summary_every_s)
    counters = [m["text"] for m in collapsed() if m["text"].startswith("Mentions about incident #1")]
    assert len(counters) == 1 and counters[0].endswith(": 1 mentions collapsed"), counters
    # one thread: the opening message never twice; in it the all-clear and the two replies' notes
    assert len(roots) == 1 and len(slack) - len(collapsed()) == 4, [m["text"] for m in slack]
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(select(incidents.c.status))).scalars().all() == ["resolved"]
    finally:
        await engine.dispose()
