"""A digest sent through the outbox over real wires: slack-sdk to the sandbox Slack (the summary,
then the chart uploaded with files_upload_v2 into its thread) and aiosmtplib to the sandbox SMTP
server (an HTML e-mail with the charts inline)."""
from __future__ import annotations

from html.parser import HTMLParser

from digest_rows import END, PARIS, START, store
from sqlalchemy import select

from alerts.slack_delivery import SlackDelivery, make_slack_client
from monitor.config import parse_config
from monitor.digest.period import Period
from monitor.digest.service import Digests, add_digest_handlers
from monitor.dispatcher import Dispatcher
from monitor.sandbox.clock import ManualClock
from monitor.sandbox.core import Server
from monitor.sandbox.slack_api import SlackWorkspace, make_slack_app
from monitor.sandbox.smtp import SandboxSMTP
from monitor.storage.schema import outbox

TOKEN = "xoxb-sandbox-token"


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []
        self.sections: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:  # type: ignore[no-untyped-def]
        a = dict(attrs)
        if tag == "img":
            self.srcs.append(a.get("src") or "")
        if tag == "section":
            self.sections.append(a.get("id") or "")


async def test_slack_post_with_chart_and_html_email(engine) -> None:
    await store(engine)
    ws = SlackWorkspace(token=TOKEN, channel_names=("marketing",), rate_per_channel=None)
    slack = Server(make_slack_app(ws))
    smtp = SandboxSMTP()
    api = await slack.start() + "/api/"
    await smtp.start()
    clock = ManualClock(END + 3600)
    try:
        cfg = parse_config({
            "brand": {"name": "Acme"},
            "slack": {"token": TOKEN, "api_base": api, "min_interval_per_channel": 0},
            "email": {"host": "127.0.0.1", "port": smtp.port, "security": "none", "sender": "care@acme.test"},
            "digests": {"timezone": "Europe/Paris", "slack_channel": "#marketing",
                        "email": {"to": ["marketing@acme.test"]}, "competitors": [{"name": "Globex"}],
                        "pages": {"public_url": "https://digests.acme.test"}},
        }, env={})
        handlers = {"slack.message": SlackDelivery(make_slack_client(TOKEN, api), min_interval=0)}
        add_digest_handlers(cfg, handlers)
        digests = Digests(cfg, engine, holder="h", clock=clock)
        digest_id = await digests.send_now(Period(START, END, PARIS), key="weekly:test", schedule="weekly")
        dispatcher = Dispatcher(engine, handlers, worker="w", clock=clock)
        for _ in range(10):
            await dispatcher.run_once()
            clock.advance(5)
        async with engine.connect() as conn:
            rows = dict((await conn.execute(select(outbox.c.key, outbox.c.status))).all())
    finally:
        await slack.stop()
        await smtp.stop()

    assert rows == {"digest.slack:weekly:test": "sent", "digest.slack_chart:weekly:test": "sent",
                    "digest.email:weekly:test:marketing@acme.test": "sent"}

    # Slack: the summary, then the chart in its thread, through the three-step upload
    summary, shared = ws.messages("#marketing")
    assert summary["blocks"][0]["text"]["text"] == "Acme — Weekly digest, 23 Nov – 29 Nov 2026"
    assert "5 mentions (+150% vs last week)" in summary["text"]
    assert f"https://digests.acme.test/digests/{digest_id}" in str(summary["blocks"])
    assert shared["subtype"] == "file_share" and shared["thread_ts"] == summary["ts"]
    paths = [r.path for r in ws.recorder.requests]
    assert paths.index("/api/files.getUploadURLExternal") < \
        next(i for i, p in enumerate(paths) if p.startswith("/upload/")) < paths.index("/api/files.completeUploadExternal")
    (uploaded,) = ws.files.values()
    assert uploaded["data"].startswith(b"\x89PNG") and uploaded["title"].endswith("mentions per day")

    # E-mail: received, HTML parses, every image is an inline part it names by cid
    (mail,) = smtp.to("marketing@acme.test")
    msg = mail.message
    assert msg["Subject"].startswith("Acme — Weekly digest, 23 Nov – 29 Nov 2026: 5 mentions (+150% vs last week)")
    assert msg["Message-ID"].endswith("@acme.test>")
    assert "## Volume" in msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    parser = _Images()
    parser.feed(html)
    assert parser.sections[:2] == ["volume", "sentiment"] and "coverage" in parser.sections
    cids = {p["Content-ID"].strip("<>") for p in msg.walk() if p.get_content_type() == "image/png"}
    assert sorted(s.removeprefix("cid:") for s in parser.srcs) == sorted(cids)
    assert cids == {"volume@digest", "categories@digest", "sentiment@digest", "share_of_voice@digest"}
    assert all(p.get_content().startswith(b"\x89PNG") for p in msg.walk() if p.get_content_type() == "image/png")
