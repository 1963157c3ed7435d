"""`outreach-monitor tickets [show|close]` and `replies list|approve|edit|skip`, through the real command."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import yaml
from typer.testing import CliRunner

from monitor.cli import _register_all, app
from monitor.ingest import AlertPolicy, ingest
from monitor.models import Author, Batch, Mention, Verdict
from monitor.storage.engine import create_engine
from monitor.storage.migrate import upgrade
from outreach.policy import ReplyConfig
from outreach.replies import Voice
from outreach.reply_templates import Templates


class Complaint:
    def classify(self, m: Mention, **_: object) -> Verdict:
        return Verdict("high", "delivery", True, True, -0.6, 70, 0.9)


async def _seed(url: str) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    voice = Voice(ReplyConfig(default="approve"), Templates(), brand="Acme")
    m = Mention(source="x", external_id="100", text="@acme where is my parcel", author=Author("1", "anna", "Anna"),
                created_at=datetime.now(UTC), conversation_id="100")
    await ingest(engine, Batch([m], []), source="x", triage=Complaint(), policy=AlertPolicy({}, voice=voice))
    await engine.dispose()


def test_tickets_and_replies_commands(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'care.db'}"
    asyncio.run(_seed(url))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"storage": {"url": url}}))
    _register_all()
    run = CliRunner().invoke

    listed = run(app, ["tickets", "--config", str(cfg)])
    assert listed.exit_code == 0 and "@anna" in listed.output and "open" in listed.output
    shown = run(app, ["tickets", "show", "1", "--config", str(cfg)])
    assert shown.exit_code == 0 and "Ticket #1" in shown.output and "reply 1 [held]" in shown.output
    assert run(app, ["tickets", "show", "9", "--config", str(cfg)]).exit_code == 1

    assert "held" in run(app, ["replies", "list", "--config", str(cfg)]).output
    edited = run(app, ["replies", "edit", "1", "--text", "@anna On it — sorry!", "--config", str(cfg)])
    assert edited.exit_code == 0 and "still waits" in edited.output
    first = run(app, ["replies", "approve", "1", "--config", str(cfg)])
    again = run(app, ["replies", "approve", "1", "--config", str(cfg)])
    assert first.exit_code == again.exit_code == 0 and "already approved" in again.output
    assert run(app, ["replies", "approve", "7", "--config", str(cfg)]).exit_code == 1

    closed = run(app, ["tickets", "close", "1", "--config", str(cfg)])
    assert closed.exit_code == 0 and "closed (was open)" in closed.output
    assert run(app, ["tickets", "close", "1", "--config", str(cfg)]).exit_code == 1
    assert "@anna" not in run(app, ["tickets", "--config", str(cfg)]).output  # closed: not live any more
    assert "@anna" in run(app, ["tickets", "--all", "--config", str(cfg)]).output
