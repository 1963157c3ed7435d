"""The digests' part of `outreach-monitor demo`: a sandbox SMTP server and a #marketing channel, a
weekly digest built when the scenario ends and sent through the daemon's outbox, and the report."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from monitor.digest.period import Period
from monitor.sandbox.smtp import SandboxSMTP
from monitor.storage.schema import digests, outbox

CHANNEL = "#marketing"
TO = "marketing@acme.example"


async def start_smtp() -> SandboxSMTP:
    smtp = SandboxSMTP()
    await smtp.start()
    return smtp


def configure(cfg: dict[str, Any], slack_world: Any, smtp: SandboxSMTP) -> None:
    """Point the demo's config at the sandbox for digests (Slack channel, SMTP, the pages listener)."""
    slack_world.add_channel(CHANNEL)
    cfg.setdefault("email", {"host": "127.0.0.1", "port": smtp.port, "security": "none",
                             "sender": "digests@acme.example"})
    cfg["digests"] = {"slack_channel": CHANNEL, "email": {"to": [TO]}, "pages": {"port": 0},
                      "schedules": []}  # the demo builds its digest when the scenario ends, not on a clock


async def send(daemon: Any) -> int:
    """The week up to now, built, stored and queued for Slack and e-mail; returns its id."""
    now = daemon.clock()
    period = Period(now - 7 * 86400, now, daemon.cfg.digests.tz)
    return await daemon.digests.send_now(period, key=f"demo:{int(now)}", schedule="demo")


async def report(engine: AsyncEngine, smtp: SandboxSMTP | None, slack_world: Any) -> dict[str, Any]:
    async with engine.connect() as conn:
        built = (await conn.execute(select(func.count()).select_from(digests))).scalar_one()
        sent = dict((await conn.execute(
            select(outbox.c.kind, func.count()).where(outbox.c.key.startswith("digest."), outbox.c.status == "sent")
            .group_by(outbox.c.kind))).all())
    return {
        "built": built,
        "slack": sum(1 for m in slack_world.messages(CHANNEL) if m.get("subtype") != "file_share"),
        "slack_charts": sum(1 for m in slack_world.messages(CHANNEL) if m.get("subtype") == "file_share"),
        "email": len(smtp.to(TO)) if smtp is not None else sent.get("email.digest", 0),
    }
